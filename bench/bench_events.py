"""The events log: how long appending an event takes (what every create, start, exit
and remove now pays), how fast ``runtime.events`` reads a large log back, filtered or
not, and ``pypod events --stream=false`` end to end.  Prints; asserts nothing.

    .venv/bin/python bench/bench_events.py [--events 20000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
PYPOD = os.path.join(os.path.dirname(sys.executable), "pypod")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    count = parser.parse_args().events
    from pypod_core.engine.events import Event, now_ns, write_event
    from pypod_core.engine.runtime import new_runtime

    tmp = tempfile.mkdtemp(prefix="bench-events-")
    try:
        runtime = new_runtime(config_path=os.devnull, graph_root=f"{tmp}/root",
                              run_root=f"{tmp}/run", state_type="memory", netns="none")
        start = time.perf_counter()
        for i in range(count):
            write_event(runtime.config, Event(
                type="container", status=("create", "start", "died", "remove")[i % 4],
                time_ns=now_ns(), id=f"{i:064x}", name=f"c{i % 100}", image="busybox",
                attributes={"team": "a"}))
        write = time.perf_counter() - start
        print(f"append: {count} events in {write:.2f}s, {write / count * 1e6:.0f} us each")
        for label, filters in (("all", []), ("container=c7", ["container=c7"]),
                               ("event=died", ["event=died"])):
            start = time.perf_counter()
            n = sum(1 for _ in runtime.events(stream=False, filters=filters))
            took = time.perf_counter() - start
            print(f"read {label}: {n} events in {took:.2f}s "
                  f"({count / took:.0f} lines/s)")
        runtime.shutdown()
        start = time.perf_counter()
        proc = subprocess.run([PYPOD, "--root", f"{tmp}/root", "--runroot", f"{tmp}/run",
                               "events", "--stream=false"], capture_output=True)
        took = time.perf_counter() - start
        lines = len(proc.stdout.splitlines())
        print(f"pypod events --stream=false: {lines} lines in {took:.2f}s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
