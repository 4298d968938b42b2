"""Named volumes from Python, with real runc under conmon and real mounts: data that
outlives containers and reboots, volumes in use, racing creators, tmpfs volumes, mount
counting, copy-up and ownership, anonymous volumes, --volumes-from, events."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, need_binary
from pypod_core.errors import (
    CopyError,
    InvalidArgError,
    NoSuchVolumeError,
    VolumeExistsError,
    VolumeInUseError,
)
from pypod_core.host.mounts import is_mount_point
from pypod_core.host.rootfs import make_busybox_rootfs
from pypod_core.model import ContainerStatus, Mount, NamedVolume
from pypod_core.testing.host import await_exit_commands

TMPFS_3M = {"type": "tmpfs", "device": "tmpfs", "o": "size=3m"}


@pytest.fixture(autouse=True)
def _runtimes_need_runc() -> None:
    need_binary("runc")
    need_binary("conmon")


def run(ctr: Any) -> tuple[int, str]:
    """Start ``ctr`` attached; its exit code and output."""
    out, err = io.BytesIO(), io.BytesIO()
    code = ctr.start_attached(out, err)
    return code, (out.getvalue() + err.getvalue()).decode()


def reboot(make_runtime: Callable[..., Any], rt: Any, **options: Any) -> Any:
    """A simulated reboot: the runtime goes, the per-boot ``alive`` file with it."""
    tmp_dir = rt.config.tmp_dir
    await_exit_commands(rt.config.graph_root)  # a removed container's may still run
    rt.shutdown()
    os.unlink(os.path.join(tmp_dir, "alive"))
    after = make_runtime(**options)
    assert after.refreshed_after_reboot
    return after


def kill_behind_pypods_back(ctr: Any) -> None:
    """SIGKILL the container and its conmon: no exit command runs (as in a power cut)."""
    for pid in (ctr.state.conmon_pid, ctr.state.pid):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{ctr.state.pid}") and time.monotonic() < deadline:
        time.sleep(0.02)


# -- data outlives containers ------------------------------------------------------------


def test_data_written_by_one_container_is_read_by_another_after_rm_and_a_reboot(
        make_runtime, rootfs):
    rt = make_runtime()
    writer = rt.create_container(rootfs, ["sh", "-c", "echo kept > /data/file"],
                                 volumes=["db:/data"])
    assert run(writer) == (0, "")
    reader = rt.create_container(rootfs, ["cat", "/data/file"], volumes=["db:/data:ro"])
    assert run(reader) == (0, "kept\n")
    rt.remove_container(writer, volumes=True)
    rt.remove_container(reader, volumes=True)
    assert [v.name for v in rt.volumes()] == ["db"]  # a named volume stays
    after = reboot(make_runtime, rt)
    third = after.create_container(rootfs, ["cat", "/data/file"], volumes=["db:/data"])
    assert run(third) == (0, "kept\n")


def test_a_missing_named_volume_is_created_and_an_anonymous_one_is_marked(
        make_runtime, rootfs):
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["true"], volumes=["made:/m", "/anon"],
                              mounts=[NamedVolume("", "/anon2")])
    volumes = {v.name: v for v in rt.volumes()}
    assert not volumes.pop("made").anonymous
    assert len(volumes) == 2 and all(v.anonymous and len(v.name) == 64
                                     for v in volumes.values())
    assert [v.destination for v in ctr.config.named_volumes] == ["/anon2", "/m", "/anon"]
    assert sorted(rt.volume_users("made")) == [ctr.id]


def test_rm_with_volumes_removes_the_anonymous_ones_only(make_runtime, rootfs):
    rt = make_runtime()
    first = rt.create_container(rootfs, ["true"], volumes=["keep:/k", "/anon"])
    (anon,) = [v.name for v in first.config.named_volumes if v.name != "keep"]
    sharer = rt.create_container(rootfs, ["ls", "/anon"], volumes_from=[first.name])
    rt.remove_container(first, volumes=True)
    assert {v.name for v in rt.volumes()} == {"keep", anon}  # the sharer still uses it
    auto = rt.create_container(rootfs, ["true"], volumes=["/gone"], auto_remove=True)
    (gone,) = auto.config.volume_names()
    assert run(auto)[0] == 0  # --rm: the container and its anonymous volume go
    assert not rt.has_volume(gone)
    rt.remove_container(sharer)  # without volumes=True: the anonymous volume stays
    assert {v.name for v in rt.volumes()} == {"keep", anon}


# -- in use ----------------------------------------------------------------------------------


def test_a_volume_in_use_is_refused_and_force_removes_its_containers(make_runtime, rootfs):
    rt = make_runtime()
    idle = rt.create_container(rootfs, ["true"], volumes=["busy:/b"])
    running = rt.create_container(rootfs, ["sleep", "1000"], volumes=["busy:/b"])
    running.start()
    with pytest.raises(VolumeInUseError) as info:
        rt.remove_volume("busy")
    assert idle.id in str(info.value) and running.id in str(info.value)
    assert rt.has_volume("busy") and len(rt.containers()) == 2
    removed = rt.remove_volume("busy", force=True, timeout=0)
    assert removed.name == "busy" and rt.containers() == [] and rt.volumes() == []
    assert not os.path.exists(os.path.dirname(removed.mount_point))
    with pytest.raises(NoSuchVolumeError):
        rt.remove_volume("busy")


def test_prune_removes_every_volume_no_container_uses(make_runtime, rootfs):
    rt = make_runtime()
    for name in ("a", "b"):
        rt.create_volume(name)
    rt.create_container(rootfs, ["true"], volumes=["b:/b"])
    assert [v.name for v in rt.prune_volumes()] == ["a"]
    assert [v.name for v in rt.volumes()] == ["b"]


_CREATE = """
import os, sys, time
sys.path.insert(0, sys.argv[3])
from pypod_core.engine.runtime import new_runtime
from pypod_core.errors import VolumeExistsError
rt = new_runtime(config_path=os.devnull, graph_root=sys.argv[1], run_root=sys.argv[2],
                 netns="none")
