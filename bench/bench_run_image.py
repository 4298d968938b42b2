"""``run --rm --network none IMAGE true`` against ``--rootfs DIR``, for pypod and Debian's
podman, on one busybox rootfs (the image is that rootfs as one layer: ``podman import``
for podman, ``runtime.import_image`` for pypod, both on overlay).  Prints medians, what
the image costs over the directory for each tool, and pypod/podman; asserts nothing.

    .venv/bin/python bench/bench_run_image.py [--runs 20] [--no-podman]

The runners take turns within each round, so a machine busy with something else slows
them alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from bench_run import PYPOD, SETTLE, median, podman_env, pypod_env, timed  # noqa: E402


def make_images(tmp: str, rootfs: str, podman: list[str] | None) -> None:
    """The busybox rootfs as the image ``bench`` in pypod's store (and podman's)."""
    from pypod_core.engine.runtime import new_runtime

    layer = os.path.join(tmp, "busybox.tar")
    with tarfile.open(layer, "w") as tar:
        for entry in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, entry), arcname=entry)
    runtime = new_runtime(config_path=os.devnull, graph_root=f"{tmp}/pypod/root",
                          run_root=f"{tmp}/pypod/run")
    runtime.import_image([layer], {"config": {"Cmd": ["sh"]}}, names=["bench"])
    runtime.shutdown()
    if podman is not None:
        subprocess.run([*podman, "import", layer, "localhost/bench"], env=podman_env(tmp),
                       check=True, capture_output=True)


def bench(runs: int, tmp: str, rootfs: str, with_podman: bool) -> dict[str, float]:
    """Median ms of each runner."""
    pypod = [PYPOD, "--root", f"{tmp}/pypod/root", "--runroot", f"{tmp}/pypod/run"]
    podman = ["podman", "--root", f"{tmp}/podman/root", "--runroot", f"{tmp}/podman/run",
              "--storage-driver", "overlay"]
    make_images(tmp, rootfs, podman if with_podman else None)
    run = ["run", "--rm", "--network", "none"]
    runners = {
        "pypod --rootfs": ([*pypod, *run, "--rootfs", rootfs, "true"], pypod_env()),
        "pypod IMAGE": ([*pypod, *run, "bench", "true"], pypod_env()),
    }
    if with_podman:
        runners["podman --rootfs"] = ([*podman, *run, "--rootfs", rootfs, "true"],
                                      podman_env(tmp))
        runners["podman IMAGE"] = ([*podman, *run, "localhost/bench", "true"],
                                   podman_env(tmp))
    for argv, env in runners.values():  # warm up: stores, bytecode, page cache
        timed(argv, env)
        timed(argv, env)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, (argv, env) in runners.items():
            times[name].append(timed(argv, env))
            time.sleep(SETTLE)  # the exit command's clean-up ends before the next run
    return {name: median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-podman", action="store_true", help="pypod only")
    args = parser.parse_args()
    with_podman = not args.no_podman
    for binary in ("runc", "conmon", *(("podman",) if with_podman else ())):
        if not shutil.which(binary):
            raise SystemExit(f"{binary} is not installed")
    from pypod_core.host.rootfs import make_busybox_rootfs

    tmp = tempfile.mkdtemp(prefix="pypod-bench-image-")
    try:
        ms = bench(args.runs, tmp, make_busybox_rootfs(os.path.join(tmp, "rootfs")),
                   with_podman)
        print(f"{'runner':<20}{'median ms':>12}{'pypod/podman':>15}")
        for name, value in ms.items():
            theirs = ms.get(name.replace("pypod", "podman"))
            ratio = f"{value / theirs:.2f}" if name.startswith("pypod") and theirs else ""
            print(f"{name:<20}{value:>12.1f}{ratio:>15}")
        for tool in ("pypod", "podman"):
            if f"{tool} IMAGE" in ms:
                extra = ms[f"{tool} IMAGE"] - ms[f"{tool} --rootfs"]
                print(f"{tool}: the image costs {extra:+.1f} ms over --rootfs")
    finally:
        if with_podman:
            subprocess.run(["podman", "--root", f"{tmp}/podman/root", "--runroot",
                            f"{tmp}/podman/run", "rm", "-a", "-f"], env=podman_env(tmp),
                           capture_output=True)
            subprocess.run(["podman", "--root", f"{tmp}/podman/root", "--runroot",
                            f"{tmp}/podman/run", "system", "reset", "-f"],
                           env=podman_env(tmp), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
