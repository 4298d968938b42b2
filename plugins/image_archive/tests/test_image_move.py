"""push, save and load within pypod: the transports as run/pull/create read them, the
names podman gives, the policy, and bad input as one line."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.errors import ImageFormatError, InvalidArgError, PolicyError


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