time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
try:
    rt.create_volume("race", labels={"by": str(os.getpid())})
    print("won")
except VolumeExistsError as exc:
    print("lost:", exc)
"""


def test_of_processes_creating_one_name_one_wins_the_others_get_a_clear_error(
        tmp_path, make_runtime):
    roots = [str(tmp_path / "root"), str(tmp_path / "run")]
    make_runtime().shutdown()  # the database exists: the racers only add volumes
    env = {**os.environ, "START_AT": str(time.time() + 2.0)}
    procs = [subprocess.Popen([sys.executable, "-c", _CREATE, *roots, str(REPO)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append((proc.pid, out.strip()))
    winners = [pid for pid, said in results if said == "won"]
    assert len(winners) == 1, results
    assert all(said == "lost: volume with name race already exists"
               for pid, said in results if pid not in winners)
    (volume,) = make_runtime().volumes()
    assert volume.config.labels == {"by": str(winners[0])}
    assert os.path.isdir(volume.mount_point)


def test_names_and_options_are_checked_before_anything_is_made(make_runtime, rootfs):
    rt = make_runtime()
    for bad in ("../x", "a/b", ".x", ""):
        with pytest.raises(InvalidArgError):
            rt.create_volume(bad)
    with pytest.raises(InvalidArgError, match="invalid mount option bogus"):
        rt.create_volume("v", options={"bogus": "1"})
    with pytest.raises(InvalidArgError, match="duplicate mount destination"):
        rt.create_container(rootfs, ["true"], volumes=["v1:/d", "/tmp:/d"])
    with pytest.raises(InvalidArgError, match="unknown option 'sideways'"):
        rt.create_container(rootfs, ["true"], volumes=["v1:/d:sideways"])
    with pytest.raises(InvalidArgError, match="must be absolute"):
        rt.create_container(rootfs, ["true"], volumes=["v1:d"])
    with pytest.raises(TypeError, match="volumes: expected a list"):
        rt.create_container(rootfs, ["true"], volumes="v1:/d")
    rt.create_volume("v")
    with pytest.raises(VolumeExistsError):
        rt.create_volume("v")
    assert [v.name for v in rt.volumes()] == ["v"] and rt.containers() == []
    assert not os.path.exists(os.path.join(rt.config.volume_path, "v1"))


def test_a_container_that_fails_to_be_created_leaves_no_volume(make_runtime, rootfs):
    rt = make_runtime()
    rt.create_container(rootfs, ["true"], name="taken")
    with pytest.raises(Exception, match="taken"):
        rt.create_container(rootfs, ["true"], name="taken", volumes=["new:/n", "/anon"])
    assert rt.volumes() == []


# -- tmpfs volumes, mounts and reboots ---------------------------------------------------


def test_a_tmpfs_volume_has_its_size(make_runtime, rootfs):
    rt = make_runtime()
    rt.create_volume("scratch", options=TMPFS_3M)
    ctr = rt.create_container(rootfs, ["sh", "-c", "df -k /s | tail -1"],
                              volumes=["scratch:/s"])
    code, out = run(ctr)
    assert code == 0 and out.split()[:2] == ["tmpfs", "3072"]


def test_a_mounting_volume_is_mounted_while_a_container_uses_it(make_runtime, rootfs):
    rt = make_runtime()
    path = rt.create_volume("shared", options=TMPFS_3M).mount_point
    one = rt.create_container(rootfs, ["sleep", "1000"], volumes=["shared:/s"])
    two = rt.create_container(rootfs, ["sleep", "1000"], volumes=["shared:/s"])
    one.start()
    two.start()
    assert rt.get_volume("shared").mount_count == 2 and is_mount_point(path)
    one.stop(timeout=0)
    assert rt.get_volume("shared").state.mounted_by == (two.id,) and is_mount_point(path)
    two.stop(timeout=0)
    volume = rt.get_volume("shared")
    assert (volume.mount_count, volume.state.mount_point) == (0, "")
    assert not is_mount_point(path)


def test_a_tmpfs_volume_is_empty_after_a_reboot_and_its_mounts_forgotten(
        make_runtime, rootfs):
    rt = make_runtime()
    path = rt.create_volume("t", options=TMPFS_3M).mount_point
    plain = rt.create_volume("p").mount_point
    ctr = rt.create_container(rootfs, ["sleep", "1000"], volumes=["t:/t", "p:/p"])
    ctr.start()
    assert ctr.exec(["sh", "-c", "echo x > /t/lost; echo y > /p/kept"]) == 0
    kill_behind_pypods_back(ctr)
    after = reboot(make_runtime, rt)
    assert all(v.mount_count == 0 for v in after.volumes())
    assert not is_mount_point(path)  # what the "power cut" left mounted went
    again = after.get_container(ctr.id)
    assert again.state.state is ContainerStatus.CONFIGURED
    again.start()
    assert again.exec(["sh", "-c", 'test -z "$(ls -A /t)"']) == 0  # empty
    assert Path(plain, "kept").read_text() == "y\n"
    again.stop(timeout=0)


# -- copy-up and ownership -----------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox rootfs whose /seed holds files (owned by 1000:1000, mode 0750) and
    whose /link points to /etc (a symlink the container sees as its own /etc)."""
    root = make_busybox_rootfs(str(tmp_path_factory.mktemp("seeded")))
    seed = Path(root, "seed")
    (seed / "sub").mkdir(parents=True)
    (seed / "sub" / "file").write_text("from the rootfs")
    os.symlink("sub/file", seed / "alias")
    for path in (seed, seed / "sub", seed / "sub" / "file"):
        os.lchown(path, 1000, 1000)
    os.chmod(seed, 0o750)
    os.symlink("/etc", Path(root, "link"))
    return root


