"""Layer application and overlay mounts: the overlay driver's ``apply_layer`` on a ~90 MB
layer (the host's /usr/lib/python3* files), plain and gzip (decompressed with zlib in
this process, as the image store will), against GNU ``tar -xp`` / ``tar -xzp`` of the
same files; then ``mount``/``umount`` of a container's rootfs over 2 and 500 layers
(fsconfig lowerdir+), and over 2 with mount(2).  Prints medians; asserts nothing.

    .venv/bin/python bench/bench_layers.py [--runs 5] [--dir /dev/shm]

Extraction runs under ``--dir`` (default /dev/shm: tmpfs, so CPU is what is measured;
give a disk directory to include the disk).  Each run extracts into a fresh directory;
deleting it is not timed.  Root only.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from pypod_core.host import mounts  # noqa: E402
from pypod_core.testing.graph_driver import f, layer_tar  # noqa: E402

TARGET_BYTES = 90 * 1024 * 1024


class GunzipReader(io.RawIOBase):
    """A gzip file decompressed with zlib on read (the image store's way)."""

    def __init__(self, path: str):
        self.raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while len(self.pending) < max(size, 1):
            chunk = self.raw.read(1 << 16)
            if not chunk:
                self.pending += self.z.flush()
                break
            self.pending += self.z.decompress(chunk)
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def close(self) -> None:
        self.raw.close()
        super().close()


def build_layer(work: str) -> tuple[str, str, int]:
    """A plain and a gzip tar of up to TARGET_BYTES of /usr/lib/python3* files."""
    plain, gz = os.path.join(work, "layer.tar"), os.path.join(work, "layer.tar.gz")
    total, entries = 0, 0
    with tarfile.open(plain, "w", format=tarfile.PAX_FORMAT) as tar:
        for root in sorted(glob.glob("/usr/lib/python3*")):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    if os.path.islink(path) or not os.path.isfile(path):
                        continue
                    tar.add(path, arcname=path.lstrip("/"), recursive=False)
                    total += os.path.getsize(path)
                    entries += 1
                    if total >= TARGET_BYTES:
                        break
                if total >= TARGET_BYTES:
                    break
    with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return plain, gz, entries


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def bench_apply(args: argparse.Namespace, plain: str, gz: str) -> None:
    from pypod_storage_overlay.overlay import OverlayDriver

    results: dict[str, list[float]] = {k: [] for k in
                                       ("driver plain", "tar -xp plain", "driver gzip",
                                        "tar -xzp gzip")}
    for run in range(args.runs):
        for label in results:
            home = tempfile.mkdtemp(prefix="bench-layers-", dir=args.dir)
            try:
                start = time.perf_counter()
                if label.startswith("driver"):
                    driver = OverlayDriver(os.path.join(home, "overlay"))
                    stream = (open(plain, "rb") if label.endswith("plain")  # noqa: SIM115
                              else GunzipReader(gz))
                    with stream:
                        driver.apply_layer(f"sha256:{run:04d}", None, stream)  # type: ignore[arg-type]
                else:
                    flags = "-xpf" if label.endswith("plain") else "-xzpf"
                    subprocess.run(["tar", flags, plain if "plain" in label else gz,
                                    "-C", home], check=True)
                results[label].append(time.perf_counter() - start)
            finally:
                shutil.rmtree(home)
    for label, samples in results.items():
        print(f"apply  {label:16} {median_ms(samples)}")
    for kind in ("plain", "gzip"):
        tar_label = "tar -xp plain" if kind == "plain" else "tar -xzp gzip"
        ratio = statistics.median(results[f"driver {kind}"]) / statistics.median(
            results[tar_label])
        print(f"apply  driver/tar {kind:11} {ratio:8.2f}x")


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
    work = tempfile.mkdtemp(prefix="bench-layer-src-", dir=args.dir)
    try:
        plain, gz, entries = build_layer(work)
        print(f"layer: {os.path.getsize(plain) / 1e6:.1f} MB plain, "
              f"{os.path.getsize(gz) / 1e6:.1f} MB gzip, {entries} files; "
              f"{args.runs} runs under {args.dir} ({mounts.fs_type_of(args.dir)})")
        bench_apply(args, plain, gz)
    finally:
        shutil.rmtree(work)
    bench_mounts(args)


if __name__ == "__main__":
    main()
