"""Image commands side by side: Debian's podman 4.3.1 and pypod, each on a fresh store
of its own holding the same images (imported by ``podman import`` and ``runtime.import_image``:
the busybox rootfs as one layer; the 50-image store's images a small layer each).
Rows: ``images`` with 1 and with 50 images (table and JSON),
``image inspect``, ``tag``, ``rmi`` of an image whose layer goes with it; and, where
this build of pypod has them, ``pull`` of busybox from a local registry into a fresh
store, ``run --rm --network none IMAGE true``, ``save``/``load`` of the ~85 MB image
(oci-archive and docker-archive) and ``commit -q`` of a container that wrote 10 MB (the
hooks say why they are skipped otherwise).  Prints medians (wall and CPU) and
pypod/podman; asserts nothing.

    .venv/bin/python bench/bench_images.py [--runs 15] [--images 50] [--pypod-only]
        [--only pull|run|save-load|commit]

The two tools take turns within each round, so a machine busy with something else
slows them alike.  pypod runs with bytecode caching allowed, as bench_run's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")

from bench_run import podman_env, pypod_env  # noqa: E402

#: One round's command: made fresh each time (a new tag name, a new image to remove),
#: with what must happen before it that is not timed.
Step = Callable[[int], Sequence[str]]


class Tool:
    """One side of the comparison: its command prefix on its own store, and its env."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str],
                 runtime: object = None):
        self.name, self.argv, self.env = name, argv, env
        #: pypod's: a Runtime on the same store, to import images with.
        self.runtime: Any = runtime

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([*self.argv, *args], env=self.env, capture_output=True)
        if check and proc.returncode != 0:
            raise SystemExit(f"{self.name} {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode()}")
        return proc


def timed(tool: Tool, args: Sequence[str]) -> tuple[float, float]:
    """Wall and CPU ms (user + system of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    tool.run(*args)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, cpu


def layer_tar(rootfs: str, path: str) -> str:
    """The busybox rootfs as one uncompressed layer tar (numeric owners, as images)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, entry), arcname=entry)
    return path


def small_tar(path: str, text: str) -> str:
    """A one-file layer (an image of its own for each ``rmi`` round)."""
    import io

    data = text.encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("etc/round")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


# -- the stores ----------------------------------------------------------------------------


def pypod_store(tmp: str, name: str) -> Tool:
    """A pypod store under ``tmp/name``, with a runtime on it to import images with."""
    from pypod_core.engine.runtime import new_runtime

    root, run = os.path.join(tmp, name, "root"), os.path.join(tmp, name, "run")
    return Tool("pypod", [PYPOD, "--root", root, "--runroot", run], pypod_env(),
                new_runtime(graph_root=root, run_root=run))


def podman_store(tmp: str, name: str) -> Tool:
    root = os.path.join(tmp, name)
    return Tool("podman", ["podman", "--root", f"{root}/root", "--runroot", f"{root}/run",
                           "--tmpdir", f"{root}/tmp", "--storage-driver", "overlay"],
                podman_env(tmp))


def fill(tools: dict[str, Tool], tars: Sequence[str]) -> None:
    """An image in each store for each of ``tars`` (one layer each), named
    ``bench/img<i>`` and labelled ``n=<i>``."""
    for i, tar in enumerate(tars):
        for tool in tools.values():
            if tool.runtime is not None:
                tool.runtime.import_image(
                    [tar], {"config": {"Cmd": ["/bin/sh"], "Labels": {"n": str(i)}}},
                    names=[f"bench/img{i}"])
            else:
                tool.run("import", "-q", "--change", 'CMD ["/bin/sh"]',
                         "--change", f"LABEL n={i}", tar, f"bench/img{i}")


# -- rows ------------------------------------------------------------------------------------


