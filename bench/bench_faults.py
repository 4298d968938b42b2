"""``kill`` during a ``stop -t 30``: how long the kill takes, for pypod and Debian's
podman side by side, on a container that ignores SIGTERM (busybox ``sleep`` as pid 1),
so that the stop waits out its whole timeout unless the kill cuts it short.  Prints the
median of the runs in ms; asserts nothing.

    .venv/bin/python bench/bench_faults.py [--runs 5] [--no-podman]

Each run: start the container, start ``stop -t 30`` in the background, wait until
``inspect`` shows the container ``stopping``, then time ``kill``; the stop then ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.bench_run import PYPOD, SETTLE, median, podman_env, pypod_env  # noqa: E402
from pypod_core.host.rootfs import make_busybox_rootfs  # noqa: E402

#: The stop timeout the kill must not wait out.
STOP_TIMEOUT = 30


def status(tool: list[str], env: dict[str, str], name: str) -> str:
    """The container's state as ``ps -a`` shows it (``inspect`` of an older pypod waited
    for the lock a stop held)."""
    out = subprocess.run([*tool, "ps", "-a", "--format", "json"], env=env,
                         capture_output=True, text=True)
    found = [c for c in json.loads(out.stdout or "[]") if name in c["Names"]]
    return str(found[0]["State"]) if found else ""


def kill_during_stop(tool: list[str], env: dict[str, str], rootfs: str, runs: int
                     ) -> list[float]:
    """ms of each ``kill`` while a ``stop -t 30`` of the container is under way."""
    name = "bench-stubborn"
    subprocess.run([*tool, "run", "-d", "--name", name, "--network", "none", "--rootfs",
                    rootfs, "sleep", "1000"], env=env, check=True, capture_output=True)
    times = []
    try:
        for run in range(runs):
            if run:
                subprocess.run([*tool, "start", name], env=env, check=True,
                               capture_output=True)
            stop = subprocess.Popen([*tool, "stop", "-t", str(STOP_TIMEOUT), name], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + STOP_TIMEOUT
            while status(tool, env, name) != "stopping" and time.monotonic() < deadline:
                time.sleep(0.02)
            start = time.perf_counter()
            subprocess.run([*tool, "kill", name], env=env, capture_output=True)
            times.append((time.perf_counter() - start) * 1000)
            stop.wait(timeout=STOP_TIMEOUT + 30)
            time.sleep(SETTLE)
    finally:
        subprocess.run([*tool, "rm", "-f", "-t", "0", name], env=env, capture_output=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-podman", action="store_true")
    parser.add_argument("--pypod", default=PYPOD, help="the pypod command to time")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-faults-")
    try:
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        runners = {"pypod": ([args.pypod, "--root", f"{tmp}/pypod/root", "--runroot",
                              f"{tmp}/pypod/run"], pypod_env())}
        if not args.no_podman and shutil.which("podman"):
            runners["podman"] = (["podman", "--root", f"{tmp}/podman/root", "--runroot",
                                  f"{tmp}/podman/run"], podman_env(tmp))
        print(f"kill during stop -t {STOP_TIMEOUT}, median of {args.runs} (ms):")
        for label, (tool, env) in runners.items():
            times = kill_during_stop(tool, env, rootfs, args.runs)
            print(f"  {label:8s} {median(times):8.0f}   "
                  f"({' '.join(f'{t:.0f}' for t in times)})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
