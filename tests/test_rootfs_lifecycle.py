"""A container's rootfs through its graph driver, for every container: made at create,
mounted at init, unmounted on every exit path (the attached process, conmon's exit
command, ``--rm``, a kill, a failed start, the reboot refresh), removed at rm.

Real runc under real conmon, real overlay mounts (and vfs); images come from
``runtime.import_image`` with the busybox rootfs as one layer.  Mounts are read from
``/proc/self/mountinfo``.
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.errors import CommandNotFoundError, NoSuchLayerError
from pypod_core.model import ContainerConfig, ContainerRecord, ContainerState
from pypod_core.model import ContainerStatus as S
from pypod_core.testing.host import await_exit_commands, power_off_tmp_dir

GUARD = 60


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")


@pytest.fixture(params=["overlay", "vfs"])
def driver_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def rt(make_runtime: Callable[..., Any], driver_name: str) -> Any:
    return make_runtime(graph_driver=driver_name)


@pytest.fixture
def image(rt: Any, busybox_tar: str) -> Any:
    return rt.import_image([busybox_tar], {"config": {"Cmd": ["sh"]}}, names=["busybox"])


def mounts_in(path: str) -> list[str]:
    """The mount points at or under ``path``, from /proc/self/mountinfo."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def rootfs_dirs(rt: Any) -> list[str]:
    """The containers' directories the image driver holds."""
    return sorted(os.listdir(os.path.join(rt.graph_driver.home, "containers")))


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def run(ctr: Any) -> tuple[bytes, int]:
    out = io.BytesIO()
    code = ctr.start_attached(out, io.BytesIO())
    return out.getvalue(), code


def test_an_image_container_is_mounted_only_while_it_runs(rt, image, driver_name):
    ctr = rt.create_container(image="busybox", command=["sleep", "60"])
    assert ctr.config.graph_driver == driver_name and ctr.config.rootfs == ""
    assert rootfs_dirs(rt) == [ctr.id]
    assert not rt.graph_driver.is_mounted(ctr.id) and ctr.state.mount_point == ""
    ctr.start()
    assert rt.graph_driver.is_mounted(ctr.id)
    assert ctr.state.mount_point == rt.graph_driver.mount(ctr.id)
    if driver_name == "overlay":
        assert mounts_in(rt.config.graph_root) == [ctr.state.mount_point]
    # What the container writes is its own, and stays until rm.
    assert ctr.exec(["sh", "-c", "echo mine > /etc/written"]) == 0
    ctr.stop(timeout=0)
    assert not rt.graph_driver.is_mounted(ctr.id) and ctr.state.mount_point == ""
    assert mounts_in(rt.config.graph_root) == []
    assert run(rt.create_container(image="busybox", command=["cat", "/etc/written"])) \
        == (b"", 1)  # another container does not see it
    ctr.start()  # mounted again: the same layer, the file still there
    assert ctr.exec(["test", "-f", "/etc/written"]) == 0
    ctr.stop(timeout=0)
    assert mounts_in(rt.config.graph_root) == []


def test_rm_removes_the_containers_layer_and_keeps_the_images(rt, image):
    ctr = rt.create_container(image="busybox", command=["sh", "-c", "echo x > /f"])
    assert run(ctr)[1] == 0
    directory = os.path.join(rt.graph_driver.home, "containers", ctr.id)
    assert os.path.isdir(directory)
    rt.remove_container(ctr)
    assert not os.path.exists(directory) and rootfs_dirs(rt) == []
    assert list(rt.graph_driver.rootfs_ids()) == []
    assert rt.graph_driver.has_layer(image.top_layer)  # the image's layer stays
    assert mounts_in(rt.config.graph_root) == []


def test_no_overlay_mount_is_left_after_50_run_rm(make_runtime, busybox_tar, cli_config,
                                                   tmp_path):
    """50 ``pypod run --rm IMAGE true``, the real command: each container's clean-up
    (the attached process and conmon's exit command race for it) unmounts and removes
    its rootfs."""
    rt = make_runtime(graph_driver="overlay")
    rt.import_image([busybox_tar], {"config": {"Cmd": ["true"]}}, names=["busybox"])
    graph_root = rt.config.graph_root
    rt.shutdown()
    for i in range(50):
        result = run_pypod("--config", cli_config, "run", "--rm", "busybox", "true")
        assert result.returncode == 0, (i, result.stderr)
    assert mounts_in(graph_root) == []
    assert os.listdir(os.path.join(graph_root, "overlay", "containers")) == []
    assert run_pypod("--config", cli_config, "ps", "-aq").stdout == ""


def test_conmons_exit_command_unmounts_a_killed_container(make_runtime, busybox_tar,
                                                          cli_config):
    """SIGKILL to conmon's child (the container's process): conmon runs pypod's exit
    command, whose clean-up unmounts the rootfs; no other pypod process looks meanwhile
    (this test only reads /proc/self/mountinfo)."""
    rt = make_runtime(graph_driver="overlay")
    rt.import_image([busybox_tar], {}, names=["busybox"])
    ctr = rt.create_container(image="busybox", command=["sleep", "1000"])
    ctr.start()
    merged = ctr.state.mount_point
    assert mounts_in(rt.config.graph_root) == [merged]
    pid, graph_root = ctr.state.pid, rt.config.graph_root
    rt.shutdown()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: mounts_in(graph_root) == [], "the exit command unmounted the rootfs")
    again = make_runtime(graph_driver="overlay")
    # sync waits for the exit command, which saves the exit once it cleaned up.
    after = again.get_container(ctr.id).sync()
    assert after.state.state is S.EXITED and after.state.exit_code == 137
    assert after.state.mount_point == ""
    after.start()  # and it runs again
    assert after.sync().state.state is S.RUNNING
    after.stop(timeout=0)
    assert mounts_in(graph_root) == []


