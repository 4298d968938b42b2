"""Layer application and overlay mounts: the overlay driver's ``apply_layer`` on a ~100 MB
layer (the host's /usr/lib/python3* files with their directories and symlinks), plain
and gzip, against GNU ``tar -xf`` / ``tar -xzf`` of the same files into an empty
directory as root; then ``mount``/``umount`` of a container's rootfs over 2 and 500
layers (fsconfig lowerdir+), and over 2 with mount(2).  The gzip layer is decompressed
as a pull decompresses it (``image_transport.decompress``, in the applying process,
while the extraction runs in its child); tar decompresses in its own gzip child.
Prints wall and CPU medians (CPU: this process and the children it waited for) and
their ratios; asserts nothing.

    .venv/bin/python bench/bench_layers.py [--runs 5] [--dir /dev/shm]

Extraction runs under ``--dir`` (default /dev/shm: tmpfs, so CPU is what is measured;
give a disk directory to include the disk).  Each run extracts into a fresh directory;
deleting it is not timed.  Root only.

Measured with ``--runs 7`` (103.1 MB / 4,941 entries, 28.6 MB gzip; 2 CPUs shared with
other work at load average 4-6, so wall times are inflated; medians of one run each):

    pypod/tar        extraction by tarfile (before)    by host/tarstream (now)
    plain            5.05x wall  5.47x CPU             2.49x wall  2.18x CPU
    gzip             2.37x wall  1.85x CPU             1.04x wall  0.86x CPU
"""

from __future__ import annotations

import argparse
import glob
import gzip
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from pypod_core.host import mounts  # noqa: E402
from pypod_core.testing.graph_driver import f, layer_tar  # noqa: E402

TARGET_BYTES = 90 * 1024 * 1024


