"""``image mount``/``image unmount``, ``mount``/``umount`` and ``run --rootfs DIR:O`` on the
command line, each step a process of its own (pypod is daemonless: a mount made by one
is counted, listed and unmounted by the next), with real overlay mounts and real runc."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil

import pytest

from conftest import need_binary, run_pypod
from conftest import pypod_ok as ok
from pypod_core.host.mounts import is_mount_point, mounts_under


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")



def fails(cli_flags: list[str], *args: str) -> str:
    result = run_pypod(*cli_flags, *args)
    assert result.returncode == 125 and result.stdout == "", (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr.strip()


@pytest.fixture
def image(cli_flags: list[str], busybox_tar: str) -> str:
    """The busybox image ``localhost/bb:latest``; its id."""
    return ok(cli_flags, "import", "-q", busybox_tar, "bb").strip().removeprefix("sha256:")


def test_image_mount_is_read_only_and_counted_across_processes(cli_flags, image, tmp_path):
    path = ok(cli_flags, "image", "mount", "bb").strip()
    assert ok(cli_flags, "image", "mount", "bb").strip() == path  # counted twice
    assert is_mount_point(path) and os.path.isfile(os.path.join(path, "bin", "busybox"))
    with pytest.raises(OSError) as exc:
        open(os.path.join(path, "new"), "w").close()
    assert exc.value.errno == errno.EROFS
    assert re.fullmatch(rf"localhost/bb:latest\s+{re.escape(path)}\n",
                        ok(cli_flags, "image", "mount"))
    [row] = json.loads(ok(cli_flags, "image", "mount", "--format", "json"))
    assert row["id"] == image and row["Repositories"] == ["localhost/bb:latest"]
    assert row["mountpoint"] == path and row["Names"][0].startswith("sha256:")
    # The first unmount counts one off and leaves it mounted; the second takes it away.
    assert ok(cli_flags, "image", "unmount", "bb") == image + "\n"
    assert is_mount_point(path)
    assert ok(cli_flags, "image", "umount", "bb") == image + "\n"
    assert not is_mount_point(path) and mounts_under(str(tmp_path)) == []
    assert ok(cli_flags, "image", "unmount", "bb") == ""  # not mounted: nothing to say
    assert ok(cli_flags, "image", "mount") == ""
    assert fails(cli_flags, "image", "umount", "nosuch") == "Error: nosuch: image not known"


def test_image_unmount_force_all_and_bad_arguments(cli_flags, image, tmp_path):
    for _ in range(3):
        ok(cli_flags, "image", "mount", "bb")
    assert ok(cli_flags, "image", "unmount", "-f", "bb") == image + "\n"
    assert mounts_under(str(tmp_path)) == []
    table = ok(cli_flags, "image", "mount", "-a")  # every image, as a table
    assert table.startswith("localhost/bb:latest  ")
    assert ok(cli_flags, "image", "unmount", "--all") == image + "\n"
    assert mounts_under(str(tmp_path)) == []
    assert fails(cli_flags, "image", "unmount") == "Error: image name or ID must be specified"
    assert "--all switch" in fails(cli_flags, "image", "mount", "-a", "bb")
    assert fails(cli_flags, "image", "mount", "--format", "{{.ID}}") == \
        'Error: unknown --format argument: "{{.ID}}"'


def test_rmi_of_a_mounted_image_unmounts_it(cli_flags, image, tmp_path):
    """As podman 4.3.1's: the image goes, and its mount with it."""
    path = ok(cli_flags, "image", "mount", "bb").strip()
    ok(cli_flags, "rmi", "bb")
    assert not is_mount_point(path) and mounts_under(str(tmp_path)) == []
    assert ok(cli_flags, "images", "-q") == ""


def test_container_mount_outlives_its_run(cli_flags, image, tmp_path):
    cid = ok(cli_flags, "create", "--name", "c1", "bb", "sh", "-c", "echo hi > /f").strip()
    path = ok(cli_flags, "mount", "c1").strip()
    assert is_mount_point(path)
    ok(cli_flags, "start", "-a", "c1")
    # Its exit did not take the mount away: the file is readable from the host.
    with open(os.path.join(path, "f")) as fh:
        assert fh.read() == "hi\n"
    assert re.fullmatch(rf"{cid[:12]}\s+{re.escape(path)}\n", ok(cli_flags, "mount"))
    assert ok(cli_flags, "container", "mount", "--notruncate").startswith(cid + "  ")
    [row] = json.loads(ok(cli_flags, "mount", "--format", "json"))
    assert row == {"id": cid, "Names": ["c1"], "mountpoint": path}
    assert ok(cli_flags, "umount", "c1") == "c1\n"
    assert not is_mount_point(path) and ok(cli_flags, "mount") == ""
    assert ok(cli_flags, "container", "unmount", "c1") == "c1\n"  # not mounted: fine
    assert fails(cli_flags, "umount") == "Error: you must provide at least one name or id"
    assert "no such container" in fails(cli_flags, "mount", "nosuch")


def test_unmount_leaves_a_running_containers_rootfs(cli_flags, image):
    ok(cli_flags, "run", "-d", "--name", "c1", "bb", "sleep", "100")
    try:
        path = ok(cli_flags, "mount", "c1").strip()
        ok(cli_flags, "mount", "c1")
        assert ok(cli_flags, "umount", "-f", "c1") == "c1\n"
        # The run still holds it: listed, and the container still sees its files.
        assert path in ok(cli_flags, "mount")
        assert ok(cli_flags, "exec", "c1", "sh", "-c", "test -x /bin/sh && echo yes") == "yes\n"
    finally:
        ok(cli_flags, "rm", "-f", "-t0", "c1")