def compare(label: str, sides: dict[str, Tool], step: Step, runs: int,
            before: Callable[[str, int], None] | None = None
            ) -> list[tuple[str, str, float, float]]:
    """Median wall and CPU of ``step`` for each side, taking turns; ``before(side,
    round)`` prepares a round (not timed)."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for name, tool in sides.items():  # warm up: bytecode, page cache
        if before:
            before(name, -1)
        timed(tool, step(-1))
    for i in range(runs):
        for name, tool in sides.items():
            if before:
                before(name, i)
            times[name].append(timed(tool, step(i)))
    return [(label, name, statistics.median(t[0] for t in ts),
             statistics.median(t[1] for t in ts)) for name, ts in times.items()]


def report(rows: list[tuple[str, str, float, float]]) -> None:
    """Print operation, tool, wall and CPU medians, and pypod/podman of each."""
    print(f"{'operation':<34}{'tool':<8}{'wall ms':>9}{'cpu ms':>9}{'wall ratio':>12}"
          f"{'cpu ratio':>11}")
    podman = {label: (wall, cpu) for label, tool, wall, cpu in rows if tool == "podman"}
    for label, tool, wall, cpu in rows:
        ratios = ["", ""]
        if tool == "pypod" and label in podman:
            ratios = [f"{wall / podman[label][0]:.2f}", f"{cpu / podman[label][1]:.2f}"]
        print(f"{label:<34}{tool:<8}{wall:>9.1f}{cpu:>9.1f}{ratios[0]:>12}{ratios[1]:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--move-runs", type=int, default=3,
                        help="rounds of the save and load rows (each moves ~85 MB)")
    parser.add_argument("--pypod-only", action="store_true",
                        help="no podman (its rows are left out)")
    parser.add_argument("--only", choices=sorted(HOOKS),
                        help="only this hook's row (on the 1-image stores)")
    args = parser.parse_args()
    if not args.pypod_only and not shutil.which("podman"):
        raise SystemExit("podman is not installed (or use --pypod-only)")
    from pypod_core.host.rootfs import make_busybox_rootfs

    # A short path: podman refuses a runroot longer than 50 characters.
    # The suffix: an oci: layout is named after its path, and a path part may not end
    # in a separator ("_") in an image name.
    tmp = tempfile.mkdtemp(prefix="pbi-", suffix="x")
    try:
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        tar = layer_tar(rootfs, os.path.join(tmp, "busybox.tar"))
        if args.only:
            only_stores(tmp, tar, args)
        else:
            rows = run_rows(tmp, tar, rootfs, args)
            print(f"{args.runs} rounds; busybox layer {os.path.getsize(tar) / 1e6:.1f} MB")
            report(rows)
        for line in hooks(tmp, rootfs, args):
            print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def only_stores(tmp: str, tar: str, args: argparse.Namespace) -> None:
    """The 1-image stores the hooks use, without the rows on them (``--only``)."""
    sides = {"pypod": pypod_store(tmp, "pypod-one")}
    if not args.pypod_only:
        sides["podman"] = podman_store(tmp, "podman-one")
    fill(sides, [tar])


def run_rows(tmp: str, tar: str, rootfs: str, args: argparse.Namespace
             ) -> list[tuple[str, str, float, float]]:
    """The rows on the image store: listing, inspecting, tagging, removing."""
    sides1 = {"pypod": pypod_store(tmp, "pypod-one")}
    sides50 = {"pypod": pypod_store(tmp, "pypod-many")}
    if not args.pypod_only:
        sides1["podman"] = podman_store(tmp, "podman-one")
        sides50["podman"] = podman_store(tmp, "podman-many")
    fill(sides1, [tar])
    # A layer of its own for each image: podman 4.3.1's images takes 1.6 s for 50
    # images that share their one layer (it works out which image is whose parent),
    # 0.1 s for 50 that do not, the usual case.
    fill(sides50, [small_tar(os.path.join(tmp, f"layer{i}.tar"), f"image {i}\n")
                   for i in range(args.images)])
    n = args.images
    rows = compare("images (1 image)", sides1, lambda i: ["images"], args.runs)
    rows += compare(f"images ({n} images)", sides50, lambda i: ["images"], args.runs)
    rows += compare(f"images --format json ({n})", sides50,
                    lambda i: ["images", "--format", "json"], args.runs)
    rows += compare("image inspect", sides1, lambda i: ["image", "inspect", "bench/img0"],
                    args.runs)
    rows += compare("tag", sides1, lambda i: ["tag", "bench/img0", f"bench/tag{i + 1}"],
                    args.runs)

    def fresh_image(side: str, i: int) -> None:
        layer = small_tar(os.path.join(tmp, f"round-{side}-{i}.tar"), f"{side} {i}\n")
        if side == "pypod":
            sides1[side].runtime.import_image([layer], names=[f"bench/rm{i + 1}"])
        else:
            sides1[side].run("import", "-q", layer, f"bench/rm{i + 1}")

    rows += compare("rmi (its layer too)", sides1, lambda i: ["rmi", f"bench/rm{i + 1}"],
                    args.runs, before=fresh_image)
    # What every pypod command pays before its own work, for scale: ps on the same
    # store, and a Python that has imported the two libraries pypod's design requires.
    rows += compare("ps (pypod's every-command cost)", {"pypod": sides1["pypod"]},
                    lambda i: ["ps"], args.runs)
    floor = Tool("pypod", [os.path.join(REPO, ".venv", "bin", "python"), "-c",
                           "import pluggy, attrs"], pypod_env())
    rows += compare("floor: python, pluggy, attrs", {"pypod": floor}, lambda i: [],
                    args.runs)
    return rows


# -- hooks: rows that need what this build of pypod may not have yet --------------------------


def hooks(tmp: str, rootfs: str, args: argparse.Namespace) -> list[str]:
    """The pull and ``run --rm IMAGE`` rows, or why each is skipped."""
    lines = []
    for key, (label, hook) in HOOKS.items():
        if args.only and key != args.only:
            continue
        try:
            rows = hook(tmp, rootfs, args)
        except Skipped as why:
            lines.append(f"{label}: skipped: {why}")
            continue
        report(rows)
    return lines


class Skipped(Exception):
    """A hook's row cannot be measured with this build (the message says why)."""


