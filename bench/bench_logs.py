"""``pypod logs`` on a big log: peak memory (max RSS) and wall time of the whole
process, for the whole log and for ``--tail 1``, with a log of full lines and a log
of one line without a newline (what ``head -c N /dev/zero | tr '\\0' a`` makes).

The logs are written straight into a created container's k8s-file log, in conmon's
format (partial records of 8 KiB, as conmon's buffer cuts them), so that the figures
do not depend on how fast conmon copies output.  Prints; asserts nothing (except that
every byte came out).

    .venv/bin/python bench/bench_logs.py [--mb 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PYPOD = os.path.join(os.path.dirname(sys.executable), "pypod")
#: conmon's read buffer: a longer line comes out as partial records of this size.
RECORD = 8192
STAMP = b"2024-01-01T00:00:00.000000000+00:00"


def write_log(path: str, size: int, newlines: bool) -> int:
    """A k8s-file log of ``size`` bytes of output; the bytes ``logs`` must print."""
    if newlines:
        line = b"a" * 99
        record = STAMP + b" stdout F " + line + b"\n"
        count = size // (len(line) + 1)
        block = record * 1000
        with open(path, "wb") as f:
            for _ in range(count // 1000):
                f.write(block)
            f.write(record * (count % 1000))
        return count * (len(line) + 1)
    chunk = STAMP + b" stdout P " + b"a" * RECORD + b"\n"
    count = size // RECORD
    with open(path, "wb") as f:
        for _ in range(count):
            f.write(chunk)
    return count * RECORD


def measure(argv: list[str]) -> tuple[int, float, float, float]:
    """Run ``argv``; (bytes it printed on stdout, its max RSS in MB, wall seconds, CPU
    seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    printed = 0
    while chunk := proc.stdout.read(1 << 20):
        printed += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit code {proc.returncode}")
    return printed, usage.ru_maxrss / 1024, seconds, usage.ru_utime + usage.ru_stime


def setup(directory: str) -> tuple[list[str], Any]:
    """A config under ``directory``, a rootfs, and a created container; (the pypod
    command with its --config, the container)."""
    import tomli_w

    from pypod_core.engine.runtime import new_runtime
    from pypod_core.host.rootfs import make_busybox_rootfs

    options = {"graph_root": f"{directory}/root", "run_root": f"{directory}/run",
               "cni_config_dir": f"{directory}/cni", "netns": "none"}
    config = f"{directory}/pypod.conf"
    with open(config, "w") as f:
        f.write(tomli_w.dumps(options))
    rootfs = make_busybox_rootfs(f"{directory}/rootfs")
    runtime = new_runtime(config_path=config)
    ctr = runtime.create_container(rootfs, ["true"], name="big")
    return [PYPOD, "--config", config], (runtime, ctr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="output size in MB")
    args = parser.parse_args()
    size = args.mb * 1000 * 1000
    directory = tempfile.mkdtemp(prefix="pypod-bench-logs-")
    try:
        pypod, (runtime, ctr) = setup(directory)
        os.makedirs(os.path.dirname(ctr.log_path), exist_ok=True)
        print(f"{'log':<22} {'command':<16} {'printed MB':>10} {'max RSS MB':>11} "
              f"{'seconds':>8} {'CPU s':>6}")
        for label, newlines in (("full lines", True), ("one line, no newline", False)):
            expected = write_log(ctr.log_path, size, newlines)
            log_mb = os.path.getsize(ctr.log_path) / 1e6
            for command in (["logs"], ["logs", "--tail", "1"]):
                printed, rss, seconds, cpu = measure([*pypod, *command, "big"])
                if command == ["logs"] and printed != expected:
                    print(f"  ({label}: printed {printed} of {expected} bytes)")
                print(f"{label:<22} {' '.join(command):<16} {printed / 1e6:>10.1f} "
                      f"{rss:>11.1f} {seconds:>8.2f} {cpu:>6.2f}   (log file {log_mb:.0f} MB)")
        runtime.remove_container(ctr, force=True)
        runtime.shutdown(force=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
