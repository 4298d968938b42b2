"""Start-up: pypod's own time per command, beside podman's, in one run.

For each command the bench measures, taking turns within each round (so that a busy
machine slows all alike): pypod, podman (Debian's 4.3, runc, its own stores) and the
command's *floor*, what no design on CPython with pluggy and attrs can go under:
``python -c "import pluggy, attrs"``, plus runc's create+start+delete for a command that
runs a container.  pypod's own time is its median minus the floor's median.  Then the
ratio rows (pypod/podman, 100 containers) and the scale rows: ``ps -a``, ``inspect NAME``
and ``create`` with 10 and with 10,000 containers in pypod's store (filled through the
state API).  Prints medians; asserts nothing.

    .venv/bin/python bench/bench_commands.py [--runs 15] [--scale 10000] [--no-bridge] \
        [--pypod OTHER/.venv/bin/pypod]

``--pypod`` times another build's ``pypod`` (an older checkout's, for a "before").
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
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")
PYTHON = os.path.join(REPO, ".venv", "bin", "python")

from bench_net import BRIDGE, SUBNET  # noqa: E402
from bench_run import podman_env, pypod_env, runc_bundle  # noqa: E402

#: Own-time targets (ms) of the issue, by command.
OWN_TARGET = {"ps -a": 15, "inspect NAME": 15, "info": 15, "create --network none": 15,
              "rm": 15, "stop (exited)": 15, "images": 15, "run --rm --network none": 20}
SETTLE = 0.2


class Tool:
    """One command-line tool with its stores under the bench's directory."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.argv, self.env = argv, env

    def run(self, *args: str) -> str:
        """Run a command (it must succeed); its stdout."""
        proc = subprocess.run([*self.argv, *args], env=self.env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join([*self.argv, *args])}\n{proc.stderr}")
        return proc.stdout.strip()

    def timed(self, *args: str) -> float:
        """Wall ms of one run of a command."""
        start = time.perf_counter()
        self.run(*args)
        return (time.perf_counter() - start) * 1000