def bench_pull(tmp: str, rootfs: str, args: argparse.Namespace
               ) -> list[tuple[str, str, float, float]]:
    """``pull --tls-verify=false`` of busybox from a local docker-registry, each run into
    a fresh store of each tool."""
    from pypod_core.engine.runtime import Runtime

    if not hasattr(Runtime, "pull_image"):
        raise Skipped("this pypod has no Runtime.pull_image yet")
    sys.path.insert(0, os.path.join(REPO, "plugins", "image_registry", "tests"))
    import gzip

    import registry_helpers as helpers

    with open(layer_tar(rootfs, os.path.join(tmp, "pull.tar")), "rb") as f:
        raw = f.read()
    with helpers.run_registry(os.path.join(tmp, "registry")) as registry:
        config = helpers.image_config([helpers.digest_of(raw)])
        registry.push_image("bench/busybox", "latest",
                            [(gzip.compress(raw, 6), helpers.LAYER_GZIP)], config)
        ref = f"{registry.host}/bench/busybox:latest"
        sides: dict[str, Tool] = {}
        counter = iter(range(10**6))

        def fresh(side: str, i: int) -> None:
            # in place: compare() holds the Tool while it calls this (a new Tool here
            # would leave podman pulling into its first store, finding the image there)
            k = next(counter)
            if side == "pypod":
                root = os.path.join(tmp, f"pull-pypod-{k}")
                sides[side].argv = [PYPOD, "--root", f"{root}/root", "--runroot",
                                    f"{root}/run"]
            else:
                sides[side].argv = podman_store(tmp, f"pp{k}").argv

        sides["pypod"] = Tool("pypod", [], pypod_env())
        if not args.pypod_only:
            sides["podman"] = podman_store(tmp, "pull-podman")
        return compare("pull busybox (fresh store)", sides,
                       lambda i: ["pull", "-q", "--tls-verify=false", ref], args.runs,
                       before=fresh)


def bench_run_image(tmp: str, rootfs: str, args: argparse.Namespace
                    ) -> list[tuple[str, str, float, float]]:
    """``run --rm --network none IMAGE true`` on the 1-image stores (the image's layer
    mounted per run), beside pypod's own ``--rootfs`` run."""
    tool = pypod_store(tmp, "pypod-one")
    probe = tool.run("run", "--rm", "--network", "none", "bench/img0", "true", check=False)
    if probe.returncode != 0:
        first = (probe.stderr.decode().strip().splitlines() or ["?"])[0]
        raise Skipped(f"pypod cannot run an image yet ({first})")
    sides: dict[str, Tool] = {"pypod": tool}
    if not args.pypod_only:
        sides["podman"] = podman_store(tmp, "podman-one")
    rows = compare("run --rm --network none IMAGE true", sides,
                   lambda i: ["run", "--rm", "--network", "none", "bench/img0", "true"],
                   args.runs)
    rows += compare("run --rm --network none --rootfs", {"pypod": tool},
                    lambda i: ["run", "--rm", "--network", "none", "--rootfs", rootfs,
                               "true"], args.runs)
    return rows


