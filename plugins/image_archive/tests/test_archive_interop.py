"""Archives and layouts exchanged with the real tools: Debian's podman 4.3.1 (on a
private store, with the containers.conf bench/bench_run.py writes) and skopeo 1.9.

pypod save (each format) -> podman load, skopeo inspect; podman save (each format) ->
pypod load -> pypod run; oci: layouts written by skopeo read by pypod and the other
way round; the digests equal on both sides where the format keeps them (a docker
archive keeps only the config, so only the image id survives it)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary, run_pypod

FORMATS = ("docker-archive", "oci-archive", "oci-dir", "docker-dir")
#: The skopeo/podman transport that reads what each ``save --format`` wrote.
TRANSPORT = {"docker-archive": "docker-archive", "oci-archive": "oci-archive",
             "oci-dir": "oci", "docker-dir": "dir"}


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Any]:
    """``podman(*args)`` on a private store (vfs: no mounts to clean up), runc."""
    need_binary("podman", "podman")
    run = tempfile.mkdtemp(prefix="pp-")  # short: podman wants a short runroot
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    command = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run,
               "--storage-driver", "vfs"]

    def podman(*args: str) -> str:
        done = subprocess.run([*command, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    try:
        yield podman
    finally:
        subprocess.run([*command, "rmi", "-a", "-f"], capture_output=True, env=env)
        subprocess.run(["rm", "-rf", run], check=False)


def skopeo(*args: str) -> str:
    need_binary("skopeo", "skopeo")
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


@pytest.fixture
def rt(make_runtime: Any) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime()


@pytest.fixture
def pypod(cli_flags: list[str], rt: Any) -> Any:
    def pypod(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args)
    return pypod


@pytest.fixture
def busybox(rt: Any, busybox_tar: str) -> Any:
    """busybox imported into pypod (one uncompressed layer)."""
    return rt.import_image([busybox_tar], {"config": {"Cmd": ["/bin/sh"]}},
                           names=["pp/busybox"])


def podman_id(podman: Any, name: str) -> str:
    return podman("images", "--no-trunc", "--format", "{{.Id}}", name).strip() \
        .removeprefix("sha256:")


@pytest.mark.parametrize("fmt", FORMATS)
def test_pypod_save_loads_in_podman_with_the_same_id(rt, podman, busybox, tmp_path, fmt):
    out = str(tmp_path / f"saved-{fmt}")
    rt.save_images(["pp/busybox"], out, format=fmt)
    loaded = podman("load", "-q", "-i", out)
    assert "Loaded image" in loaded
    if fmt in ("docker-archive", "oci-archive"):  # these formats carry the name
        assert "localhost/pp/busybox:latest" in loaded
        assert podman_id(podman, "localhost/pp/busybox:latest") == busybox.id
    else:
        ids = podman("images", "-q", "--no-trunc").split()
        assert "sha256:" + busybox.id in ids
    ref = f"{TRANSPORT[fmt]}:{out}"
    inspected = json.loads(skopeo("inspect", ref))
    assert len(inspected["Layers"]) == 1
    config = json.loads(skopeo("inspect", "--config", ref))
    assert config["config"]["Cmd"] == ["/bin/sh"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_podman_save_loads_in_pypod_and_runs(rt, pypod, podman, busybox_tar, tmp_path, fmt):
    podman("import", "--change", 'CMD=["/bin/sh"]', "--change", "ENV=GREETING=hi",
           busybox_tar, "localhost/from/podman:1")
    theirs = podman_id(podman, "localhost/from/podman:1")
    out = str(tmp_path / f"podman-{fmt}")
    podman("save", "-q", "--format", fmt, "-o", out, "localhost/from/podman:1")
    done = pypod("load", "-i", out)
    assert done.returncode == 0, done.stderr
    image = rt.get_image("sha256:" + theirs)
    if fmt == "docker-dir":
        assert done.stdout == f"Loaded image: sha256:{theirs}\n"  # dir: has no name
    elif fmt == "oci-dir":
        assert done.stdout == f"Loaded image: localhost{out}:latest\n"
    else:
        assert done.stdout == "Loaded image: localhost/from/podman:1\n"
        assert "localhost/from/podman:1" in image.names
    assert "Copying blob" in done.stderr and "Writing manifest" in done.stderr
    if fmt != "docker-archive":  # the others carry the manifest: its digest survives
        assert image.digest == json.loads(skopeo("inspect", f"{TRANSPORT[fmt]}:{out}"))[
            "Digest"]
    ran = pypod("run", "--rm", theirs, "sh", "-c", "echo $GREETING")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr


def test_several_images_in_one_docker_archive_both_ways(rt, pypod, podman, busybox,
                                                        busybox_tar, tmp_path):
    rt.tag_image("pp/busybox", "pp/second:2")
    ours = str(tmp_path / "ours.tar")
    other = rt.import_image([busybox_tar], {"config": {"Cmd": ["/bin/true"]}},
                            names=["pp/other"])
    done = pypod("save", "-q", "-m", "-o", ours, "pp/busybox", "pp/other")
    assert done.returncode == 0, done.stderr
    loaded = podman("load", "-q", "-i", ours)
    assert "localhost/pp/busybox:latest" in loaded and "localhost/pp/other:latest" in loaded
    assert podman_id(podman, "localhost/pp/other:latest") == other.id
    theirs = str(tmp_path / "theirs.tar")
    podman("save", "-q", "-m", "-o", theirs, "localhost/pp/busybox:latest",
           "localhost/pp/other:latest")
    rt.remove_image(other.id, force=True)
    rt.remove_image(busybox.id, force=True)
    done = pypod("load", "-q", "-i", theirs)
    assert done.stdout.splitlines() == ["Loaded image: localhost/pp/busybox:latest",
                                        "Loaded image: localhost/pp/other:latest"]
    assert {i.id for i in rt.images()} == {busybox.id, other.id}


def test_skopeo_layouts_read_by_pypod_and_pypod_layouts_by_skopeo(rt, podman,
                                                                  busybox_tar, tmp_path):
    """A gzip-layered image from skopeo's oci: layout, pulled by pypod, saved and
    pushed to layouts again keeps its manifest digest: the blobs are the same bytes."""
    podman("import", "--change", 'CMD=["/bin/sh"]', busybox_tar, "localhost/sk/bb:1")
    archive = str(tmp_path / "podman.tar")
    podman("save", "-q", "-o", archive, "localhost/sk/bb:1")
    layout = tmp_path / "skopeo-layout"
    skopeo("copy", "-q", f"docker-archive:{archive}", f"oci:{layout}:v1")
    original = json.loads(skopeo("inspect", f"oci:{layout}:v1"))
    image = rt.pull_image(f"oci:{layout}:v1")
    assert image.names == (f"localhost{layout}:latest",)  # podman's naming
    assert image.id == podman_id(podman, "localhost/sk/bb:1")
    assert image.digest == original["Digest"]
    ours = tmp_path / "pypod-layout"
    pushed = rt.push_image(image.id, f"oci:{ours}:v2")
    assert pushed.digest == original["Digest"]
    again = json.loads(skopeo("inspect", f"oci:{ours}:v2"))
    assert (again["Digest"], again["Layers"]) == (original["Digest"], original["Layers"])
    saved = str(tmp_path / "pypod-oci.tar")
    rt.save_images([image.id], saved, format="oci-archive")
    assert json.loads(skopeo("inspect", f"oci-archive:{saved}"))["Digest"] == \
        original["Digest"]
    # and skopeo copies pypod's layout on, to a dir: pypod reads back
    skopeo("copy", "-q", f"oci:{ours}:v2", f"dir:{tmp_path / 'via-skopeo'}")
    back = rt.pull_image(f"dir:{tmp_path / 'via-skopeo'}")
    assert back.id == image.id and back.digest == original["Digest"]


def test_push_converts_formats_and_compresses_uncompressed_layers(rt, busybox, tmp_path):
    """The stored manifest (OCI, one uncompressed layer) goes unchanged to dir:; to an
    oci: layout the layer is gzip-compressed (zstd when asked); --format v2s2 writes a
    Docker manifest."""
    plain = rt.push_image("pp/busybox", f"dir:{tmp_path / 'plain'}")
    assert plain.digest == busybox.digest
    v2s2 = rt.push_image("pp/busybox", f"dir:{tmp_path / 'v2s2'}", format="v2s2")
    doc = json.loads((tmp_path / "v2s2" / "manifest.json").read_bytes())
    assert doc["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert doc["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar"
    assert v2s2.digest != busybox.digest
    for compression, kind in (("", "tar+gzip"), ("zstd", "tar+zstd")):
        target = tmp_path / f"oci-{compression or 'gzip'}"
        rt.push_image("pp/busybox", f"oci:{target}", compression=compression)
        inspected = json.loads(skopeo("inspect", "--raw", f"oci:{target}"))
        assert inspected["layers"][0]["mediaType"] == f"application/vnd.oci.image.layer.v1.{kind}"
        assert rt.pull_image(f"oci:{target}").id == busybox.id


def test_a_truncated_or_foreign_archive_is_one_line_and_stores_nothing(
        rt, pypod, busybox, tmp_path):
    good = str(tmp_path / "good.tar")
    rt.save_images(["pp/busybox"], good, format="oci-archive")
    rt.remove_image(busybox.id)
    data = open(good, "rb").read()
    cases = {"truncated.tar": (data[: len(data) // 2], "truncated archive"),
             "foreign.tar": (b"not an archive\n" * 100, "does not match any of the "
                                                        "supported image formats")}
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        done = pypod("load", "-i", str(path))
        assert done.returncode == 125
        assert done.stderr.startswith("Error: ") and message in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert rt.images() == []


def test_save_refuses_a_terminal_and_a_missing_blob_is_one_line(rt, pypod, cli_flags,
                                                               busybox, tmp_path):
    import pty

    main, side = pty.openpty()
    try:
        done = subprocess.run([PYPOD, *cli_flags, "save", "pp/busybox"], stdout=side,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(main)
        os.close(side)
    assert done.returncode == 125
    assert done.stderr == "Error: refusing to save to terminal. Use -o flag or redirect\n"
    os.unlink(rt.image_store.blob_path(busybox.layers[0].digest))
    done = pypod("push", "pp/busybox", f"oci:{tmp_path / 'x'}")
    assert done.returncode == 125
    assert done.stderr.strip() == (
        f"Error: image {busybox.short_id}: layer blob {busybox.layers[0].digest} is not "
        "in the image store (pull the image again to copy it)")
    assert not (tmp_path / "x" / "index.json").exists()


def _layer_types(fmt: str, out: str) -> list[str]:
    raw = json.loads(skopeo("inspect", "--raw", f"{TRANSPORT[fmt]}:{out}"))
    return [layer["mediaType"] for layer in raw["layers"]]


def test_save_compress_and_uncompressed_as_podmans(rt, pypod, podman, busybox, busybox_tar,
                                                   tmp_path):
    """An image stored with an uncompressed layer (imported): docker-dir keeps it so
    and gzips it with --compress, an OCI layout gzips it unless --uncompressed; the
    same layer types podman's save writes, and each reads back as the same image."""
    podman("import", busybox_tar, "localhost/from/podman:1")
    cases = {"plain": ("docker-dir", []), "gz": ("docker-dir", ["--compress"]),
             "oci": ("oci-dir", []), "ocitar": ("oci-dir", ["--uncompressed"]),
             "ociarch": ("oci-archive", ["--uncompressed"])}
    for case, (fmt, flags) in cases.items():
        ours, theirs = str(tmp_path / f"ours-{case}"), str(tmp_path / f"theirs-{case}")
        done = pypod("save", "-q", "--format", fmt, *flags, "-o", ours, "pp/busybox")
        assert done.returncode == 0, done.stderr
        podman("save", "-q", "--format", fmt, *flags, "-o", theirs, "localhost/from/podman:1")
        assert _layer_types(fmt, ours) == _layer_types(fmt, theirs), case
    assert _layer_types("docker-dir", str(tmp_path / "ours-gz")) == [
        "application/vnd.docker.image.rootfs.diff.tar.gzip"]
    assert _layer_types("oci-dir", str(tmp_path / "ours-ocitar")) == [
        "application/vnd.oci.image.layer.v1.tar"]
    # --uncompressed takes the stored manifest (OCI, uncompressed layer) as it is
    assert json.loads(skopeo("inspect", f"oci:{tmp_path / 'ours-ocitar'}"))["Digest"] == \
        busybox.digest
    for case, (fmt, _) in cases.items():  # after the saves: a pull keeps its manifest
        assert rt.pull_image(f"{TRANSPORT[fmt]}:{tmp_path / f'ours-{case}'}").id == busybox.id
    for fmt in ("docker-archive", "oci-dir"):  # podman's words, before anything is written
        out = tmp_path / f"refused-{fmt}"
        done = pypod("save", "--compress", "--format", fmt, "-o", str(out), "pp/busybox")
        assert (done.returncode, done.stderr) == (
            125, "Error: --compress can only be set when --format is 'docker-dir'\n")
        assert not out.exists()
