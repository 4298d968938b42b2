"""commit, export and import from Python, on real overlay mounts (and vfs) under real
runc: a container's additions, changes and deletions (a whole directory too) become a
layer of a new image whose containers see them; export -> import round trips; history
rows; prune; the disk usage against the real sizes; failures that store nothing.

What podman 4.3.1 did with the same steps is in each docstring.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core.errors import InvalidArgError, InvalidLayerError, PypodError

CHANGE = ("echo new > /added; echo changed > /etc/motd; rm /etc/profile; "
          "rm -rf /usr/share; mkdir /newdir; echo deep > /newdir/f")
CHECK = ("cat /added /etc/motd /newdir/f; test -e /etc/profile && echo profile; "
         "test -e /usr/share && echo share; test -d /usr && echo usr")


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")


def run(rt: Any, image: str, script: str, name: str | None = None, keep: bool = False,
        **fields: Any) -> tuple[Any, str]:
    """Run ``sh -c script`` in ``image`` attached; the container (removed unless
    ``keep``) and its stdout (exit code 0)."""
    ctr = rt.create_container(image=image, name=name, entrypoint=[],
                              command=["sh", "-c", script], **fields)
    out, err = io.BytesIO(), io.BytesIO()
    code = ctr.start_attached(out, err)
    assert code == 0, err.getvalue()
    if not keep:
        rt.remove_container(ctr)
    return ctr, out.getvalue().decode()


@pytest.fixture
def base(busybox_tar: str, tmp_path: Path) -> str:
    """The busybox layer with /etc/motd, /etc/profile and /usr/share/x added."""
    path = tmp_path / "base.tar"
    with tarfile.open(busybox_tar) as src, tarfile.open(path, "w") as out:
        for member in src:
            out.addfile(member, src.extractfile(member) if member.isreg() else None)
        for name, data in (("etc/motd", b"old\n"), ("etc/profile", b"p\n"),
                           ("usr/share/x", b"x\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
def test_commit_keeps_additions_changes_and_deletions(make_runtime, base, driver):
    """podman: the committed image's containers see /added, the new motd and /newdir,
    and neither /etc/profile nor /usr/share; the history's new row says ``/bin/sh``,
    ``FROM localhost/base:latest``."""
    rt = make_runtime(graph_driver=driver)
    rt.import_image([base], {"config": {"Cmd": ["sh"]}}, names=["base"])
    ctr, _ = run(rt, "base", CHANGE, name="changer", keep=True)
    image = rt.commit_container(ctr, "committed", author="Me",
                                changes=["ENV FOO=bar", "LABEL a=b", 'CMD ["sh"]'])
    assert image.names == ("localhost/committed:latest",)
    assert rt.graph_driver.name == driver
    _, out = run(rt, "committed", CHECK + "; echo $FOO")
    assert out.split() == ["new", "changed", "deep", "usr", "bar"]
    cfg = image.run_config
    assert cfg["Labels"] == {"a": "b"} and cfg["Cmd"] == ["sh"]
    assert image.config["author"] == "Me"
    rows = rt.image_history("committed")
    assert [r.created_by for r in rows][0] == "/bin/sh"
    assert rows[0].comment == "FROM localhost/base:latest" and rows[0].id == image.id
    assert rows[1].id == rt.get_image("base").id  # base's own top layer: its id
    # Every blob the record names is in the store: push and save copy from it.
    for digest in (image.digest, "sha256:" + image.id, *(x.digest for x in image.layers)):
        assert os.path.exists(rt.image_store.blob_path(digest)), digest
    top = image.layers[-1]
    assert top.media_type == "application/vnd.oci.image.layer.v1.tar"
    with open(rt.image_store.blob_path(top.digest), "rb") as f, tarfile.open(fileobj=f) as t:
        names = set(t.getnames())
    assert {"added", "etc/motd", "etc/.wh.profile", "usr/.wh.share", "newdir/f"} <= names


def test_commit_of_a_running_container_with_pause_and_docker_format(make_runtime, base):
    """podman: ``commit -p`` of a running container pauses it and lets it run on;
    ``-m`` needs ``-f docker`` (``messages are only compatible with the docker image
    format (-f docker)``) and becomes the config's comment."""
    rt = make_runtime()
    rt.import_image([base], {"config": {"Cmd": ["sh"]}}, names=["base"])
    ctr = rt.create_container(image="base", command=["sh", "-c", "echo hi > /f; sleep 60"])
    ctr.start()
    try:
        with pytest.raises(InvalidArgError, match="only compatible with the docker"):
            rt.commit_container(ctr, "x", message="m")
        image = rt.commit_container(ctr, "", pause=True, message="m", format="docker")
        assert ctr.sync().state.state == "running"
        assert image.names == () and image.config["comment"] == "m"
        assert image.manifest_type == "application/vnd.docker.distribution.manifest.v2+json"
    finally:
        rt.remove_container(ctr, force=True)
    _, out = run(rt, image.id, "cat /f")
    assert out == "hi\n"


