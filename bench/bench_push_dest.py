"""Pushing an image into an empty repository of a local registry: pypod's docker
destination (the blobs as stored, uploaded and verified as they are sent, then the
manifest) against ``skopeo copy oci:DIR docker://...`` (the same compressed blobs) and
``podman push`` (from its store, which keeps layers uncompressed: podman compresses each
one again as it pushes it).

    .venv/bin/python bench/bench_push_dest.py [--runs 5] [--chunked]

The image is ``big`` of bench_pull_fetch.py: busybox plus four layers of 20 MiB random
data, gzip -1, ~85 MB in five layers, written here as an OCI layout.  Each push goes to
a fresh docker-registry on 127.0.0.1, so no runner can mount or skip a blob another one
(or an earlier round) pushed; the runners take turns, each a whole process timed from
outside; peak RSS is the process's own.  ``--chunked`` makes pypod upload every blob in
16 MiB PATCH chunks instead of one PUT.  Prints medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "plugins", "image_registry", "tests"))
sys.path.insert(0, os.path.join(REPO, "bench"))

from bench_pull_fetch import layer_of_dir, random_layer, run  # noqa: E402
from bench_run import podman_env  # noqa: E402
from registry_helpers import image_config, run_registry  # noqa: E402

from pypod_core.host.rootfs import make_busybox_rootfs  # noqa: E402

PYTHON = os.path.join(REPO, ".venv", "bin", "python")

#: What pypod's run does: the destination fed from an OCI layout's blobs.
PYPOD_PUSH = r"""
import json, os, sys
from pypod_core.plugin.image_transport import (Manifest, PushOptions, OCI_MANIFEST,
                                               parse_image_manifest)
from pypod_image_registry.transport import DockerTransport

layout, ref, chunked = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
index = json.load(open(os.path.join(layout, "index.json")))
digest = index["manifests"][0]["digest"]
blob = lambda d: os.path.join(layout, "blobs", *d.split(":"))
manifest = Manifest(open(blob(digest), "rb").read(), OCI_MANIFEST, digest)
config, layers = parse_image_manifest(manifest)
with DockerTransport().open_destination(ref, PushOptions(tls_verify=False)) as dest:
    if chunked:
        dest.chunked_above = 0
    for desc in [*layers, config]:
        if not dest.has_blob(desc):
            with open(blob(desc.digest), "rb") as f:
                dest.put_blob(desc, f)
    dest.put_manifest(manifest)
    dest.commit()
"""


def write_layout(directory: str, tars: list[bytes]) -> int:
    """An OCI layout of ``tars`` (gzip -1); its compressed size."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layers = [gzip.compress(t, compresslevel=1, mtime=0) for t in tars]
    config = image_config(["sha256:" + hashlib.sha256(t).hexdigest() for t in tars])
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(b)}
                   for b in layers]}).encode()
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
             "annotations": {"org.opencontainers.image.ref.name": "latest"}}
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [entry]}, f)
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    return sum(len(b) for b in layers)


def build(tmp: str) -> None:
    """The layout (in a child of its own: the bench process must stay small)."""
    base = layer_of_dir(make_busybox_rootfs(os.path.join(tmp, "rootfs")))
    size = write_layout(os.path.join(tmp, "layout"), [base, *(random_layer(i)
                                                              for i in range(4))])
    print(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--build", metavar="TMP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        return build(args.build)
    tmp = tempfile.mkdtemp(prefix="pbd-")  # podman wants a runroot under 50 characters
    p_env = podman_env(tmp)
    podman = ["podman", "--root", f"{tmp}/proot", "--runroot", f"{tmp}/pr"]
    try:
        size = int(subprocess.run([PYTHON, __file__, "--build", tmp], check=True,
                                  capture_output=True, text=True).stdout)
        layout = os.path.join(tmp, "layout")
        subprocess.run([*podman, "pull", "-q", f"oci:{layout}:latest"], env=p_env,
                       check=True, capture_output=True)
        local = "localhost" + layout + ":latest"  # podman's name for an oci: image
        results: dict[str, list[tuple[float, float, float]]] = {}
        for n in range(args.runs):
            for name in ("pypod destination", "skopeo copy oci: ->", "podman push"):
                # A registry per push: podman and skopeo share a blob info cache, and
                # would mount from each other's repositories in a registry they share.
                registry_dir = os.path.join(tmp, f"registry{n}")
                with run_registry(registry_dir) as registry:
                    dest = f"{registry.host}/bench"
                    argv, env = {
                        "pypod destination": (
                            [PYTHON, "-c", PYPOD_PUSH, layout, f"{dest}/pypod:latest",
                             "1" if args.chunked else "0"], None),
                        "skopeo copy oci: ->": (
                            ["skopeo", "copy", "-q", "--dest-tls-verify=false",
                             f"oci:{layout}:latest", f"docker://{dest}/skopeo:latest"],
                            None),
                        "podman push": (
                            [*podman, "push", "-q", "--tls-verify=false", local,
                             f"docker://{dest}/podman:latest"], p_env),
                    }[name]
                    results.setdefault(name, []).append(run(argv, env))
                shutil.rmtree(registry_dir, ignore_errors=True)
        print(f"runs: {args.runs}; image: {size / 1e6:.1f} MB compressed, 5 layers; "
              f"pypod {'chunked (16 MiB PATCHes)' if args.chunked else 'monolithic PUTs'}")
        print(f"{'runner':24} {'wall s':>8} {'CPU s':>7} {'peak RSS MB':>12}")
        for name, values in results.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[2] for v in values)
            print(f"{name:24} {wall:8.3f} {cpu:7.3f} {max(v[1] for v in values):12.1f}")
        ours = statistics.median(v[0] for v in results["pypod destination"])
        for other in ("skopeo copy oci: ->", "podman push"):
            theirs = statistics.median(v[0] for v in results[other])
            print(f"pypod / {other} = {ours / theirs:.2f} (wall)")
    finally:
        subprocess.run([*podman, "system", "reset", "-f"], env=p_env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
