"""``run/create --mount type=image`` (an image's files inside a container) and
``--mount type=devpts`` on the command line, with real runc, overlay and vfs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from conftest import pypod_ok as ok
from pypod_core.host.mounts import mounts_under


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")



def fails(flags: list[str], code: int, *args: str) -> str:
    result = run_pypod(*flags, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr.strip()


@pytest.fixture(params=["overlay", "vfs"])
def flags(request: Any, tmp_path: Path, runtime_options: dict[str, Any],
          busybox_tar: str) -> list[str]:
    """pypod's flags for a store of the graph driver asked for, holding ``bb`` (the
    container's image) and ``data`` (the mounted one: busybox and /data/file)."""
    import tomli_w

    config = tmp_path / "pypod.conf"
    config.write_text(tomli_w.dumps({**runtime_options, "graph_driver": request.param}))
    result = ["--config", str(config)]
    ok(result, "import", "-q", busybox_tar, "bb")
    content = tmp_path / "file"
    content.write_text("from the image\n")
    ok(result, "import", "-q", busybox_tar, "data")
    # A second layer over busybox: the mount shows the image's layers merged.
    ok(result, "run", "--name", "mk", "-v", f"{tmp_path}:/src:ro", "data", "sh", "-c",
       "mkdir -p /data && cp /src/file /data/file")
    ok(result, "commit", "-q", "mk", "data")
    ok(result, "rm", "mk")
    return result


def _store_mounts(tmp_path: Path) -> list[str]:
    return mounts_under(str(tmp_path))


def test_image_files_are_readable_and_read_only_by_default(flags, tmp_path):
    spec = "type=image,source=data,target=/img"
    assert ok(flags, "run", "--rm", "--mount", spec, "bb", "cat",
              "/img/data/file") == "from the image\n"
    assert ok(flags, "run", "--rm", "--mount", spec, "bb", "ls", "/img/bin/busybox") \
        == "/img/bin/busybox\n"
    result = run_pypod(*flags, "run", "--rm", "--mount", spec, "bb", "touch", "/img/new")
    assert result.returncode == 1
    assert "Read-only file system" in result.stderr
    assert _store_mounts(tmp_path) == []  # the container let go of the image's view


def test_rw_writes_stay_in_the_container_not_the_image(flags, tmp_path):
    spec = "type=image,source=data,target=/img,rw=true"
    out = ok(flags, "run", "--rm", "--mount", spec, "bb", "sh", "-c",
             "echo changed > /img/data/file && touch /img/new && cat /img/data/file")
    assert out == "changed\n"
    again = ok(flags, "run", "--rm", "--mount", "type=image,src=data,dst=/img,readwrite=true",
               "bb", "sh", "-c", "cat /img/data/file; ls /img/new 2>&1 || true")
    assert again.startswith("from the image\n") and "No such file" in again
    path = ok(flags, "image", "mount", "data").strip()
    assert open(os.path.join(path, "data", "file")).read() == "from the image\n"
    assert not os.path.exists(os.path.join(path, "new"))
    ok(flags, "image", "umount", "data")


def test_a_running_container_counts_as_one_image_mount(flags, tmp_path):
    cid = ok(flags, "run", "-d", "--mount", "type=image,src=data,dst=/img,rw=true", "bb",
             "sleep", "100").strip()
    [row] = json.loads(ok(flags, "image", "mount", "--format", "json"))
    assert row["Repositories"] == ["localhost/data:latest"]
    image_id = row["id"]
    scratch = os.path.join(str(tmp_path), "root")
    # image umount takes the view away on the host; the container keeps its mount.
    assert ok(flags, "image", "umount", "data") == image_id + "\n"
    assert ok(flags, "image", "umount", "data") == ""
    assert ok(flags, "exec", cid, "cat", "/img/data/file") == "from the image\n"
    ok(flags, "exec", cid, "touch", "/img/written")
    written = [os.path.join(d, "written") for d, _, files in os.walk(scratch)
               if "written" in files]
    assert written and "image-volumes" in written[0]  # in the container's upper dir
    ok(flags, "rm", "-f", "-t", "0", cid)
    assert not os.path.exists(written[0]) and _store_mounts(tmp_path) == []


def test_rmi_is_refused_while_a_container_mounts_the_image(flags, tmp_path):
    cid = ok(flags, "create", "--name", "user", "--mount", "type=image,src=data,dst=/img",
             "bb", "true").strip()
    error = fails(flags, 2, "rmi", "data")
    assert error.startswith(f"Error: image used by {cid}: image is in use by a container")
    assert "data" in ok(flags, "images", "--format", "{{.Repository}}")
    # -f removes the containers that use it, then the image.
    ok(flags, "rmi", "-f", "data")
    assert ok(flags, "ps", "-aq") == ""
    assert "localhost/data" not in ok(flags, "images", "--format", "{{.Repository}}")
    assert _store_mounts(tmp_path) == []


