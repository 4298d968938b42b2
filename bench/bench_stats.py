"""``stats``: what one sample costs, with 1 and with N running containers (``sleep``,
runc, loopback only) in a store of the bench's own: the whole ``pypod stats
--no-stream`` process, and one in-process sample of every container
(``container_stats``: the cgroup files and /proc/PID/net/dev).  Prints medians (ms);
asserts nothing.

    .venv/bin/python bench/bench_stats.py [--runs 9] [--containers 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")


def _pypod(config: str, *args: str) -> str:
    proc = subprocess.run([PYPOD, "--config", config, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: pypod {' '.join(args)}\n{proc.stderr}")
    return proc.stdout


def _ms(action: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _row(config: str, count: int, runs: int) -> tuple[float, float]:
    """Median ms of the command and of one in-process sample of every container."""
    from pypod_core.engine.runtime import new_runtime_from_config
    from pypod_core.engine.stats import container_stats
    from pypod_core.host import cgroupfs

    command = _ms(lambda: _pypod(config, "stats", "--no-stream"), runs)
    runtime = new_runtime_from_config(config)
    try:
        ctrs = runtime.containers(all=False)
        assert len(ctrs) == count, (len(ctrs), count)
        where = cgroupfs.hierarchies()
        sample = _ms(lambda: [container_stats(c, None, where) for c in ctrs], runs)
    finally:
        runtime.shutdown()
    return command, sample


def _wait_for_exit_commands(config: str, timeout: float = 10) -> None:
    """Wait for the containers' exit commands (``pypod --config CONFIG container
    cleanup``), which would make the store's files again after it is removed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    busy = busy or config.encode() in f.read()
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.1)


def main() -> None:
    """Start the containers, time the samples, print the table, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--containers", type=int, default=10)
    args = parser.parse_args()
    from pypod_core.host.rootfs import make_busybox_rootfs

    # ignore_cleanup_errors: the run root keeps what conmon left behind it
    with tempfile.TemporaryDirectory(prefix="bench-stats-", ignore_cleanup_errors=True) as tmp:
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        config = os.path.join(tmp, "pypod.conf")
        with open(config, "w") as f:
            f.write(f'graph_root = "{tmp}/root"\nrun_root = "{tmp}/run"\n'
                    f'cni_config_dir = "{tmp}/cni"\nnetns = "none"\n')
        try:
            print(f"{'containers':>10}  {'stats --no-stream (ms)':>22}  "
                  f"{'one sample of all (ms)':>22}")
            started = 0
            for count in sorted({1, args.containers}):
                while started < count:
                    _pypod(config, "run", "-d", "--rootfs", rootfs, "sleep", "1000")
                    started += 1
                command, sample = _row(config, count, args.runs)
                print(f"{count:>10}  {command:>22.1f}  {sample:>22.2f}")
        finally:
            _pypod(config, "rm", "-a", "-f", "-t", "0")
            _wait_for_exit_commands(config)


if __name__ == "__main__":
    main()
