"""``cp`` of a 100 MB tree (many small files and a few big ones) into and out of a running
container: Debian's ``podman cp`` and ``pypod cp`` side by side, each on a busybox
``--rootfs`` container of its own (runc; podman with its own containers.conf and storage,
as bench_run).  Prints the median wall time of each direction and the ratio
pypod/podman; asserts nothing.

    .venv/bin/python bench/bench_cp.py [--runs 5] [--small 2000] [--big-mb 20]

The tree: ``--small`` files of 20 KB in 40 directories, three ``--big-mb`` files, a
symlink and a hardlink (100 MB with the defaults).  The tools take turns within each
round, copying to a new path every time (deleted, untimed, before the next round).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_run import PYPOD, median, podman_env, pypod_env, timed  # noqa: E402

SMALL_SIZE = 20 * 1024
DIRS = 40


def make_tree(top: str, small: int, big_mb: int) -> int:
    """The tree to copy; its size in bytes."""
    size = 0
    for i in range(small):
        directory = os.path.join(top, f"dir{i % DIRS:02d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"file{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(SMALL_SIZE))
        size += SMALL_SIZE
    for i in range(3):
        with open(os.path.join(top, f"big{i}.bin"), "wb") as f:
            for _ in range(big_mb):
                f.write(os.urandom(1 << 20))
        size += big_mb << 20
    os.symlink("big0.bin", os.path.join(top, "link"))
    os.link(os.path.join(top, "big0.bin"), os.path.join(top, "hard"))
    return size


def start(tool: list[str], env: dict[str, str], name: str, rootfs: str) -> None:
    subprocess.run([*tool, "run", "-d", "--name", name, "--network", "none",
                    "--rootfs", rootfs, "sleep", "100000"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--big-mb", type=int, default=20)
    args = parser.parse_args()
    for binary in ("runc", "podman", "conmon"):
        if not shutil.which(binary):
            raise SystemExit(f"{binary} is not installed")
    sys.path.insert(0, os.path.dirname(HERE))
    from pypod_core.host.rootfs import make_busybox_rootfs

    tmp = tempfile.mkdtemp(prefix="pypod-bench-cp-")
    podman = ["podman", "--root", f"{tmp}/podman/root", "--runroot", f"{tmp}/podman/run"]
    pypod = [PYPOD, "--root", f"{tmp}/pypod/root", "--runroot", f"{tmp}/pypod/run"]
    tools = {"podman": (podman, podman_env(tmp)), "pypod": (pypod, pypod_env())}
    try:
        tree = os.path.join(tmp, "tree")
        size = make_tree(tree, args.small, args.big_mb)
        rootfs = {}
        for name, (tool, env) in tools.items():
            rootfs[name] = make_busybox_rootfs(os.path.join(tmp, f"rootfs-{name}"))
            start(tool, env, f"cp-{name}", rootfs[name])
        times: dict[str, list[float]] = {f"{n} {d}": [] for n in tools for d in ("in", "out")}
        for run in range(args.runs + 1):  # the first round warms caches up: not counted
            for name, (tool, env) in tools.items():
                # Into existing directories, keeping the tree's name: podman 4.3.1 fails
                # on a hardlink in a tree it renames (the link names the old name).
                inside = os.path.join(rootfs[name], "tmp", "tree")
                out = os.path.join(tmp, f"out-{name}")
                os.mkdir(out)
                copy_in = timed([*tool, "cp", tree, f"cp-{name}:/tmp/"], env)
                copy_out = timed([*tool, "cp", f"cp-{name}:/tmp/tree", out], env)
                if run:
                    times[f"{name} in"].append(copy_in)
                    times[f"{name} out"].append(copy_out)
                shutil.rmtree(inside)
                shutil.rmtree(out)
        print(f"cp of a {size / 1e6:.0f} MB tree ({args.small} x 20 KB in {DIRS} dirs, "
              f"3 x {args.big_mb} MB), {args.runs} runs, running container")
        print(f"{'operation':<34}{'median ms':>12}{'pypod/podman':>15}")
        for direction, label in (("in", "cp HOST_DIR CTR:/tmp/"),
                                 ("out", "cp CTR:/tmp/tree HOST_DIR")):
            theirs = median(times[f"podman {direction}"])
            ours = median(times[f"pypod {direction}"])
            print(f"{'podman ' + label:<34}{theirs:>12.1f}")
            print(f"{'pypod ' + label:<34}{ours:>12.1f}{ours / theirs:>15.2f}")
    finally:
        for name, (tool, env) in tools.items():
            subprocess.run([*tool, "rm", "-f", "-t", "0", f"cp-{name}"], env=env,
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