def test_a_new_volume_gets_the_files_it_covers_once(make_runtime, seeded_rootfs):
    rt = make_runtime()
    first = rt.create_container(seeded_rootfs, ["sh", "-c", "cat /seed/alias; echo new > "
                                                "/seed/sub/file"], volumes=["seeded:/seed"])
    assert run(first) == (0, "from the rootfs")
    volume = rt.get_volume("seeded")
    assert not volume.state.needs_copy_up and not volume.state.needs_chown
    data = Path(volume.mount_point)
    assert os.readlink(data / "alias") == "sub/file"
    st = os.stat(data)
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (1000, 1000, "0o750")
    assert os.stat(data / "sub" / "file").st_uid == 1000
    second = rt.create_container(seeded_rootfs, ["cat", "/seed/sub/file"],
                                 volumes=["seeded:/seed"])
    assert run(second) == (0, "new\n")  # once: not copied over again
    assert Path(seeded_rootfs, "seed", "sub", "file").read_text() == "from the rootfs"


@pytest.mark.parametrize("how", ["mount option", "volume option"])
def test_nocopy_leaves_a_new_volume_empty(make_runtime, seeded_rootfs, how):
    rt = make_runtime()
    if how == "volume option":
        rt.create_volume("empty", options={"nocopy": ""})
        spec = "empty:/seed"
    else:
        spec = "empty:/seed:nocopy"
    assert run(rt.create_container(seeded_rootfs, ["ls", "-A", "/seed"],
                                   volumes=[spec])) == (0, "")


def test_copy_up_resolves_the_covered_path_inside_the_rootfs(make_runtime, seeded_rootfs):
    """/link is a symlink to /etc: the volume gets the container's /etc, never the
    host's."""
    rt = make_runtime()
    assert run(rt.create_container(seeded_rootfs, ["true"], volumes=["etc:/link"]))[0] == 0
    copied = sorted(os.listdir(rt.get_volume("etc").mount_point))
    assert "passwd" in copied and "shadow" not in copied  # the busybox rootfs has none
    assert Path(rt.get_volume("etc").mount_point, "passwd").read_text() == \
        Path(seeded_rootfs, "etc", "passwd").read_text()