#: ``security.capability`` granting cap_net_raw, effective (``setcap cap_net_raw=ep``).
NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
def test_commit_keeps_file_capabilities_and_user_xattrs(make_runtime, base, tmp_path,
                                                        driver):
    """A file capability set in a container survives commit (pax SCHILY.xattr records,
    as containers/storage writes them) and the new image's extraction."""
    rt = make_runtime(graph_driver=driver)
    rt.import_image([base], {"config": {"Cmd": ["sh"]}}, names=["base"])
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    os.setxattr(tool, "security.capability", NET_RAW_EP)
    os.setxattr(tool, "user.origin", b"host")
    ctr = rt.create_container(image="base", command=["true"])
    ctr.copy_in(str(tool), "/bin/tool")
    image = rt.commit_container(ctr, "with-caps")
    again = rt.create_container(image=image.id, command=["true"])
    out = tmp_path / "out"
    again.copy_out("/bin/tool", str(out))
    assert os.getxattr(out, "security.capability") == NET_RAW_EP
    assert os.getxattr(out, "user.origin") == b"host"


def test_commit_failures_store_nothing(make_runtime, base, rootfs):
    """podman: a bad change is ``invalid change "FOO x" - invalid instruction FOO``;
    a ``--rootfs`` container ``cannot commit a container that uses an exploded
    rootfs``."""
    rt = make_runtime()
    rt.import_image([base], {}, names=["base"])
    ctr = rt.create_container(image="base", command=["true"])
    before = sorted(os.listdir(rt.image_store.blob_path("sha256:" + "0" * 64)[:-65]))
    for change, words in (("FOO x", "invalid instruction FOO"),
                          ("EXPOSE 99999", "valid port number"),
                          ("STOPSIGNAL NOPE", "valid signal"), ("LABEL a", "key=value")):
        with pytest.raises(InvalidArgError, match=words):
            rt.commit_container(ctr, "x", changes=[change])
    plain = rt.create_container(rootfs=rootfs, command=["true"])
    with pytest.raises(InvalidArgError, match="exploded rootfs"):
        rt.commit_container(plain, "x")
    assert [i.names for i in rt.images()] == [("localhost/base:latest",)]
    assert sorted(os.listdir(rt.image_store.blob_path("sha256:" + "0" * 64)[:-65])) == before


def test_export_then_import_with_changes_runs(make_runtime, base, tmp_path):
    """podman: ``export`` writes the whole file system; ``import --change CMD=...
    --change ENV=...`` of it runs with them; the history row is ``/bin/sh -c #(nop)
    ADD file:<diff id> in /`` with the message as comment."""
    rt = make_runtime()
    rt.import_image([base], {}, names=["base"])
    ctr, _ = run(rt, "base", "echo exported > /marker", keep=True)
    tar = tmp_path / "ctr.tar"
    with open(tar, "wb") as f:
        rt.export_container(ctr, f)
    with tarfile.open(tar) as t:
        names = t.getnames()
    assert "marker" in names and "bin/busybox" in names
    image = rt.import_image([str(tar)], names=["imported"], message="from export",
                            changes=["CMD cat /marker", "ENV X=1", "WORKDIR /tmp"],
                            arch="arm64")
    assert image.config["architecture"] == "arm64"
    assert image.run_config["Cmd"] == ["/bin/sh", "-c", "cat /marker"]
    ctr2 = rt.create_container(image="imported")
    out, err = io.BytesIO(), io.BytesIO()
    assert ctr2.start_attached(out, err) == 0, err.getvalue()
    assert out.getvalue() == b"exported\n"
    row = rt.image_history("imported")[0]
    assert row.created_by == f"/bin/sh -c #(nop) ADD file:{image.layers[0].diff_id[7:]} in /"
    assert row.comment == "from export" and row.size == image.layers[0].diff_size