def timed_argv(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return (time.perf_counter() - start) * 1000


def per_command(tools: dict[str, Tool], rootfs: str, tmp: str,
                runs: int) -> dict[str, dict[str, float]]:
    """Median ms of each command for pypod and podman, and the two floors."""
    net = ["--network", "none", "--rootfs", rootfs]
    for tool in tools.values():
        for _ in range(3):
            tool.run("create", *net, "true")
        tool.run("create", "--name", "probe", *net, "true")
        tool.run("run", "--name", "exited", *net, "true")
    bundle = runc_bundle(tmp, rootfs)
    runc = f"runc --root {tmp}/runc-split"
    split = (f"I=bench-$$; {runc} create -b {bundle} $I && {runc} start $I"
             f" && {runc} delete --force $I")
    # What each round times; an entry makes its own fresh object where it needs one.
    steps: dict[str, Callable[[Tool], float]] = {
        "ps -a": lambda t: t.timed("ps", "-a"),
        "inspect NAME": lambda t: t.timed("inspect", "probe"),
        "info": lambda t: t.timed("info"),
        "create --network none": lambda t: t.timed("create", *net, "true"),
        "rm": lambda t: t.timed("rm", t.run("create", *net, "true")),
        "stop (exited)": lambda t: t.timed("stop", "exited"),
        "images": lambda t: t.timed("images"),
        "run --rm --network none": lambda t: t.timed("run", "--rm", *net, "true"),
    }
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(runs + 1):  # round 0 warms up
        for label, step in steps.items():
            for name, tool in tools.items():
                ms = step(tool)
                if round_:
                    times.setdefault((label, name), []).append(ms)
                time.sleep(SETTLE if label.startswith("run") else 0.02)
        floor = timed_argv([PYTHON, "-c", "import pluggy, attrs"], pypod_env())
        runc_ms = timed_argv(["sh", "-c", split])
        if round_:
            times.setdefault(("floor", "python"), []).append(floor)
            times.setdefault(("floor", "runc"), []).append(runc_ms)
    return {label: {name: statistics.median(v) for (lab, name), v in times.items()
                    if lab == label} for label in {lab for lab, _ in times}}


def ratios(tools: dict[str, Tool], rootfs: str, count: int, runs: int,
           bridge: bool) -> list[tuple[str, float, float]]:
    """(row, pypod ms, podman ms) for the issue's ratio targets."""
    net = ["--network", "none", "--rootfs", rootfs]
    rows = []
    for tool in tools.values():
        tool.run("rm", "-a", "-f")
    create: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(count):
        for name, tool in tools.items():
            create[name].append(tool.timed("create", *net, "true"))
    rows.append((f"create (median of {count})", statistics.median(create["pypod"]),
                 statistics.median(create["podman"])))
    ps = {name: [tool.timed("ps", "-a") for _ in range(runs)] for name, tool in tools.items()}
    rows.append((f"ps -a ({count})", statistics.median(ps["pypod"]),
                 statistics.median(ps["podman"])))
    rm = {name: tool.timed("rm", "-a") for name, tool in tools.items()}
    rows.append((f"rm -a ({count})", rm["pypod"], rm["podman"]))
    run: dict[str, list[float]] = {name: [] for name in tools}
    run_bridge: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(runs):
        for name, tool in tools.items():
            run[name].append(tool.timed("run", "--rm", *net, "true"))
            time.sleep(SETTLE)
            if bridge:
                run_bridge[name].append(tool.timed("run", "--rm", "--rootfs", rootfs, "true"))
                time.sleep(SETTLE)
    rows.append(("run --rm --network none", statistics.median(run["pypod"]),
                 statistics.median(run["podman"])))
    if bridge:
        rows.append(("run --rm (bridge)", statistics.median(run_bridge["pypod"]),
                     statistics.median(run_bridge["podman"])))
    return rows


def fill_store(tool: Tool, config: str, rootfs: str, upto: int) -> None:
    """Add containers through the state API until the store holds ``upto``."""
    code = (
        "import sys; from pypod_core.engine.runtime import new_runtime_from_config;"
        "from pypod_core.model import ContainerConfig, ContainerRecord, ContainerState,"
        " new_id;"
        "rt = new_runtime_from_config(sys.argv[1]); have = len(rt.state.all_containers());"
        "[rt.state.add_container(ContainerRecord(ContainerConfig(id=new_id(),"
        " name=f'fill{i}', rootfs=sys.argv[3], command=('true',), oci_runtime='runc'),"
        " ContainerState())) for i in range(have, int(sys.argv[2]))]; rt.shutdown()")
    subprocess.run([PYTHON, "-c", code, config, str(upto), rootfs], check=True,
                   env=tool.env)


def scale(tool: Tool, config: str, rootfs: str, sizes: tuple[int, int],
          runs: int) -> dict[int, dict[str, float]]:
    """ps -a, inspect NAME and create with each number of containers in the store."""
    tool.run("rm", "-a", "-f")
    tool.run("create", "--name", "scaleprobe", "--network", "none", "--rootfs", rootfs, "true")
    out: dict[int, dict[str, float]] = {}
    for size in sizes:
        fill_store(tool, config, rootfs, size)
        tool.run("ps", "-a")
        out[size] = {
            "ps -a": statistics.median(tool.timed("ps", "-a") for _ in range(runs)),
            "inspect NAME": statistics.median(tool.timed("inspect", "scaleprobe")
                                              for _ in range(runs)),
            "create": statistics.median(tool.timed("create", "--network", "none",
                                                   "--rootfs", rootfs, "true")
                                        for _ in range(runs)),
        }
    return out


def write_config(tmp: str) -> str:
    """pypod's config: every store under ``tmp``, the bridge network of bench_net."""
    path = os.path.join(tmp, "pypod.conf")
    with open(path, "w") as f:
        f.write(f'graph_root = "{tmp}/pypod/root"\nrun_root = "{tmp}/pypod/run"\n'
                f'cni_config_dir = "{tmp}/cni"\n[plugins.net_cni]\n'
                f'default_bridge = "{BRIDGE}"\ndefault_subnet = "{SUBNET}"\n')
    return path


def report(cmds: dict[str, dict[str, float]], rows: list[tuple[str, float, float]],
           scaled: dict[int, dict[str, float]]) -> None:
    py, runc = cmds["floor"]["python"], cmds["floor"]["runc"]
    print(f"floors (median ms): python+pluggy+attrs {py:.1f}; runc create+start+delete "
          f"{runc:.1f}")
    print(f"{'command':<26}{'pypod':>8}{'podman':>8}{'floor':>8}{'own':>8}{'target':>8}"
          f"{'':>6}{'/podman':>8}")
    for label, target in OWN_TARGET.items():
        ms = cmds[label]
        floor = py + (runc if label.startswith("run") else 0)
        own = ms["pypod"] - floor
        print(f"{label:<26}{ms['pypod']:8.1f}{ms['podman']:8.1f}{floor:8.1f}{own:8.1f}"
              f"{target:8.0f}{'met' if own <= target else 'MISS':>6}"
              f"{ms['pypod'] / ms['podman']:8.2f}")
    goals = {"create": 1.3, "ps -a": 1.0, "rm -a": 0.5, "run --rm --network none": 0.85,
             "run --rm (bridge)": 0.5}
    print(f"{'ratio row':<26}{'pypod':>8}{'podman':>8}{'ratio':>8}{'target':>8}")
    for label, ours, theirs in rows:
        goal = next(g for key, g in goals.items() if label.startswith(key))
        ratio = ours / theirs
        print(f"{label:<26}{ours:8.1f}{theirs:8.1f}{ratio:8.2f}{goal:8.2f}"
              f"{'met' if ratio <= goal else 'MISS':>6}")
    small, big = sorted(scaled)
    print(f"{'scale (pypod)':<26}{small:>8}{big:>8}{'ratio':>8}{'target':>8}")
    for label in scaled[small]:
        a, b = scaled[small][label], scaled[big][label]
        print(f"{label:<26}{a:8.1f}{b:8.1f}{b / a:8.2f}{2.0:8.2f}"
              f"{'met' if b / a <= 2 else 'MISS':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--scale", type=int, default=10000)
    parser.add_argument("--no-bridge", action="store_true")
    parser.add_argument("--pypod", default=PYPOD, help="the pypod to time")
    args = parser.parse_args()
    from pypod_core.host.rootfs import make_busybox_rootfs

    tmp = tempfile.mkdtemp(prefix="pypod-bench-startup-")
    # --tmpdir too: podman's default (/run/libpod) is the host's, which `system reset`
    # below would remove under any other podman on the machine.
    podman = ["podman", "--root", f"{tmp}/podman/root", "--runroot", f"{tmp}/podman/run",
              "--tmpdir", f"{tmp}/podman/tmp", "--runtime", "runc"]
    try:
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        config = write_config(tmp)
        tools = {"pypod": Tool([args.pypod, "--config", config], pypod_env()),
                 "podman": Tool(podman, podman_env(tmp))}
        cmds = per_command(tools, rootfs, tmp, args.runs)
        rows = ratios(tools, rootfs, args.containers, args.runs, not args.no_bridge)
        scaled = scale(tools["pypod"], config, rootfs, (10, args.scale), args.runs)
        report(cmds, rows, scaled)
    finally:
        subprocess.run([*podman, "rm", "-a", "-f"], env=podman_env(tmp), capture_output=True)
        subprocess.run([*podman, "system", "reset", "--force"], env=podman_env(tmp),
                       capture_output=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        try:
            from pypod_firewall_iptables.iptables import IptablesFirewall

            IptablesFirewall().unmasquerade([SUBNET])
        except Exception as exc:  # a benchmark's cleanup must not hide its figures
            print(f"cleanup of masquerade rules failed: {exc}", file=sys.stderr)
        subprocess.run(["umount", "-R", f"{tmp}/podman/root"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