def test_a_new_volume_is_given_to_the_container_user(make_runtime, rootfs):
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["sh", "-c", "touch /mine/f && id -u"],
                              volumes=["mine:/mine"], user="65534")
    assert run(ctr) == (0, "65534\n")
    assert os.stat(rt.get_volume("mine").mount_point).st_uid == 65534


def test_U_gives_a_bind_source_to_the_container_user(make_runtime, rootfs, tmp_path):
    source = tmp_path / "src"
    (source / "deep").mkdir(parents=True)
    (source / "deep" / "f").write_text("x")
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["sh", "-c", "echo y >> /s/deep/f"],
                              volumes=[f"{source}:/s:U"], user="65534:65534")
    assert run(ctr) == (0, "")
    assert {os.stat(p).st_uid for p in (source, source / "deep", source / "deep" / "f")} \
        == {65534}


# -- the other kinds of mount ----------------------------------------------------------------


def test_tmpfs_and_bind_mounts_from_mount_specs(make_runtime, rootfs, tmp_path):
    (tmp_path / "ro").mkdir()
    rt = make_runtime()
    ctr = rt.create_container(
        rootfs, ["sh", "-c", "df -k /t | tail -1; touch /ro/x 2>&1; grep ' /t ' /proc/mounts"],
        mounts=["type=tmpfs,target=/t,tmpfs-size=2m,tmpfs-mode=0700",
                f"type=bind,source={tmp_path / 'ro'},target=/ro,readonly",
                Mount("tmpfs", "/t2", type="tmpfs", options=("size=1m",))])
    code, out = run(ctr)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["tmpfs", "2048"]
    assert "Read-only file system" in lines[1]
    assert "mode=700" in lines[2] and "nosuid" in lines[2] and "nodev" in lines[2]


def test_volumes_from_copies_volumes_and_binds_with_their_options(make_runtime, rootfs,
                                                                   tmp_path):
    rt = make_runtime()
    source = rt.create_container(rootfs, ["true"],
                                 volumes=["v:/v", f"{tmp_path}:/host", "/anon"],
                                 mounts=["type=tmpfs,target=/t"])
    copier = rt.create_container(rootfs, ["sh", "-c", "touch /v/x 2>&1; ls /host"],
                                 volumes_from=[f"{source.name}:ro"], volumes=["w:/host"])
    assert copier.config.volumes_from == (f"{source.id}:ro",)
    assert [(v.name, v.destination, v.options) for v in copier.config.named_volumes] == [
        ("w", "/host", ()), ("v", "/v", ("ro",)),
        (source.config.named_volumes[1].name, "/anon", ("ro",))]
    assert copier.config.mounts == ()  # the tmpfs is not copied; /host is the caller's
    code, out = run(copier)
    assert code == 0 and "Read-only file system" in out


def test_inspect_shows_mounts_as_podman(make_runtime, rootfs, tmp_path):
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["true"], volumes=["v:/data", f"{tmp_path}:/h:ro,z"],
                              mounts=["type=tmpfs,target=/t,tmpfs-size=1m"])
    doc = json.loads(json.dumps(ctr.inspect()))
    assert doc["Mounts"] == [
        {"Type": "volume", "Name": "v", "Source": rt.get_volume("v").mount_point,
         "Destination": "/data", "Driver": "local", "Mode": "",
         "Options": ["nosuid", "nodev", "rbind"], "RW": True, "Propagation": "rprivate"},
        {"Type": "bind", "Source": str(tmp_path), "Destination": "/h", "Driver": "",
         "Mode": "z", "Options": doc["Mounts"][1]["Options"], "RW": False,
         "Propagation": "rprivate"}]
    assert doc["Mounts"][1]["Options"][-1] == "rbind"
    assert doc["HostConfig"]["Binds"][0] == "v:/data:rw,rprivate,nosuid,nodev,rbind"
    assert doc["HostConfig"]["Binds"][1].startswith(f"{tmp_path}:/h:ro,z,rprivate")
    assert doc["HostConfig"]["Tmpfs"] == {"/t": "size=1m,rw,rprivate,nosuid,nodev,tmpcopyup"}
    assert doc["HostConfig"]["VolumesFrom"] is None


