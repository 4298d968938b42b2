"""Secrets, side by side: ``secret create`` x N, ``secret ls`` and ``secret inspect``
with N secrets, ``secret rm -a`` of N, for pypod and Debian's podman (its own
containers.conf and a private --root, as bench_run's).  Prints medians and the ratio
pypod/podman; asserts nothing.

    .venv/bin/python bench/bench_secrets.py [--secrets 50] [--ls-runs 10] [--pypod-only]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=50)
    parser.add_argument("--ls-runs", type=int, default=10)
    parser.add_argument("--pypod-only", action="store_true",
                        help="without podman (where it is not installed)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="pypod-bench-secrets-")
    data = os.path.join(tmp, "data")
    with open(data, "wb") as f:
        f.write(os.urandom(4096))
    tools = {"pypod": ([PYPOD, "--root", f"{tmp}/pypod/root", "--runroot",
                        f"{tmp}/pypod/run"], pypod_env())}
    if not args.pypod_only:
        if not shutil.which("podman"):
            raise SystemExit("podman is not installed (scripts/setup.sh)")
        tools["podman"] = (["podman", "--root", f"{tmp}/podman/root", "--runroot",
                            f"{tmp}/podman/run"], podman_env(tmp))
    try:
        for tool, env in tools.values():  # warm up: stores made, bytecode, page cache
            timed([*tool, "secret", "create", "warm-up", data], env)
            timed([*tool, "secret", "rm", "warm-up"], env)
        creates: dict[str, list[float]] = {name: [] for name in tools}
        for i in range(args.secrets):
            for name, (tool, env) in tools.items():
                creates[name].append(timed([*tool, "secret", "create", f"s{i}", data], env))
        lists: dict[str, list[float]] = {name: [] for name in tools}
        inspects: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.ls_runs):
            for name, (tool, env) in tools.items():
                lists[name].append(timed([*tool, "secret", "ls"], env))
                inspects[name].append(timed([*tool, "secret", "inspect", "s0"], env))
        removals = {name: timed([*tool, "secret", "rm", "-a"], env)
                    for name, (tool, env) in tools.items()}
        n = args.secrets
        rows = [(f"secret create x{n} (total)", {k: sum(v) for k, v in creates.items()}),
                ("secret create, each (median)", {k: median(v) for k, v in creates.items()}),
                (f"secret ls ({n} secrets)", {k: median(v) for k, v in lists.items()}),
                (f"secret inspect ({n} secrets)", {k: median(v) for k, v in inspects.items()}),
                (f"secret rm -a ({n})", removals)]
        print_ratio_table(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
