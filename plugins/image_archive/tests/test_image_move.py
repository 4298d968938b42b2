"""push, save and load within pypod: the transports as run/pull/create read them, the
names podman gives, the policy, and bad input as one line."""

from __future__ import annotations

import io
import json
import os
import tarfile
from typing import Any

import pytest
from archive_helpers import digest_of, oci_files, write_files

from conftest import need_binary, run_pypod
from pypod_core.errors import ImageFormatError, InvalidArgError, PolicyError
from pypod_core.plugin.image_transport import Platform


@pytest.fixture
def rt(make_runtime: Any) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime()


@pytest.fixture
def pypod(cli_flags: list[str], rt: Any) -> Any:
    return lambda *args, **kw: run_pypod(*cli_flags, *args, **kw)


@pytest.fixture
def busybox(rt: Any, busybox_tar: str) -> Any:
    return rt.import_image([busybox_tar], {"config": {"Cmd": ["/bin/sh"],
                                                      "Env": ["WHO=archive"]}},
                           names=["pp/busybox"])


def test_run_and_pull_read_each_transport_with_podmans_names(rt, pypod, busybox, tmp_path):
    targets = {"oci-archive": f"oci-archive:{tmp_path / 'a.tar'}",
               "docker-archive": f"docker-archive:{tmp_path / 'd.tar'}",
               "oci": f"oci:{tmp_path / 'layout'}:v1", "dir": f"dir:{tmp_path / 'dir'}"}
    for name, target in targets.items():
        done = pypod("push", "-q", "pp/busybox", target)
        assert done.returncode == 0, (name, done.stderr)
    rt.remove_image(busybox.id)
    done = pypod("run", "--rm", targets["oci"], "sh", "-c", "echo $WHO")
    assert (done.returncode, done.stdout) == (0, "archive\n"), done.stderr
    assert rt.get_image(busybox.id).names == (f"localhost{tmp_path / 'layout'}:latest",)
    for name in ("docker-archive", "oci-archive", "dir"):
        done = pypod("pull", "-q", targets[name])
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.strip() == busybox.id
    # push without a REF records no name (podman's): the image keeps the oci: name
    assert rt.get_image(busybox.id).names == (f"localhost{tmp_path / 'layout'}:latest",)
    named = pypod("push", "-q", busybox.id, f"docker-archive:{tmp_path / 'n.tar'}:x/y:1")
    assert named.returncode == 0, named.stderr
    loaded = pypod("load", "-q", "-i", str(tmp_path / "n.tar"))
    assert loaded.stdout == "Loaded image: localhost/x/y:1\n"