def build_layer(work: str) -> tuple[str, str, int]:
    """A plain and a gzip tar of up to TARGET_BYTES of /usr/lib/python3* files, with
    their directories and symlinks, as an image layer holds them."""
    plain, gz = os.path.join(work, "layer.tar"), os.path.join(work, "layer.tar.gz")
    total, entries = 0, 0
    with tarfile.open(plain, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add("/usr/lib", arcname="usr/lib", recursive=False)
        for dirpath, _dirs, filenames in _walk(sorted(glob.glob("/usr/lib/python3*"))):
            if total >= TARGET_BYTES:
                break
            tar.add(dirpath, arcname=dirpath.lstrip("/"), recursive=False)
            entries += 1
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or os.path.isfile(path):
                    tar.add(path, arcname=path.lstrip("/"), recursive=False)
                    total += os.lstat(path).st_size
                    entries += 1
    with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return plain, gz, entries


def _walk(roots: list[str]) -> Iterator[tuple[str, list[str], list[str]]]:
    for root in roots:
        for entry in os.walk(root):
            entry[1].sort()
            yield entry


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of ``run()``: CPU counts this process and the children it
    waited for (the extraction child; tar and its gzip)."""
    before, start = _cpu(), time.perf_counter()
    run()
    return time.perf_counter() - start, _cpu() - before


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_apply(args: argparse.Namespace, plain: str, gz: str) -> None:
    """The overlay driver's apply_layer against GNU tar, on the same files: the plain
    tar read from its file, the gzip one decompressed as a pull decompresses (the
    image transports' ``decompress``, in this process) or by tar's own gzip child;
    tar extracts into an empty directory as root (so -p and --same-owner are implied)."""
    from pypod_storage_overlay.overlay import OverlayDriver

    from pypod_core.plugin.image_transport import decompress

    def pypod(home: str, kind: str, run: int) -> None:
        driver = OverlayDriver(os.path.join(home, "overlay"))
        raw = open(plain if kind == "plain" else gz, "rb")  # noqa: SIM115 - closed below
        with raw if kind == "plain" else decompress(raw, "gzip") as stream:
            driver.apply_layer(f"sha256:{run:04d}", None, stream)

    def tar(home: str, kind: str, run: int) -> None:
        flags, source = ("-xf", plain) if kind == "plain" else ("-xzf", gz)
        subprocess.run(["tar", flags, source, "-C", home], check=True)

    cases = {("pypod", "plain"): pypod, ("tar -xf", "plain"): tar,
             ("pypod", "gzip"): pypod, ("tar -xzf", "gzip"): tar}
    wall: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    cpu: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    for run in range(args.runs):
        for case, runner in cases.items():
            home = tempfile.mkdtemp(prefix="bench-layers-", dir=args.dir)
            try:
                w, c = timed(lambda: runner(home, case[1], run))  # noqa: B023 - called now
                wall[case].append(w)
                cpu[case].append(c)
            finally:
                shutil.rmtree(home)
    for (who, kind) in cases:
        print(f"apply  {who + ' ' + kind:16} {median_ms(wall[who, kind])} wall "
              f"{median_ms(cpu[who, kind])} CPU")
    for kind, tool in (("plain", "tar -xf"), ("gzip", "tar -xzf")):
        ratios = [statistics.median(m["pypod", kind]) / statistics.median(m[tool, kind])
                  for m in (wall, cpu)]
        print(f"apply  pypod/tar {kind:12} {ratios[0]:8.2f}x wall {ratios[1]:8.2f}x CPU")


def bench_mounts(args: argparse.Namespace) -> None:
    from pypod_storage_overlay.overlay import OverlayDriver

    home = tempfile.mkdtemp(prefix="bench-mounts-", dir=args.dir)
    try:
        driver = OverlayDriver(os.path.join(home, "overlay"))
        parent = None
        for i in range(500):
            layer = f"sha256:{i:04d}"
            driver.apply_layer(layer, parent, io.BytesIO(layer_tar(f(f"f{i}", b"x"))))
            parent = layer
        tops = {2: "sha256:0001", 500: "sha256:0499"}
        for count, top in tops.items():
            driver.create_rootfs(f"c{count}", top)
            up, down = [], []
            for _ in range(args.runs * 4):
                start = time.perf_counter()
                driver.mount(f"c{count}")
                mid = time.perf_counter()
                driver.umount(f"c{count}")
                up.append(mid - start)
                down.append(time.perf_counter() - mid)
            api = "fsconfig" if mounts.new_mount_api() else "mount(2)"
            print(f"mount  {count:3} layers {api:9} {median_ms(up)}   umount {median_ms(down)}")
        # mount(2) directly, same two layers
        ctr = driver.container_dir("c2")
        lowers = [os.path.join(driver.layer_dir(t), "diff") for t in ("sha256:0001",
                                                                      "sha256:0000")]
        up, down = [], []
        for _ in range(args.runs * 4):
            start = time.perf_counter()
            mounts.mount_overlay(os.path.join(ctr, "merged"), lowers, os.path.join(ctr, "diff"),
                                 os.path.join(ctr, "work"), force_mount2=True)
            mid = time.perf_counter()
            mounts.umount(os.path.join(ctr, "merged"))
            up.append(mid - start)
            down.append(time.perf_counter() - mid)
        print(f"mount    2 layers mount(2)  {median_ms(up)}   umount {median_ms(down)}")
        for ctr_id in list(driver.rootfs_ids()):
            driver.remove_rootfs(ctr_id)
    finally:
        for point in reversed(mounts.mounts_under(home)):
            mounts.umount(point)
        shutil.rmtree(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_layers: needs root (chroot, mknod, mounts)")
    work = tempfile.mkdtemp(prefix="bench-layer-src-", dir=args.dir)
    try:
        plain, gz, entries = build_layer(work)
        print(f"layer: {os.path.getsize(plain) / 1e6:.1f} MB plain, "
              f"{os.path.getsize(gz) / 1e6:.1f} MB gzip, {entries} entries; "
              f"{args.runs} runs under {args.dir} ({mounts.fs_type_of(args.dir)}), "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        bench_apply(args, plain, gz)
        print(f"load average {os.getloadavg()[0]:.1f} after the apply runs")
    finally:
        shutil.rmtree(work)
    bench_mounts(args)


if __name__ == "__main__":
    main()
