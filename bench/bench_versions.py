"""Two builds of pypod side by side: this checkout's ``pypod`` and another's (an older
commit's checkout with its own venv), on ``info``, ``ps -a`` with a few containers and
``run --rm --network none true``.  The two take turns within each round, so a busy
machine slows both alike.  Prints medians and the ratio new/old; asserts nothing.
``--instructions`` counts instead the instructions the ``pypod`` process itself runs
(valgrind's callgrind, children not followed), which a busy machine does not change.

    .venv/bin/python bench/bench_versions.py --baseline /path/to/old/.venv/bin/pypod \
        [--runs 15] [--instructions]

Make a baseline with ``git worktree add /tmp/old COMMIT && sh /tmp/old/scripts/setup.sh``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")
ROOTFS = os.path.join(REPO, ".cache", "rootfs")
#: Containers in each store while ``ps -a`` is timed.
CONTAINERS = 5


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall milliseconds of one run of ``argv`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return (time.perf_counter() - start) * 1000


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions run by the process ``argv`` starts (not its children)."""
    err = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          *argv], check=True, capture_output=True, env=env, text=True).stderr
    match = re.search(r"Collected : (\d+)", err)
    assert match, err
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True, help="the other build's pypod")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind (one run each) instead")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    tmp = tempfile.mkdtemp(prefix="pypod-versions-")
    builds = {"this": PYPOD, "baseline": args.baseline}
    try:
        flags = {name: [exe, "--config", os.devnull, "--root", f"{tmp}/{name}/root",
                        "--runroot", f"{tmp}/{name}/run"] for name, exe in builds.items()}
        for base in flags.values():
            for _ in range(CONTAINERS):
                subprocess.run([*base, "create", "--network", "none", "--rootfs", ROOTFS,
                                "true"], check=True, capture_output=True, env=env)
        commands = {"info": ["info"], f"ps -a ({CONTAINERS})": ["ps", "-a"],
                    "run --rm --network none true": ["run", "--rm", "--network", "none",
                                                     "--rootfs", ROOTFS, "true"]}
        if args.instructions:
            print("pypod, this checkout vs baseline: instructions of the pypod process "
                  "(millions)")
            for label, argv in commands.items():
                counts = {}
                for name, base in flags.items():
                    timed([*base, *argv], env)  # warm: bytecode caches, the store
                    counts[name] = instructions([*base, *argv], env) / 1e6
                print(f"  {label:<32} {counts['this']:8.1f} {counts['baseline']:9.1f} "
                      f"{counts['this'] / counts['baseline']:7.2f}")
            return
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for label, argv in commands.items():
                for name, base in flags.items():
                    times.setdefault((label, name), []).append(timed([*base, *argv], env))
                    time.sleep(0.1)  # let exit commands of the run end
        print(f"pypod, this checkout vs baseline, median of {args.runs} runs (ms)")
        print(f"  {'command':<32} {'this':>8} {'baseline':>9} {'ratio':>7}")
        for label in commands:
            new = statistics.median(times[(label, "this")])
            old = statistics.median(times[(label, "baseline")])
            print(f"  {label:<32} {new:8.1f} {old:9.1f} {new / old:7.2f}")
    finally:
        for base in flags.values():
            subprocess.run([*base, "rm", "-f", "-a"], capture_output=True, env=env)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
