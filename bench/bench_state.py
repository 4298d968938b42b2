"""State backends side by side: memory and sqlite, at 100, 1,000 and 10,000 containers.

For each size it prints the median time of one ``add_container`` (over the adds that
grew the store to that size), of listing every container, and of a lookup by a unique
id prefix and by name.  A lookup that does not grow with the size is an index, not a
scan.  Prints; asserts nothing.

    .venv/bin/python bench/bench_state.py [--sizes 100,1000,10000] [--lookups 300]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from pypod_core.plugin.state import State
from pypod_core.testing.state import ctr_record


def timed_ms(fn: Callable[[], Any]) -> float:
    """Wall time of one call of ``fn``, in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def make_memory(directory: str) -> State:
    from pypod_state_memory.store import MemoryState

    return MemoryState()


def make_sqlite(directory: str) -> State:
    from pypod_state_sqlite.store import SQLiteState

    return SQLiteState(os.path.join(directory, "db.sql"))


def measure(state: State, sizes: list[int], lookups: int) -> list[dict[str, float]]:
    """Grow ``state`` through ``sizes``; one row of medians per size."""
    rng = random.Random(1)
    ids: list[str] = []
    names: list[str] = []
    rows = []
    for size in sizes:
        adds = []
        while len(ids) < size:
            record = ctr_record(f"bench-{len(ids)}", labels={"app": "bench"},
                                command=("sleep", "1000"))
            adds.append(timed_ms(lambda r=record: state.add_container(r)))
            ids.append(record.config.id)
            names.append(record.config.name)
        list_all = [timed_ms(state.all_containers) for _ in range(3)]
        by_prefix = [timed_ms(lambda: state.lookup_container(rng.choice(ids)[:12]))
                     for _ in range(lookups)]
        by_name = [timed_ms(lambda: state.lookup_container(rng.choice(names)))
                   for _ in range(lookups)]
        rows.append({
            "size": size,
            "add_ms": statistics.median(adds),
            "add_total_s": sum(adds) / 1000,
            "list_ms": statistics.median(list_all),
            "prefix_us": statistics.median(by_prefix) * 1000,
            "name_us": statistics.median(by_name) * 1000,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'backend':<8} {'ctrs':>6} {'add (ms)':>9} {'adds (s)':>9} "
          f"{'list all (ms)':>14} {'by prefix (us)':>15} {'by name (us)':>13}")
    for label, make in (("memory", make_memory), ("sqlite", make_sqlite)):
        with tempfile.TemporaryDirectory(prefix="pypod-bench-state-") as directory:
            state = make(directory)
            try:
                for row in measure(state, sizes, args.lookups):
                    print(f"{label:<8} {row['size']:>6} {row['add_ms']:>9.3f} "
                          f"{row['add_total_s']:>9.2f} {row['list_ms']:>14.1f} "
                          f"{row['prefix_us']:>15.1f} {row['name_us']:>13.1f}", flush=True)
            finally:
                state.close()
    print("add: median of the adds that grew the store to the size; adds: their total; "
          "list and lookups: medians")


if __name__ == "__main__":
    main()
