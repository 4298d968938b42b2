"""Running containers, side by side on one busybox rootfs: bare ``runc run``, Debian's
``podman run --rm`` (runc, its own containers.conf and storage) and ``pypod run --rm``;
then ``create`` x N, ``ps -a`` with N containers and ``rm -a`` of N, for pypod and
podman; and two floors no pypod can go under: runc's split life (create, start, delete,
as any tool with a monitor runs it) and a Python process that imported pluggy and attrs.
Prints medians and the ratios pypod/podman and pypod/runc; asserts nothing.

    .venv/bin/python bench/bench_run.py [--runs 20] [--containers 100] [--crun]

The three runners take turns within each round, so a machine busy with something else
slows them alike.  pypod runs with bytecode caching allowed (as an installed package),
whatever ``PYTHONDONTWRITEBYTECODE`` says.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")

Command = Callable[[], Sequence[str]]
#: Seconds between two timed runs, for the work each tool leaves behind to end.
SETTLE = 0.3


def timed(argv: Sequence[str], env: dict[str, str]) -> float:
    """Run ``argv`` (output dropped); its wall time in ms; fail loudly if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode()}")
    return elapsed


def runc_bundle(tmp: str, rootfs: str) -> str:
    """A bundle for ``runc run``: ``runc spec``'s defaults (a new network namespace with
    loopback, as ``--network none``), the rootfs read-only, command ``true``."""
    bundle = os.path.join(tmp, "bundle")
    os.makedirs(bundle)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["root"] = {"path": rootfs, "readonly": True}
    spec["process"].update(terminal=False, args=["true"])
    with open(path, "w") as f:
        json.dump(spec, f)
    return bundle


def podman_env(tmp: str) -> dict[str, str]:
    """podman with its own containers.conf: runc, default ulimits within the host's
    hard limits (podman's defaults exceed them on hosts without CAP_SYS_RESOURCE).
    nproc is kept at or below 32768: above that, Debian's podman 4.3 fails on this
    kind of host ("error setting rlimit type 6: operation not permitted")."""
    nofile = min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    conf = os.path.join(tmp, "containers.conf")
    with open(conf, "w") as f:
        f.write(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", '
                f'"nproc={nproc}:{nproc}"]\n[engine]\nruntime = "runc"\n')
    return {**os.environ, "CONTAINERS_CONF": conf}


