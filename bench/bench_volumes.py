"""Volumes, side by side: ``volume create`` x N, ``volume ls`` with N volumes and
``volume rm -a`` of N, for pypod and Debian's podman (its own containers.conf and a
private --root, as bench_run's).  Prints medians and the ratio pypod/podman; asserts
nothing.

    .venv/bin/python bench/bench_volumes.py [--volumes 100] [--ls-runs 10]

The two tools take turns (one create each, one ls each), so a machine busy with
something else slows them alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_run import PYPOD, median, podman_env, print_ratio_table, pypod_env, timed  # noqa: E402


def in_process(tmp: str, count: int, ls_runs: int) -> list[tuple[str, dict[str, float]]]:
    """What the engine itself costs, without a process per command: create_volume
    (median of ``count``) and volumes() with ``count`` volumes."""
    import time

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pypod_core.engine.runtime import new_runtime

    rt = new_runtime(config_path=os.devnull, graph_root=f"{tmp}/inproc/root",
                     run_root=f"{tmp}/inproc/run", netns="none")
    try:
        creates = []
        for i in range(count):
            start = time.perf_counter()
            rt.create_volume(f"vol{i}")
            creates.append((time.perf_counter() - start) * 1000)
        lists = []
        for _ in range(ls_runs):
            start = time.perf_counter()
            rt.volumes()
            lists.append((time.perf_counter() - start) * 1000)
    finally:
        rt.shutdown()
    return [("in-process create_volume, each", {"pypod": median(creates)}),
            (f"in-process volumes() ({count})", {"pypod": median(lists)})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=100)
    parser.add_argument("--ls-runs", type=int, default=10)
    parser.add_argument("--pypod-only", action="store_true",
                        help="without podman (where it is not installed)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="pypod-bench-volumes-")
    tools = {"pypod": ([PYPOD, "--root", f"{tmp}/pypod/root", "--runroot",
                        f"{tmp}/pypod/run"], pypod_env())}
    if not args.pypod_only:
        if not shutil.which("podman"):
            raise SystemExit("podman is not installed (scripts/setup.sh --bench)")
        tools["podman"] = (["podman", "--root", f"{tmp}/podman/root", "--runroot",
                            f"{tmp}/podman/run"], podman_env(tmp))
    try:
        for tool, env in tools.values():  # warm up: stores made, bytecode, page cache
            timed([*tool, "volume", "create", "warm-up"], env)
            timed([*tool, "volume", "rm", "warm-up"], env)
        creates: dict[str, list[float]] = {name: [] for name in tools}
        for i in range(args.volumes):
            for name, (tool, env) in tools.items():
                creates[name].append(timed([*tool, "volume", "create", f"vol{i}"], env))
        lists: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.ls_runs):
            for name, (tool, env) in tools.items():
                lists[name].append(timed([*tool, "volume", "ls"], env))
        removals = {name: timed([*tool, "volume", "rm", "-a"], env)
                    for name, (tool, env) in tools.items()}
        n = args.volumes
        rows = [(f"volume create x{n} (total)", {k: sum(v) for k, v in creates.items()}),
                ("volume create, each (median)", {k: median(v) for k, v in creates.items()}),
                (f"volume ls ({n} volumes)", {k: median(v) for k, v in lists.items()}),
                (f"volume rm -a ({n})", removals)]
        rows += in_process(tmp, n, args.ls_runs)
        print_ratio_table(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
