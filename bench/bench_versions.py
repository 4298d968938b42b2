"""Two builds of pypod side by side: this checkout's ``pypod`` and another's (an older
commit's checkout with its own venv), on ``info``, ``ps -a`` with a few containers and
``run --rm --network none true``.  The two take turns within each round, so a busy
machine slows both alike.  Prints medians and the ratio new/old; asserts nothing.
``--instructions`` counts instead the instructions the ``pypod`` process itself runs
(valgrind's callgrind, children not followed), which a busy machine does not change, on
every command with an own-time target (``bench/bench_commands.py``) and on the floor
``python -c "import pluggy, attrs"``.

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
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")
PYTHON = os.path.join(REPO, ".venv", "bin", "python")
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


def count_instructions(flags: dict[str, list[str]], env: dict[str, str]) -> None:
    """Print the instructions (millions) of each build's process on each command."""
    net = ["--network", "none", "--rootfs", ROOTFS]
    for base in flags.values():
        run_ok([*base, "create", "--name", "probe", *net, "true"], env)
        run_ok([*base, "run", "--name", "exited", *net, "true"], env)
    # Each entry gives the argv to count, made afresh where the command consumes it.
    commands: dict[str, Callable[[list[str]], list[str]]] = {
        "floor: import pluggy, attrs": lambda base: [PYTHON, "-c", "import pluggy, attrs"],
        f"ps -a ({CONTAINERS + 2})": lambda base: [*base, "ps", "-a"],
        "inspect NAME": lambda base: [*base, "inspect", "probe"],
        "info": lambda base: [*base, "info"],
        "create --network none": lambda base: [*base, "create", *net, "true"],
        "rm": lambda base: [*base, "rm", run_ok([*base, "create", *net, "true"], env)],
        "stop (exited)": lambda base: [*base, "stop", "exited"],
        "images": lambda base: [*base, "images"],
        "run --rm --network none true": lambda base: [*base, "run", "--rm", *net, "true"],
    }
    print("pypod, this checkout vs baseline: instructions of the pypod process (millions)")
    print(f"  {'command':<32} {'this':>8} {'baseline':>9} {'ratio':>7}")
    for label, make in commands.items():
        counts = {}
        for name, base in flags.items():
            run_ok(make(base), env)  # warm: bytecode caches, the store
            counts[name] = instructions(make(base), env) / 1e6
        print(f"  {label:<32} {counts['this']:8.1f} {counts['baseline']:9.1f} "
              f"{counts['this'] / counts['baseline']:7.2f}")


def run_ok(argv: list[str], env: dict[str, str]) -> str:
    """Run ``argv`` (which must succeed); its stdout, stripped."""
    return subprocess.run(argv, check=True, capture_output=True, env=env,
                          text=True).stdout.strip()


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
            count_instructions(flags, env)
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
