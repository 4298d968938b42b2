"""Attached sessions: how fast ``run -i`` carries data through conmon's attach socket
(in and out at once), and how long a typed key takes to come back as its echo through
``run -it`` (user -> pypod -> conmon -> the container's terminal -> back), with podman
beside pypod when it is installed.  Prints; asserts nothing (except that every byte
came back).

    .venv/bin/python bench/bench_attach.py [--mb 64] [--keys 200] [--pypod-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
PYPOD = os.path.join(os.path.dirname(sys.executable), "pypod")


def tools(tmp: str, podman: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The commands to compare: pypod, and podman if it is installed (and wanted)."""
    found = {"pypod": ([PYPOD, "--root", f"{tmp}/pypod/root", "--runroot",
                        f"{tmp}/pypod/run"], dict(os.environ))}
    if podman and shutil.which("podman"):
        from bench_run import podman_env

        found["podman"] = (["podman", "--root", f"{tmp}/podman/root", "--runroot",
                            f"{tmp}/podman/run"], podman_env(tmp))
    return found


def throughput(tool: list[str], env: dict[str, str], rootfs: str, data: bytes) -> float:
    """MB/s of ``run -i cat``: the data in through stdin and back out on stdout."""
    start = time.perf_counter()
    proc = subprocess.run([*tool, "run", "--rm", "-i", "--network", "none", "--rootfs",
                           rootfs, "cat"], input=data, capture_output=True, env=env,
                          timeout=600)
    seconds = time.perf_counter() - start
    if hashlib.sha256(proc.stdout).digest() != hashlib.sha256(data).digest():
        raise SystemExit(f"{tool[0]}: {len(proc.stdout)} of {len(data)} bytes came back: "
                         f"{proc.stderr[-300:]!r}")
    return len(data) / 1e6 / seconds


def echo_latency(tool: list[str], env: dict[str, str], rootfs: str, keys: int) -> float:
    """Median ms from a typed key to its echo on the screen, ``run -it ... cat``."""
    from pypod_core.testing.terminal import PtySession

    with PtySession([*tool, "run", "--rm", "-it", "--network", "none", "--rootfs",
                     rootfs, "sh", "-c", "echo ready; exec cat"], env=env) as session:
        session.expect(rb"ready\r\n")
        times = []
        for i in range(keys):
            key = "abcdefghijklmnopqrstuvwxyz"[i % 26]
            start = time.perf_counter()
            session.send(key)
            session.expect(key)
            times.append((time.perf_counter() - start) * 1000)
        session.send(b"\r\x04")  # ctrl-d at a line's start: the end of cat's input
        session.wait()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=64, help="data through run -i")
    parser.add_argument("--keys", type=int, default=200, help="keys typed through run -it")
    parser.add_argument("--pypod-only", action="store_true", help="no podman beside it")
    args = parser.parse_args()
    from pypod_core.host.rootfs import make_busybox_rootfs

    tmp = tempfile.mkdtemp(prefix="pypod-bench-attach-")
    try:
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        data = os.urandom(args.mb * 1024 * 1024)
        print(f"{'':8} {'run -i cat, MB/s':>18} {'key echo, ms':>14}")
        for name, (tool, env) in tools(tmp, not args.pypod_only).items():
            throughput(tool, env, rootfs, data[:1 << 20])  # warm up
            rate = throughput(tool, env, rootfs, data)
            latency = echo_latency(tool, env, rootfs, args.keys)
            print(f"{name:8} {rate:18.1f} {latency:14.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