def big_layout(tmp: str, rootfs: str) -> str:
    """bench_pull's ``big`` image (busybox and four layers of 20 MiB random data, gzip
    -1, ~85 MB) as an OCI layout, written here offline; its path."""
    import gzip
    import hashlib
    import json

    sys.path.insert(0, os.path.join(REPO, "bench"))
    from bench_pull_fetch import layer_of_dir, random_layer

    layout = os.path.join(tmp, "big-layout")
    os.makedirs(os.path.join(layout, "blobs", "sha256"))

    def blob(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    tars = [layer_of_dir(rootfs), *(random_layer(i) for i in range(4))]
    layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
               **blob(gzip.compress(t, compresslevel=1, mtime=0))} for t in tars]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [
                             "sha256:" + hashlib.sha256(t).hexdigest() for t in tars]}})
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **blob(config.encode())},
                           "layers": layers}).encode()
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    return layout


def bench_save_load(tmp: str, rootfs: str, args: argparse.Namespace
                    ) -> list[tuple[str, str, float, float]]:
    """``save -o`` of the big image (oci-archive, docker-archive) from a store holding
    it, and ``load -i`` of podman's archive of it into a fresh store each round."""
    from pypod_core.engine.runtime import Runtime

    if not hasattr(Runtime, "save_images"):
        raise Skipped("this pypod has no Runtime.save_images yet")
    layout = big_layout(tmp, rootfs)
    sides: dict[str, Tool] = {"pypod": pypod_store(tmp, "move-pypod")}
    if not args.pypod_only:
        sides["podman"] = podman_store(tmp, "move-podman")
    for tool in sides.values():
        tool.run("pull", "-q", f"oci:{layout}:latest")
        tool.run("tag", f"localhost{layout}:latest", "bench/big")
    reference = sides.get("podman", sides["pypod"])
    rows: list[tuple[str, str, float, float]] = []
    counter = iter(range(10**6))
    for fmt in ("oci-archive", "docker-archive"):
        out = os.path.join(tmp, f"out.{fmt}")

        def clean(side: str, i: int, out: str = out) -> None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)  # podman refuses to add to an existing docker archive

        rows += compare(f"save {fmt} (85 MB)", sides,
                        lambda i, out=out, fmt=fmt: ["save", "-q", "--format", fmt, "-o",
                                                     out, "bench/big"],
                        args.move_runs, before=clean)
        archive = os.path.join(tmp, f"in.{fmt}")
        reference.run("save", "-q", "--format", fmt, "-o", archive, "bench/big")
        fresh_sides: dict[str, Tool] = {name: Tool(name, [], tool.env)
                                        for name, tool in sides.items()}

        def fresh(side: str, i: int, tools: dict[str, Tool] = fresh_sides) -> None:
            # in place: compare() holds the Tool while it calls this
            k = next(counter)
            if side == "pypod":
                root = os.path.join(tmp, f"load-pypod-{k}")
                tools[side].argv = [PYPOD, "--root", f"{root}/root", "--runroot",
                                    f"{root}/run"]
            else:
                tools[side].argv = podman_store(tmp, f"lp{k}").argv

        rows += compare(f"load {fmt} (85 MB)", fresh_sides,
                        lambda i, archive=archive: ["load", "-q", "-i", archive],
                        args.move_runs, before=fresh)
    return rows


def bench_commit(tmp: str, rootfs: str, args: argparse.Namespace
                 ) -> list[tuple[str, str, float, float]]:
    """``commit -q CTR IMAGE`` of a stopped container that wrote 10 MB of random bytes
    over the 1-image stores' busybox (a fresh container each round, not timed)."""
    tool = pypod_store(tmp, "pypod-one")
    probe = tool.run("commit", "--help", check=False)
    if probe.returncode != 0:
        raise Skipped("this pypod has no commit yet")
    sides: dict[str, Tool] = {"pypod": tool}
    if not args.pypod_only:
        sides["podman"] = podman_store(tmp, "podman-one")
    script = "head -c 10000000 /dev/urandom > /big"

    def fresh(side: str, i: int) -> None:
        sides[side].run("run", "--name", f"commit{i + 1}", "--network", "none",
                        "bench/img0", "sh", "-c", script)

    return compare("commit (a 10 MB change)", sides,
                   lambda i: ["commit", "-q", f"commit{i + 1}", f"bench/commit{i + 1}"],
                   args.runs, before=fresh)


#: The hooks by the name ``--only`` takes: their label and function.
HOOKS: dict[str, tuple[str, Callable[[str, str, argparse.Namespace],
                                     list[tuple[str, str, float, float]]]]] = {
    "pull": ("pull busybox (fresh store)", bench_pull),
    "run": ("run --rm --network none IMAGE true", bench_run_image),
    "save-load": ("save/load of the ~85 MB image", bench_save_load),
    "commit": ("commit (a 10 MB change)", bench_commit),
}


if __name__ == "__main__":
    main()