def test_a_failed_start_leaves_no_mount(rt, image):
    ctr = rt.create_container(image="busybox", command=["/no/such/program"])
    with pytest.raises(CommandNotFoundError):
        ctr.start()
    assert mounts_in(rt.config.graph_root) == []
    assert not rt.graph_driver.is_mounted(ctr.id)
    assert rt.get_container(ctr.id).state.mount_point == ""
    rt.remove_container(ctr)
    assert rootfs_dirs(rt) == []


def test_a_failed_create_leaves_no_container_and_no_rootfs(rt, image):
    # The layer goes behind the store's back: the rootfs cannot be made.
    rt.graph_driver.remove_layer(image.top_layer)
    with pytest.raises(NoSuchLayerError):
        rt.create_container(image="busybox", command=["true"], name="doomed")
    assert rt.containers() == [] and rootfs_dirs(rt) == []
    assert not any(name.startswith("ctr-") for name in os.listdir(rt.lock_dir))


def test_a_reboot_leaves_nothing_marked_mounted(rt, image, make_runtime, driver_name):
    """The power goes off under a running container: no clean-up runs.  The refresh of
    the next boot unmounts it (vfs forgets its mark), and it runs again."""
    ctr = rt.create_container(image="busybox", command=["sleep", "1000"])
    ctr.start()
    pids = (ctr.state.conmon_pid, ctr.state.pid)
    rt.state.close()
    rt.valid = False
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    _forget_cgroup(ctr.id)
    assert rt.graph_driver.is_mounted(ctr.id)  # nobody cleaned up
    await_exit_commands(rt.config.graph_root)
    power_off_tmp_dir(rt.config.tmp_dir)  # the per-boot directory is gone
    after = make_runtime(graph_driver=driver_name)
    assert after.refreshed_after_reboot
    assert not after.graph_driver.is_mounted(ctr.id)
    assert mounts_in(after.config.graph_root) == []
    again = after.get_container(ctr.id)
    assert again.state.mount_point == "" and again.state.state is S.CONFIGURED
    again.start()
    assert again.sync().state.state is S.RUNNING and again.state.mount_point
    again.stop(timeout=0)
    assert mounts_in(after.config.graph_root) == []


def _forget_cgroup(ctr_id: str) -> None:
    """Remove the container's cgroups, as a reboot would."""
    deadline = time.monotonic() + 5
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        path = os.path.join("/sys/fs/cgroup", hierarchy, "pypod", ctr_id)
        while os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                assert time.monotonic() < deadline, path
                time.sleep(0.05)


# -- --rootfs containers: the dir driver, the directory in place -----------------------


def test_a_rootfs_container_goes_through_the_dir_driver(make_runtime, rootfs):
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["sh", "-c", "echo in-place > /tmp/rootfs-test"])
    assert ctr.config.graph_driver == "dir" and ctr.config.rootfs == rootfs
    assert ctr.config.image_id == "" and ctr.config.image_name == ""
    link = os.path.join(rt.config.graph_root, "dir", "containers", ctr.id)
    assert os.readlink(link) == rootfs
    assert run(ctr) == (b"", 0)
    # The directory itself is the rootfs: what the container wrote is there.
    with open(os.path.join(rootfs, "tmp", "rootfs-test")) as f:
        assert f.read() == "in-place\n"
    assert ctr.state.mount_point == ""
    rt.remove_container(ctr)
    assert not os.path.lexists(link)
    assert os.path.isfile(os.path.join(rootfs, "bin", "busybox"))  # the user's files stay
    os.unlink(os.path.join(rootfs, "tmp", "rootfs-test"))


def test_a_record_made_before_graph_drivers_still_runs(make_runtime, rootfs):
    """A record without ``graph_driver`` (pypod before images) runs its rootfs directory
    in place, and rm leaves the directory alone."""
    rt = make_runtime()
    config = ContainerConfig(id="a" * 64, name="old", rootfs=rootfs, command=("echo", "old"),
                             oci_runtime=rt.oci_runtime.name)
    assert config.graph_driver == ""
    rt.state.add_container(ContainerRecord(config, ContainerState()))
    ctr = rt.get_container(config.id)
    assert run(ctr) == (b"old\n", 0)
    doc = ctr.inspect()
    assert (doc["Rootfs"], doc["GraphDriver"], doc["Image"]) == \
        (rootfs, {"Name": "dir", "Data": {}}, "")
    rt.remove_container(ctr)
    assert os.path.isfile(os.path.join(rootfs, "bin", "busybox"))


def test_cp_mounts_a_stopped_image_container_for_the_copy_only(rt, image, tmp_path):
    """``cp`` into and out of a container from an image that is not mounted: its rootfs
    is mounted for the copy and unmounted after; what was copied in is the container's
    (its next run sees it), not the image's."""
    ctr = rt.create_container(image="busybox", command=["cat", "/etc/copied-in"])
    source = tmp_path / "copied-in"
    source.write_text("from the host\n")
    ctr.copy_in(str(source), "/etc/copied-in")
    assert mounts_in(rt.config.graph_root) == [] and not rt.graph_driver.is_mounted(ctr.id)
    out = tmp_path / "out"
    ctr.copy_out("/etc/copied-in", str(out))
    assert out.read_text() == "from the host\n"
    assert run(ctr) == (b"from the host\n", 0)
    assert mounts_in(rt.config.graph_root) == []
    other = rt.create_container(image="busybox", command=["cat", "/etc/copied-in"])
    assert run(other)[1] == 1  # the image is unchanged
    assert rt.get_container(ctr.id).state.mount_point == ""