def test_import_of_a_gzip_tarball_and_hostile_names(make_runtime, busybox_tar, tmp_path):
    """A gzip tarball is stored uncompressed; a tar with ``../`` or absolute names
    writes nothing outside the layer (and an unknown change stores nothing)."""
    import gzip

    rt = make_runtime()
    gz = tmp_path / "bb.tar.gz"
    gz.write_bytes(gzip.compress(Path(busybox_tar).read_bytes()))
    image = rt.import_image([str(gz)], names=["gz"])
    assert image.layers[0].media_type.endswith(".tar")
    outside = tmp_path / "escaped"
    hostile = tmp_path / "hostile.tar"
    with tarfile.open(hostile, "w") as t:
        for name in (f"../../../../../../{outside}", str(outside) + "-abs", "ok"):
            info = tarfile.TarInfo(name)
            info.size = 2
            t.addfile(info, io.BytesIO(b"x\n"))
    try:
        rt.import_image([str(hostile)], names=["hostile"])
    except (InvalidLayerError, PypodError):
        assert not rt.image_exists("hostile")
    assert not outside.exists() and not Path(str(outside) + "-abs").exists()
    with pytest.raises(InvalidArgError, match="invalid instruction ONBUILD"):
        rt.import_image([busybox_tar], changes=["ONBUILD RUN x"])


def test_prune_and_disk_usage(make_runtime, base, tmp_path):
    """podman: ``image prune`` removes the images without names; ``-a`` those no
    container uses too; ``system df`` counts each image's size, the shared part,
    each container's writable layer and each volume's files."""
    rt = make_runtime()
    rt.import_image([base], {}, names=["base"])
    ctr, _ = run(rt, "base", "head -c 100000 /dev/zero > /big", keep=True)
    dangling = rt.commit_container(ctr)
    named = rt.commit_container(ctr, "named")
    vol = rt.create_volume("v1")
    with open(os.path.join(vol.mount_point, "data"), "wb") as f:
        f.write(b"z" * 5000)
    usage = rt.disk_usage()
    by_id = {u.image.id: u for u in usage.images}
    base_image = rt.get_image("base")
    assert by_id[base_image.id].containers == 1
    # Both commits made the same layer over base: each shares both its layers.
    assert by_id[named.id].shared_size == sum(x.diff_size for x in named.layers)
    assert by_id[base_image.id].shared_size == base_image.layers[0].diff_size
    assert by_id[named.id].unique_size == by_id[named.id].size - by_id[named.id].shared_size
    (c,) = usage.containers
    assert 100000 <= c.rw_size < 110000 and c.id == ctr.id
    assert [(v.name, v.links, v.size, v.reclaimable) for v in usage.volumes] == [
        ("v1", 0, 5000, 5000)]
    removed = rt.prune_images()
    assert [i.id for i in removed] == [dangling.id]
    removed = rt.prune_images(all=True, select=lambda i: "named" in str(i.names))
    assert [i.id for i in removed] == [named.id]
    assert rt.prune_images(all=True) == []  # base is used by the container
    assert json.dumps([i.names for i in rt.images()]) == '[["localhost/base:latest"]]'


def test_export_of_a_rootfs_container_and_the_dir_drivers_diff(make_runtime, rootfs):
    """A ``--rootfs`` container exports its directory; the dir driver's diff is the
    whole directory (it stands on no layer)."""
    from pypod_core.engine.rootfs import driver_named

    rt = make_runtime()
    ctr = rt.create_container(rootfs=rootfs, command=["true"])
    buf = io.BytesIO()
    rt.export_container(ctr.id, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as t:
        exported = set(t.getnames())
    with driver_named(rt, "dir").diff(ctr.id) as stream, tarfile.open(fileobj=stream) as t:
        assert set(t.getnames()) == exported
    assert "bin/busybox" in exported