def test_save_to_stdout_and_load_from_stdin(rt, pypod, cli_flags, busybox, tmp_path):
    import subprocess

    from conftest import PYPOD

    archive = tmp_path / "stdout.tar"
    with open(archive, "wb") as out:
        done = subprocess.run([PYPOD, *cli_flags, "save", "--format", "oci-archive",
                               "pp/busybox"], stdout=out, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    rt.remove_image(busybox.id)
    with open(archive, "rb") as f:
        done = subprocess.run([PYPOD, *cli_flags, "load"], stdin=f, capture_output=True,
                              text=True)
    assert done.stdout == "Loaded image: localhost/pp/busybox:latest\n", done.stderr
    assert "Copying config sha256:" + busybox.id in done.stderr


def test_a_rejecting_policy_refuses_a_load_and_stores_nothing(rt, busybox, tmp_path):
    archive = str(tmp_path / "p.tar")
    rt.save_images(["pp/busybox"], archive)
    rt.remove_image(busybox.id)
    reject = tmp_path / "reject.json"
    reject.write_text(json.dumps({"default": [{"type": "reject"}]}))
    with pytest.raises(PolicyError, match="rejected by policy"):
        rt.load_images(archive, signature_policy=str(reject))
    assert rt.images() == []


def test_bad_input_is_one_typed_error(rt, pypod, busybox, tmp_path):
    with pytest.raises(InvalidArgError, match="only docker-archive"):
        rt.save_images(["pp/busybox", "pp/busybox"], str(tmp_path / "x"),
                       format="oci-archive")
    with pytest.raises(InvalidArgError, match="unsupported format"):
        rt.save_images(["pp/busybox"], str(tmp_path / "x"), format="tar")
    with pytest.raises(InvalidArgError, match="--compress can only be set when --format is "
                                              "'docker-dir'"):
        rt.save_images(["pp/busybox"], str(tmp_path / "x"), format="oci-dir", compress=True)
    with pytest.raises(InvalidArgError, match="cannot hold v2s2"):
        rt.push_image("pp/busybox", f"oci:{tmp_path / 'o'}", format="v2s2")
    with pytest.raises(InvalidArgError, match="compression"):
        rt.push_image("pp/busybox", f"oci:{tmp_path / 'o'}", compression="lz4")
    with pytest.raises(ImageFormatError, match="not an OCI image layout"):
        os.makedirs(tmp_path / "other")
        (tmp_path / "other" / "file").write_text("mine")
        rt.push_image("pp/busybox", f"oci:{tmp_path / 'other'}")
    assert os.listdir(tmp_path / "other") == ["file"]
    done = pypod("load", "-i", str(tmp_path / "nothing"))
    assert (done.returncode, done.stderr) == (
        125, f"Error: stat {tmp_path / 'nothing'}: no such file or directory\n")
    done = pypod("push", "pp/busybox", f"oci:{tmp_path / 'o'}", "--sign-by", "me")
    assert done.returncode == 125 and "--sign-by" in done.stderr
    # a failed archive write leaves no file, not even its temporary one
    with pytest.raises(InvalidArgError):
        rt.push_image("pp/busybox", f"oci-archive:{tmp_path / 'f.tar'}", format="v2s2")
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".f.tar")]
    assert not (tmp_path / "f.tar").exists()


def _layer(name: str) -> bytes:
    """An uncompressed layer tar of one small file."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(name)
        tar.addfile(info, io.BytesIO(name.encode()))
    return out.getvalue()


def _without_member(archive: Any, member: str) -> None:
    kept = archive.with_suffix(".kept")
    with tarfile.open(archive) as src, tarfile.open(kept, "w") as dst:
        for info in src.getmembers():
            if info.name != member:
                dst.addfile(info, src.extractfile(info) if info.isfile() else None)
    os.replace(kept, archive)


def test_load_checks_every_blob_first_and_stores_nothing_when_one_is_missing(
        rt, pypod, busybox, tmp_path):
    """A blob missing from an archive: one line, exit 125, and nothing stored, neither
    an image before the broken one (two in a docker archive, the second's layer gone)
    nor a layer below the missing one (an OCI archive of two layers, the top one gone):
    every blob is looked for before anything is pulled."""
    layers = [_layer("one"), _layer("two")]
    (tmp_path / "small.tar").write_bytes(layers[0])
    small = rt.import_image([str(tmp_path / "small.tar")], {}, names=["pp/small"])
    docker = tmp_path / "two.tar"
    rt.save_images(["pp/busybox", "pp/small"], str(docker))
    with tarfile.open(docker) as tar:
        gone = json.loads(tar.extractfile("manifest.json").read())[1]["Layers"][0]
    _without_member(docker, gone)
    host = Platform.host()
    config = json.dumps({"architecture": host.architecture, "os": host.os, "rootfs": {
        "type": "layers", "diff_ids": [digest_of(d) for d in layers]}}).encode()
    files = oci_files("x/two:1", [(d, "application/vnd.oci.image.layer.v1.tar")
                                  for d in layers], config)
    del files["blobs/sha256/" + digest_of(layers[1])[7:]]
    oci = tmp_path / "oci.tar"
    write_files(files, str(oci), True)
    for image in (busybox, small):
        rt.remove_image(image.id)
    assert list(rt.image_store.driver.layers()) == []
    for path, missing in ((docker, gone), (oci, digest_of(layers[1]))):
        done = pypod("load", "-q", "-i", str(path))
        assert done.returncode == 125, done.stderr
        assert done.stderr.startswith("Error: ") and missing in done.stderr, done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "Loaded image" not in done.stdout
        assert rt.images() == []
        assert list(rt.image_store.driver.layers()) == []