def test_inspect_volume_shows_podmans_keys(make_runtime):
    rt = make_runtime()
    volume = rt.create_volume("t", options={**TMPFS_3M, "o": "size=3m,uid=7,gid=8"},
                              labels={"a": "b"})
    doc = rt.inspect_volume(volume)
    assert list(doc) == ["Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope",
                         "Options", "UID", "GID", "MountCount", "NeedsCopyUp"]
    assert (doc["Mountpoint"], doc["Scope"], doc["UID"], doc["GID"], doc["MountCount"]) == (
        os.path.join(rt.config.volume_path, "t", "_data"), "local", 7, 8, 0)
    assert doc["CreatedAt"].endswith("Z") and doc["Labels"] == {"a": "b"}


def test_export_and_import_round_trip_a_tree(make_runtime, tmp_path):
    rt = make_runtime()
    source = Path(rt.create_volume("src").mount_point)
    (source / "dir").mkdir()
    (source / "dir" / "f").write_text("data")
    os.symlink("/etc/passwd", source / "link")
    os.link(source / "dir" / "f", source / "hard")
    buf = io.BytesIO()
    rt.export_volume("src", buf)
    names = sorted(tarfile.open(fileobj=io.BytesIO(buf.getvalue())).getnames())
    assert names == ["dir", "dir/f", "hard", "link"]
    target = Path(rt.create_volume("dst").mount_point)
    rt.import_volume("dst", io.BytesIO(buf.getvalue()))
    assert (target / "dir" / "f").read_text() == "data"
    assert os.readlink(target / "link") == "/etc/passwd"
    assert os.stat(target / "hard").st_ino == os.stat(target / "dir" / "f").st_ino
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped-pypod-test")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidArgError):
        rt.import_volume("dst", io.BytesIO(evil.getvalue()))
    assert not list(tmp_path.rglob("escaped-pypod-test"))
    assert rt.get_volume("dst").mount_count == 0


# -- events -------------------------------------------------------------------------------------


def _listen(rt: Any, hook: str) -> list[Any]:
    seen: list[Any] = []

    class Listener:
        pass

    plugin = Listener()
    setattr(plugin, hook, lambda runtime, volume: seen.append(volume))
    from pypod_core.plugin import hookimpl

    setattr(plugin, hook, hookimpl(getattr(plugin, hook)))
    rt.plugins.register_module(plugin, f"listener-{hook}")
    return seen


def test_pypod_volume_created_fires_for_every_new_volume(make_runtime, rootfs):
    rt = make_runtime()
    seen = _listen(rt, "pypod_volume_created")
    rt.create_volume("asked", labels={"x": "y"})
    rt.create_container(rootfs, ["true"], volumes=["implicit:/i", "/anon"])
    assert seen[0].name == "asked" and seen[0].config.labels == {"x": "y"}
    made = {v.name: v.anonymous for v in seen[1:]}
    assert made.pop("implicit") is False and list(made.values()) == [True]


def test_pypod_volume_removed_fires_with_the_record(make_runtime):
    rt = make_runtime()
    seen = _listen(rt, "pypod_volume_removed")
    rt.create_volume("gone", options=TMPFS_3M)
    rt.remove_volume("gone")
    (volume,) = seen
    assert (volume.name, volume.config.options) == ("gone", TMPFS_3M)
    assert not rt.has_volume("gone")


# -- cp ------------------------------------------------------------------------------------


def test_cp_reaches_a_stopped_containers_volumes(make_runtime, rootfs, tmp_path):
    """As podman's: a stopped container's named volumes are mounted for the copy (a
    tmpfs volume's files then go with its mount)."""
    rt = make_runtime()
    rt.create_volume("t", options=TMPFS_3M)
    ctr = rt.create_container(rootfs, ["cat", "/data/in", "/t/in"],
                              volumes=["data:/data", "t:/t", "ro-vol:/ro:ro"])
    source = tmp_path / "in"
    source.write_text("copied in\n")
    ctr.copy_in(str(source), "/data/in")
    ctr.copy_in(str(source), "/t/in")
    assert Path(rt.get_volume("data").mount_point, "in").read_text() == "copied in\n"
    assert all(v.mount_count == 0 for v in rt.volumes())  # let go after the copy
    assert not is_mount_point(rt.get_volume("t").mount_point)
    with pytest.raises(CopyError, match="read-only"):
        ctr.copy_in(str(source), "/ro/in")
    assert not os.path.exists(os.path.join(rt.get_volume("t").mount_point, "in"))
    code, out = run(ctr)  # the tmpfs volume is empty again once really mounted
    assert code == 1 and out.startswith("copied in\n")
    ctr.copy_out("/data/in", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "copied in\n"