def pypod_env() -> dict[str, str]:
    """Our environment, bytecode writing allowed (as for an installed package)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env


def median(values: list[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def bench_run(runs: int, rootfs: str, tmp: str, crun: bool) -> dict[str, float]:
    """Median ms of one container running ``true``, for each runner."""
    bundle = runc_bundle(tmp, rootfs)
    p_env, y_env = podman_env(tmp), pypod_env()
    podman = ["podman", "--root", f"{tmp}/podman/root", "--runroot", f"{tmp}/podman/run"]
    pypod = [PYPOD, "--root", f"{tmp}/pypod/root", "--runroot", f"{tmp}/pypod/run"]
    runners: dict[str, tuple[Command, dict[str, str]]] = {
        "runc run": (lambda: ["runc", "--root", f"{tmp}/runc", "run", "-b", bundle,
                              f"bench-{time.monotonic_ns()}"], dict(os.environ)),
        "podman run --rm": (lambda: [*podman, "run", "--rm", "--network", "none",
                                     "--rootfs", rootfs, "true"], p_env),
        "pypod run --rm": (lambda: [*pypod, "run", "--rm", "--network", "none",
                                    "--rootfs", rootfs, "true"], y_env),
    }
    # The floors under any pypod: the OCI runtime's split life (create, start, delete:
    # what a tool with a monitor runs, podman included) and a Python process that has
    # imported the two libraries pypod's design requires.
    runc = f"runc --root {tmp}/runc-split"
    split = (f"I=bench-$$; {runc} create -b {bundle} $I && {runc} start $I"
             f" && {runc} delete --force $I")
    runners["floor: runc create+start+delete"] = (lambda: ["sh", "-c", split],
                                                  dict(os.environ))
    runners["floor: python, pluggy, attrs"] = (
        lambda: [os.path.join(REPO, ".venv", "bin", "python"), "-c", "import pluggy, attrs"],
        y_env)
    if crun:
        runners["pypod run --rm (crun)"] = (
            lambda: [*pypod, "--runtime", "crun", "run", "--rm", "--network", "none",
                     "--rootfs", rootfs, "true"], y_env)
    for make, env in runners.values():  # warm up: stores, bytecode, page cache
        timed(make(), env)
        timed(make(), env)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, (make, env) in runners.items():
            times[name].append(timed(make(), env))
            # Both tools leave work behind them (conmon's exit command, podman's
            # `container cleanup`): let it end rather than slow the next runner down.
            time.sleep(SETTLE)
    return {name: median(values) for name, values in times.items()}


def bench_many(tool: list[str], env: dict[str, str], rootfs: str, count: int,
               ps_runs: int) -> dict[str, float]:
    """create x count (total ms), ps -a with count containers (median ms), rm -a (ms)."""
    timed([*tool, "ps", "-a"], env)
    create = sum(timed([*tool, "create", "--network", "none", "--rootfs", rootfs, "true"], env)
                 for _ in range(count))
    ps = median([timed([*tool, "ps", "-a"], env) for _ in range(ps_runs)])
    rm = timed([*tool, "rm", "-a"], env)
    return {f"create x{count}": create, f"ps -a ({count})": ps, f"rm -a ({count})": rm}


def report(rows: list[tuple[str, float, float | None, float | None]]) -> None:
    """Print the table: operation, median ms, and the ratios where they apply."""
    print(f"{'operation':<28}{'median ms':>12}{'pypod/podman':>15}{'pypod/runc':>13}")
    for name, ms, vs_podman, vs_runc in rows:
        cells = [f"{v:.2f}" if v is not None else "" for v in (vs_podman, vs_runc)]
        print(f"{name:<28}{ms:>12.1f}{cells[0]:>15}{cells[1]:>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds of run --rm")
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--ps-runs", type=int, default=10)
    parser.add_argument("--crun", action="store_true", help="also pypod with crun")
    args = parser.parse_args()
    for binary in ("runc", "podman", "conmon"):
        if not shutil.which(binary):
            raise SystemExit(f"{binary} is not installed")
    from pypod_core.host.rootfs import make_busybox_rootfs

    tmp = tempfile.mkdtemp(prefix="pypod-bench-run-")
    try:
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        runs = bench_run(args.runs, rootfs, tmp, args.crun)
        podman_ms, runc_ms = runs["podman run --rm"], runs["runc run"]
        rows: list[tuple[str, float, float | None, float | None]] = []
        for name, ms in runs.items():
            pypod = name.startswith(("pypod", "floor"))
            rows.append((name, ms, ms / podman_ms if pypod else None,
                         ms / runc_ms if pypod else None))
        podman = ["podman", "--root", f"{tmp}/podman/root", "--runroot", f"{tmp}/podman/run"]
        pypod_cmd = [PYPOD, "--root", f"{tmp}/pypod/root", "--runroot", f"{tmp}/pypod/run"]
        theirs = bench_many(podman, podman_env(tmp), rootfs, args.containers, args.ps_runs)
        ours = bench_many(pypod_cmd, pypod_env(), rootfs, args.containers, args.ps_runs)
        for name in ours:
            rows.append((f"podman {name}", theirs[name], None, None))
            rows.append((f"pypod {name}", ours[name], ours[name] / theirs[name], None))
        each = f"create x{args.containers}"
        floor = runs["floor: python, pluggy, attrs"]
        rows.append(("podman create, each", theirs[each] / args.containers, None, None))
        rows.append(("floor (python+pluggy+attrs)", floor,
                     floor / (theirs[each] / args.containers), None))
        report(rows)
    finally:
        subprocess.run(["podman", "--root", f"{tmp}/podman/root", "--runroot",
                        f"{tmp}/podman/run", "rm", "-a", "-f"], env=podman_env(tmp),
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)



def print_ratio_table(rows: list[tuple[str, dict[str, float]]]) -> None:
    """One line per operation: podman's and pypod's milliseconds and their ratio
    (``-`` where podman was not measured)."""
    print(f"{'operation':<36}{'podman ms':>12}{'pypod ms':>12}{'pypod/podman':>15}")
    for label, values in rows:
        theirs = values.get("podman")
        ratio = f"{values['pypod'] / theirs:.2f}" if theirs else ""
        shown = f"{theirs:.1f}" if theirs else "-"
        print(f"{label:<36}{shown:>12}{values['pypod']:>12.1f}{ratio:>15}")


if __name__ == "__main__":
    main()