def test_inspect_and_ps_show_the_image_mount(flags):
    cid = ok(flags, "create", "--mount", "type=image,src=data,dst=/img,rw=true", "bb",
             "true").strip()
    [data] = json.loads(ok(flags, "inspect", cid))
    assert data["Mounts"] == [{"Type": "image", "Source": "data", "Destination": "/img",
                               "Driver": "", "Mode": "", "Options": None, "RW": True,
                               "Propagation": ""}]
    assert ok(flags, "ps", "-a", "--format", "{{.Mounts}}") == "[/img]\n"


def test_a_missing_image_fails_the_start_not_the_create(flags, tmp_path):
    # As podman: the image is looked up at each start, never pulled.
    ok(flags, "create", "--name", "c", "--mount", "type=image,src=nosuch,dst=/img", "bb",
       "true")
    error = fails(flags, 125, "start", "c")
    assert error.endswith('creating image volume "nosuch":"/img": nosuch: image not known')
    assert ok(flags, "ps", "-a", "--format", "{{.Status}}") == "Created\n"
    assert _store_mounts(tmp_path) == []


def test_bad_image_and_devpts_mounts_are_refused_by_name(flags):
    for spec, words in [
        ("type=image,target=/img", "needs source= (the image) and target="),
        ("type=image,src=data,dst=/img,ro=true", "'ro=true' is not supported with type=image"),
        ("type=image,src=data,dst=/img,rw=yes", "rw must be true or false, not 'yes'"),
        ("type=devpts,target=/p,bogus=1", "'bogus=1' is not a devpts option"),
    ]:
        error = fails(flags, 125, "create", "--mount", spec, "bb", "true")
        assert error.startswith(f"Error: invalid mount {spec!r}: ") and words in error
    error = fails(flags, 125, "create", "--mount", "type=image,src=data,dst=/x", "-v",
                  "/tmp:/x", "bb", "true")
    assert "/x: duplicate mount destination" in error
    assert ok(flags, "ps", "-aq") == ""


def test_devpts_mount_is_a_new_instance_with_the_options(flags):
    out = ok(flags, "run", "--name", "pts", "--mount",
             "type=devpts,destination=/mnt/pts,max=5,mode=620", "bb", "grep", "/mnt/pts",
             "/proc/mounts")
    fields = out.split()
    assert fields[:3] == ["devpts", "/mnt/pts", "devpts"]
    assert {"mode=620", "max=5"} <= set(fields[3].split(","))
    [data] = json.loads(ok(flags, "inspect", "pts"))
    assert data["Mounts"] == [{"Type": "bind", "Source": "devpts", "Destination": "/mnt/pts",
                               "Driver": "", "Mode": "", "Options": ["max=5", "mode=620"],
                               "RW": True, "Propagation": ""}]
    assert data["HostConfig"]["Binds"] == ["devpts:/mnt/pts:max=5,mode=620"]


def test_python_callers_give_image_volumes_in_mounts(make_runtime, busybox_tar):
    import io

    from pypod_core.errors import ImageInUseError
    from pypod_core.model import ImageVolume

    rt = make_runtime()
    rt.import_image([busybox_tar], {}, names=["bb"])
    ctr = rt.create_container(image="bb", command=["ls", "/a/bin/busybox", "/b/bin/busybox"],
                              mounts=[ImageVolume("bb", "/a"), "type=image,src=bb,dst=/b"])
    assert ctr.config.image_volumes == (ImageVolume("bb", "/a"), ImageVolume("bb", "/b"))
    out, err = io.BytesIO(), io.BytesIO()
    assert ctr.start_attached(out, err) == 0, err.getvalue()
    assert out.getvalue() == b"/a/bin/busybox\n/b/bin/busybox\n"
    with pytest.raises(ImageInUseError):
        rt.remove_image("bb")
    both = rt.create_container(image="bb", command=["true"], mounts=["type=image,src=bb,dst=/m"],
                               image_volumes=[ImageVolume("bb", "/n", read_write=True)])
    assert both.config.image_volumes == (ImageVolume("bb", "/m"),
                                         ImageVolume("bb", "/n", read_write=True))
    with pytest.raises(TypeError, match="image_volumes"):
        rt.create_container(image="bb", command=["true"], image_volumes=["bb:/x"])
