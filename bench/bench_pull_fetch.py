"""Fetching an image from a local registry: pypod's docker transport (fetch every blob in
parallel, verify its digest, decompress it and check its diff ID; no image store yet)
against ``skopeo copy docker://... oci:DIR`` and ``podman pull`` (into a fresh store of
its own, so podman also applies the layers: it does more than the others).

    .venv/bin/python bench/bench_pull_fetch.py [--runs 7]

Two images, built here offline and pushed to a docker-registry on 127.0.0.1:
``busybox`` (busybox-static's rootfs, one gzip layer, ~1 MB) and ``big`` (busybox plus
four layers of 20 MiB random data, gzip -1, ~85 MB in five layers).  The runners take
turns within each round; each run is a whole process, timed from outside; peak RSS is
the process's own (wait4).  Prints medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "plugins", "image_registry", "tests"))
sys.path.insert(0, os.path.join(REPO, "bench"))

from bench_run import podman_env  # noqa: E402
from registry_helpers import digest_of, image_config, run_registry  # noqa: E402

from pypod_core.host.rootfs import make_busybox_rootfs  # noqa: E402

PYTHON = os.path.join(REPO, ".venv", "bin", "python")

#: What pypod's run does: the engine's pull minus the image store.
PYPOD_FETCH = r"""
import hashlib, sys, tempfile
from pypod_core.plugin.image_transport import PullOptions, decompress
from pypod_image_registry.transport import DockerTransport

ref, blob_dir = sys.argv[1], sys.argv[2]
with DockerTransport().open_source(ref, PullOptions(tls_verify=False)) as source:
    config = source.config()
    layers = source.layers()
    paths = source.fetch_blobs(layers, blob_dir)
    for layer, path, diff_id in zip(layers, paths, source.diff_ids()):
        h = hashlib.sha256()
        with decompress(open(path, "rb"), layer.compression) as stream:
            while chunk := stream.read(1 << 20):
                h.update(chunk)
        assert "sha256:" + h.hexdigest() == diff_id, layer.digest
"""


def layer_of_dir(root: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(root, arcname=".")
    return out.getvalue()


def random_layer(index: int, size: int = 20 << 20) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(f"data/big{index}")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return out.getvalue()


def push(registry, repo: str, tars: list[bytes]) -> int:
    """Push ``tars`` gzip -1 as one image; its compressed size."""
    blobs = [gzip.compress(t, compresslevel=1, mtime=0) for t in tars]
    layers = [(b, "application/vnd.oci.image.layer.v1.tar+gzip") for b in blobs]
    registry.push_image(repo, "latest", layers, image_config([digest_of(t) for t in tars]))
    return sum(len(b) for b in blobs)


def push_all(host: str, tmp: str) -> None:
    """Build and push both images (run in a child of its own: the bench process must
    stay small, as a child inherits its parent's peak RSS across fork and exec)."""
    from registry_helpers import Registry

    registry = Registry(host, "")
    base = layer_of_dir(make_busybox_rootfs(os.path.join(tmp, "rootfs")))
    sizes = {"busybox": push(registry, "bench/busybox", [base]),
             "big": push(registry, "bench/big", [base, *(random_layer(i) for i in range(4))])}
    print(json.dumps(sizes))


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one process;
    fail loudly if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--push", nargs=2, metavar=("HOST", "TMP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.push:
        return push_all(*args.push)
    tmp = tempfile.mkdtemp(prefix="pbp-")  # podman wants a runroot under 50 characters
    try:
        with run_registry(os.path.join(tmp, "registry")) as registry:
            sizes = json.loads(subprocess.run(
                [PYTHON, __file__, "--push", registry.host, tmp], check=True,
                capture_output=True).stdout)
            p_env = podman_env(tmp)
            results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
            for n in range(args.runs):
                for image in sizes:
                    ref = f"{registry.host}/bench/{image}:latest"
                    work = os.path.join(tmp, f"{image[0]}{n}")
                    os.makedirs(os.path.join(work, "blobs"))
                    runners = {
                        "pypod fetch+verify+decompress": (
                            [PYTHON, "-c", PYPOD_FETCH, ref, f"{work}/blobs"], None),
                        "skopeo copy -> oci:": (
                            ["skopeo", "copy", "-q", "--src-tls-verify=false",
                             f"docker://{ref}", f"oci:{work}/oci:latest"], None),
                        "podman pull (fresh store)": (
                            ["podman", "--root", f"{work}/podman/root", "--runroot",
                             f"{work}/pr", "pull", "-q", "--tls-verify=false",
                             ref], p_env),
                    }
                    for name, (argv, env) in runners.items():
                        results.setdefault((image, name), []).append(run(argv, env))
                    subprocess.run(["podman", "--root", f"{work}/podman/root", "--runroot",
                                    f"{work}/pr", "system", "reset", "-f"],
                                   env=p_env, capture_output=True)
                    shutil.rmtree(work, ignore_errors=True)
        print(f"runs: {args.runs}; image sizes (compressed): " + ", ".join(
            f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
        print(f"{'image':8} {'runner':32} {'wall s':>8} {'CPU s':>7} {'peak RSS MB':>12}")
        for (image, name), values in results.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[2] for v in values)
            rss = max(v[1] for v in values)
            print(f"{image:8} {name:32} {wall:8.3f} {cpu:7.3f} {rss:12.1f}")
        for image in sizes:
            ours = statistics.median(v[0] for v in results[(image, "pypod fetch+verify+"
                                                                   "decompress")])
            for other in ("skopeo copy -> oci:", "podman pull (fresh store)"):
                theirs = statistics.median(v[0] for v in results[(image, other)])
                print(f"{image}: pypod / {other.split(' (')[0]} = {ours / theirs:.2f} (wall)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
