"""`run --rm` on the default bridge network: pypod against podman (its default network),
side by side, median wall time of each and the ratio.  Target: pypod at most 0.6x.

Both also run with ``--network none``, so that the cost of the network itself (bridge
minus none) can be told apart from the rest of a container's life.  Runs alternate
between the two tools so that a busy moment of the machine hurts both alike.  pypod uses
a default network of its own (bridge ``pypodbench0``, 10.199.0.0/24) and podman its own
temporary ``--root``/``--runroot``; both are removed afterwards.

    .venv/bin/python bench/bench_net.py [--runs N] [--runtime runc|crun]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")
BRIDGE = "pypodbench0"
SUBNET = "10.199.0.0/24"
#: podman asks for RLIMIT_NOFILE/NPROC above this VM's hard limits by default; the
#: same explicit limits make it start (pypod leaves the limits alone).
PODMAN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

#: Seconds between two timed runs, for the work each tool leaves behind to end.
SETTLE = 0.3


def timed(cmd: list[str]) -> float:
    """Wall time of one run of ``cmd`` in milliseconds; it must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        sys.exit(f"bench_net: {' '.join(cmd)} failed: {proc.stderr.strip()}")
    return elapsed


def write_config(tmp: str) -> str:
    """A pypod config keeping every store under ``tmp``, on the bench's own network."""
    path = os.path.join(tmp, "pypod.conf")
    with open(path, "w") as f:
        f.write(f'graph_root = "{tmp}/root"\nrun_root = "{tmp}/run"\n'
                f'cni_config_dir = "{tmp}/cni"\n[plugins.net_cni]\n'
                f'default_bridge = "{BRIDGE}"\ndefault_subnet = "{SUBNET}"\n')
    return path


def commands(tmp: str, rootfs: str, runtime: str) -> dict[str, list[str]]:
    """The four timed command lines, by label: each tool on the bridge and on none."""
    pypod = [PYPOD, "--config", write_config(tmp), "--runtime", runtime, "run", "--rm"]
    podman = ["podman", "--root", f"{tmp}/podman-root", "--runroot", f"{tmp}/podman-run",
              "--runtime", runtime, "run", "--rm", *PODMAN_LIMITS]
    tail = ["--rootfs", rootfs, "true"]
    return {
        "pypod bridge": [*pypod, "--network", "bridge", *tail],
        "podman bridge": [*podman, *tail],
        "pypod none": [*pypod, "--network", "none", *tail],
        "podman none": [*podman, "--network", "none", *tail],
    }


def cleanup(tmp: str) -> None:
    """Remove what the runs left on the host: our bridge, our masquerade rules, files."""
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    try:
        from pypod_firewall_iptables.iptables import IptablesFirewall

        IptablesFirewall().unmasquerade([SUBNET])
    except Exception as exc:  # a benchmark's cleanup must not hide its figures
        print(f"bench_net: cleanup of masquerade rules failed: {exc}", file=sys.stderr)
    subprocess.run(["podman", "--root", f"{tmp}/podman-root", "--runroot", f"{tmp}/podman-run",
                    "system", "reset", "--force"], capture_output=True)
    subprocess.run(["umount", "-R", f"{tmp}/podman-root"], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--runtime", default="runc")
    args = parser.parse_args()
    if shutil.which("podman") is None:
        sys.exit("bench_net: podman is not installed")
    rootfs = os.path.join(REPO, ".cache", "rootfs")
    if not os.path.isdir(rootfs):
        subprocess.run([sys.executable, "-m", "pypod_core.host.rootfs", rootfs], check=True,
                       capture_output=True)
    tmp = tempfile.mkdtemp(prefix="pypod-bench-net-")
    try:
        cmds = commands(tmp, rootfs, args.runtime)
        for cmd in cmds.values():  # warm up: first runs create the stores and bridges
            timed(cmd)
            timed(cmd)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd))
                # Both tools leave work behind them (conmon's exit command, podman's
                # `container cleanup`): let it end rather than slow the next runner down.
                time.sleep(SETTLE)
    finally:
        cleanup(tmp)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"run --rm, median of {args.runs} runs, OCI runtime {args.runtime}:")
    for name in cmds:
        print(f"  {name:<14} {med[name]:8.1f} ms")
    for tool in ("pypod", "podman"):
        print(f"  {tool} network cost (bridge - none): "
              f"{med[f'{tool} bridge'] - med[f'{tool} none']:8.1f} ms")
    ratio = med["pypod bridge"] / med["podman bridge"]
    verdict = "meets" if ratio <= 0.6 else "misses"
    print(f"  ratio pypod/podman on the bridge network: {ratio:.2f}x "
          f"({verdict} the 0.6x target)")


if __name__ == "__main__":
    main()