def test_rm_of_a_mounted_container_unmounts_it(cli_flags, image, tmp_path):
    ok(cli_flags, "create", "--name", "c1", "bb", "true")
    path = ok(cli_flags, "mount", "c1").strip()
    ok(cli_flags, "mount", "c1")
    ok(cli_flags, "rm", "c1")
    assert not os.path.exists(path) and mounts_under(str(tmp_path)) == []


def _tree(root: str) -> dict[str, tuple[int, float]]:
    return {os.path.join(d, n): (os.lstat(os.path.join(d, n)).st_size,
                                 os.lstat(os.path.join(d, n)).st_mtime)
            for d, dirs, files in os.walk(root) for n in dirs + files}


def test_rootfs_overlay_writes_apart_from_the_directory(cli_flags, rootfs, tmp_path):
    lower = str(tmp_path / "lower")
    shutil.copytree(rootfs, lower, symlinks=True)
    before = _tree(lower)
    out = ok(cli_flags, "run", "--name", "r1", "--rootfs", f"{lower}:O", "sh", "-c",
             "echo new > /new; rm /bin/cat; echo changed > /bin/ls; echo done")
    assert out == "done\n"
    assert _tree(lower) == before  # DIR untouched: not one file added, removed, changed
    # The container's writes are its own, kept across its runs.
    ok(cli_flags, "start", "r1")  # its command runs again: /new exists already
    assert ok(cli_flags, "container", "inspect", "r1", "--format", "{{.ImageDigest}}") == "\n"
    assert ok(cli_flags, "container", "inspect", "r1", "--format", "{{.Rootfs}}") == \
        lower + "\n"
    path = ok(cli_flags, "mount", "r1").strip()
    with open(os.path.join(path, "new")) as fh:
        assert fh.read() == "new\n"
    assert not os.path.exists(os.path.join(path, "bin", "cat"))
    ok(cli_flags, "umount", "r1")
    ok(cli_flags, "rm", "-f", "-t0", "r1")
    assert mounts_under(str(tmp_path)) == [] and _tree(lower) == before
    assert os.listdir(tmp_path / "root" / "dir-overlay" / "containers") == []


def test_rootfs_overlay_over_a_mounted_image(cli_flags, image, tmp_path):
    """podman's 'check workdir' steps: an image's read-only mount as a --rootfs:O lower."""
    romount = ok(cli_flags, "image", "mount", "bb").strip()
    assert ok(cli_flags, "run", "--name", "r1", "--rootfs", f"{romount}:O", "sh", "-c",
              "echo Hello world > /hello; cat /hello") == "Hello world\n"
    assert not os.path.exists(os.path.join(romount, "hello"))
    ok(cli_flags, "rm", "-f", "-t0", "r1")
    ok(cli_flags, "image", "unmount", "bb")
    assert mounts_under(str(tmp_path)) == []


def test_rootfs_options_pypod_lacks_are_refused_by_name(cli_flags, rootfs):
    assert fails(cli_flags, "run", "--rm", "--rootfs", f"{rootfs}:idmap", "true") == \
        'Error: --rootfs option "idmap" is not supported by pypod (only :O)'
    assert ok(cli_flags, "ps", "-aq") == ""


def test_an_image_mount_count_restarts_once_its_view_is_gone(make_runtime, busybox_tar):
    """A reboot takes the mounts away, and where ``run_root`` survives it the counts
    would not: a count whose view is gone starts again, so one unmount ends the new one."""
    runtime = make_runtime()
    image = runtime.import_image([busybox_tar], names=["bb"])
    path = runtime.mount_image("bb")
    runtime.mount_image("bb")
    os.system(f"umount -l '{path}'")  # noqa: S605 - the "reboot", on our own mount
    assert runtime.mounted_images() == []
    assert runtime.mount_image("bb") == path and is_mount_point(path)
    assert [m.image.id for m in runtime.mounted_images()] == [image.id]
    assert runtime.unmount_image("bb") is True and not is_mount_point(path)
    assert runtime.unmount_image("bb") is False


def test_mounts_and_unmounts_are_events(cli_flags, image):
    """As podman's: a container's mount and unmount, and an image's (id only, no name),
    are events; a run's own mount of its rootfs is not, nor an unmount of what is not
    mounted."""
    cid = ok(cli_flags, "create", "--name", "ev", "bb", "true").strip()
    ok(cli_flags, "mount", "ev")
    ok(cli_flags, "umount", "ev")
    ok(cli_flags, "image", "mount", "bb")
    ok(cli_flags, "image", "unmount", "bb")
    ok(cli_flags, "image", "unmount", "bb")  # not mounted: no event
    ok(cli_flags, "start", "-a", "ev")
    fmt = "{{.Type}} {{.Status}} {{.ID}} {{.Name}}"
    lines = ok(cli_flags, "events", "--stream=false", "--format", fmt,
               "--filter", "event=mount", "--filter", "event=unmount").splitlines()
    assert lines == [f"container mount {cid} ev", f"container unmount {cid} ev",
                     f"image mount {image} ", f"image unmount {image} "]


def test_export_is_a_mount_event(cli_flags, image, tmp_path):
    """podman logs an export as the container's mount event, and nothing at its end;
    the export of a missing container logs nothing."""
    cid = ok(cli_flags, "create", "--name", "ex", "bb", "true").strip()
    ok(cli_flags, "export", "-o", str(tmp_path / "ex.tar"), "ex")
    assert os.path.getsize(tmp_path / "ex.tar") > 0
    assert fails(cli_flags, "export", "-o", str(tmp_path / "no.tar"), "nosuch").startswith("Error:")
    lines = ok(cli_flags, "events", "--stream=false", "--format", "{{.Status}} {{.ID}}",
               "--filter", "event=mount", "--filter", "event=unmount").splitlines()
    assert lines == [f"mount {cid}"]
