"""Pods from Python: containers sharing the infra container's namespaces, reaching each
other on localhost; start, stop (members before the infra), pause, kill, restart,
removal rules, names, event hooks and the reboot refresh.

Real runc under real conmon; each test on its own runtime under tmp_path.  These pods
have no network besides loopback: tests/test_pod_network.py covers bridged pods.
"""

from __future__ import annotations

import io
import os
import signal
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core import hookimpl
from pypod_core.errors import (
    CtrInUseError,
    CtrStateInvalidError,
    InvalidArgError,
    NameInUseError,
    NoSuchCtrError,
    NoSuchPodError,
)
from pypod_core.model import ContainerStatus, Mount, PortMapping
from pypod_core.testing.host import await_exit_commands, power_off_tmp_dir

S = ContainerStatus
#: A server that ends on SIGTERM (a PID 1 without a handler ignores it).
SERVE = "trap 'exit 0' TERM; httpd -f -p 127.0.0.1:{port} -h /www & wait"
#: A client that retries while the server is still starting.
FETCH = ("for i in $(seq 100); do wget -q -O - http://127.0.0.1:{port}/ && exit 0; "
         "sleep 0.05; done; exit 1")


@pytest.fixture
def rt(make_runtime: Callable[..., Any]) -> Any:
    """A runtime with the default SQLite state and runc."""
    need_binary("runc")
    need_binary("conmon")
    return make_runtime()


def server(rt: Any, rootfs: str, www: Path, pod: Any, port: int = 8080) -> Any:
    """A container of ``pod`` serving ``www`` on the pod's 127.0.0.1:``port``."""
    return rt.create_container(rootfs, ["sh", "-c", SERVE.format(port=port)], pod=pod,
                               mounts=(Mount(str(www), "/www", read_only=True),))


def run(ctr: Any) -> tuple[bytes, int]:
    """Start attached; (stdout, exit code)."""
    out = io.BytesIO()
    code = ctr.start_attached(out, io.BytesIO())
    return out.getvalue(), code


def ns(pid: int, kind: str) -> str:
    """The namespace a process is in, as ``net:[4026532...]``."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def exit_recorder(rt: Any) -> list[str]:
    """Register an in-process plugin recording the id of each container whose exit
    pypod notices (``pypod_container_exited``), in order."""
    exited: list[str] = []
    plugin = types.ModuleType("exit_recorder")

    @hookimpl
    def pypod_container_exited(runtime: Any, container: Any) -> None:
        exited.append(container.id)

    plugin.pypod_container_exited = pypod_container_exited  # type: ignore[attr-defined]
    rt.plugins.register_module(plugin, "exit_recorder")
    return exited


def test_two_containers_in_a_pod_reach_each_other_on_localhost(rt, rootfs, www) -> None:
    pod = rt.create_pod(name="web")
    assert pod.status() == "Created"
    srv = server(rt, rootfs, www, pod)
    pod.start()
    client = rt.create_container(rootfs, ["sh", "-c", "hostname; " + FETCH.format(port=8080)],
                                 pod=pod)
    infra = pod.infra()
    assert infra.sync().state.state is S.RUNNING and infra.config.is_infra
    assert run(client) == (b"web\nhello\n", 0)  # the pod's host name, the pod's loopback
    srv.sync()
    for kind in ("net", "ipc", "uts"):
        assert ns(srv.state.pid, kind) == ns(infra.state.pid, kind)
    assert ns(srv.state.pid, "pid") != ns(infra.state.pid, "pid")  # not shared by default
    assert srv.config.shared_namespaces == {k: infra.id for k in ("net", "ipc", "uts")}
    assert srv.config.pod == pod.id and srv.config.dependencies() == [infra.id]
    assert srv.inspect()["HostConfig"]["NetworkMode"] == f"container:{infra.id}"
    # One member exited, the others run: podman calls that Degraded.
    assert pod.status() == "Degraded"
    doc = pod.inspect()
    assert (doc["Name"], doc["InfraContainerID"], doc["NumContainers"]) == ("web", infra.id, 3)
    assert doc["SharedNamespaces"] == ["ipc", "net", "uts"] and doc["State"] == "Degraded"
    assert {c["Id"]: c["State"] for c in doc["Containers"]} == {
        infra.id: "running", srv.id: "running", client.id: "exited"}
    rt.remove_pod(pod, force=True, timeout=0)


def test_stopping_a_pod_stops_members_before_the_infra(rt, rootfs, www) -> None:
    exited = exit_recorder(rt)
    pod = rt.create_pod(labels={"tier": "web"})
    first = server(rt, rootfs, www, pod, 8080)
    second = server(rt, rootfs, www, pod, 8081)
    pod.start()
    assert pod.status() == "Running"
    started = time.monotonic()
    pod.stop()
    # Every process ends on SIGTERM (the infra's pause process too): no 10 s kill wait.
    assert time.monotonic() - started < 5
    infra = pod.infra().sync()
    assert exited == [second.id, first.id, infra.id]
    members = [c.sync() for c in (first, second)]
    assert all(infra.state.finished_at >= m.state.finished_at > 0 for m in members)
    assert infra.state.exit_code == 0 and infra.state.state is S.EXITED
    assert pod.status() == "Exited"
    # Started again, the members join the infra container's new namespaces.
    pod.start()
    assert pod.status() == "Running"
    assert ns(first.sync().state.pid, "net") == ns(pod.infra().sync().state.pid, "net")
    rt.remove_pod(pod, force=True, timeout=0)
    assert rt.pods() == [] and rt.containers() == []


def test_shutdown_force_stops_a_pods_members_before_its_infra(rt, rootfs, www) -> None:
    exited = exit_recorder(rt)
    pod = rt.create_pod()
    member = server(rt, rootfs, www, pod, 8080)
    pod.start()
    infra_id = pod.infra_container_id
    rt.shutdown(force=True)
    assert exited == [member.id, infra_id]


def test_running_a_container_in_a_created_pod_starts_the_infra_first(rt, rootfs) -> None:
    pod = rt.create_pod()
    ctr = rt.create_container(rootfs, ["hostname"], pod=pod.name)
    assert run(ctr) == (f"{pod.name}\n".encode(), 0)
    assert pod.infra().sync().state.state is S.RUNNING
    rt.remove_pod(pod, force=True, timeout=0)


def test_pause_unpause_kill_and_restart(rt, rootfs, www) -> None:
    pod = rt.create_pod()
    srv = server(rt, rootfs, www, pod)
    pod.start()
    pod.pause()
    assert pod.status() == "Paused"
    assert {c.state.state for c in pod.containers()} == {S.PAUSED}
    pod.unpause()
    assert pod.status() == "Running"
    old_pid = srv.sync().state.pid
    pod.restart()
    assert pod.status() == "Running" and srv.sync().state.pid != old_pid
    pod.kill(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pod.status() != "Exited" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pod.status() == "Exited"
    with pytest.raises(CtrStateInvalidError, match="no container of it is running"):
        pod.kill()
    rt.remove_pod(pod, force=True)
    assert rt.pods() == []


def test_removing_the_infra_container_is_refused_with_a_clear_error(rt, rootfs) -> None:
    pod = rt.create_pod(name="holder")
    member = rt.create_container(rootfs, ["true"], pod=pod)
    infra = pod.infra()
    assert rt.state.container_in_use(infra.id) == [member.id]
    with pytest.raises(CtrInUseError) as info:
        rt.remove_container(infra, force=True)
    message = str(info.value)
    assert "infra container of pod holder" in message and "pod rm" in message
    assert "\n" not in message
    assert rt.get_container(infra.id).config.is_infra  # still there
    # Without members it still goes only with its pod: the pod's namespaces are its.
    rt.remove_container(member)
    with pytest.raises(CtrInUseError, match="infra container of pod holder"):
        rt.remove_container(infra)
    rt.remove_pod(pod)
    with pytest.raises(NoSuchCtrError):
        rt.get_container(infra.id)


def test_remove_pod_refuses_a_running_member_without_force(rt, rootfs) -> None:
    pod = rt.create_pod(name="busy")
    member = rt.create_container(rootfs, ["sleep", "60"], pod=pod, stop_timeout=0)
    pod.start()
    with pytest.raises(CtrStateInvalidError) as info:
        rt.remove_pod(pod)
    assert str(info.value) == (
        f"removing container {member.id} from pod {pod.id}: cannot remove container "
        f"{member.id} as it is running - running or paused containers cannot be removed "
        "without force: container state improper")
    rt.remove_pod(pod, force=True)
    with pytest.raises(NoSuchPodError):
        rt.lookup_pod("busy")
    assert rt.containers() == []
    assert not os.path.exists(os.path.join(rt.lock_dir, f"pod-{pod.id}.lock"))


def test_remove_pod_takes_stopped_members_and_a_running_infra(rt, rootfs) -> None:
    # As podman's: only a running or paused member needs force; the infra container
    # (running while the pod is) is stopped, members that exited go with the pod.
    pod = rt.create_pod(name="done")
    member = rt.create_container(rootfs, ["true"], pod=pod)
    created = rt.create_container(rootfs, ["true"], pod=pod)
    pod.start()
    member.wait()
    infra = rt.get_container(pod.infra_container_id)
    assert infra.sync().state.state == ContainerStatus.RUNNING
    rt.remove_pod(pod)
    with pytest.raises(NoSuchPodError):
        rt.lookup_pod("done")
    for gone in (member, created, infra):
        with pytest.raises(NoSuchCtrError):
            rt.get_container(gone.id)


def test_a_pod_removed_by_another_process_leaves_no_lock_file(rt, make_runtime) -> None:
    pod = rt.create_pod(name="gone", infra=False)
    other = make_runtime()
    other.remove_pod(other.lookup_pod("gone"))
    with pytest.raises(NoSuchPodError):
        pod.sync()  # takes the lock (re-creating its file), then finds the pod gone
    assert not os.path.exists(os.path.join(rt.lock_dir, f"pod-{pod.id}.lock"))


def test_a_pod_and_a_container_never_share_a_name(rt, rootfs) -> None:
    rt.create_pod(name="shared")
    with pytest.raises(NameInUseError):
        rt.create_container(rootfs, ["true"], name="shared")
    rt.create_container(rootfs, ["true"], name="ctr")
    with pytest.raises(NameInUseError):
        rt.create_pod(name="ctr")
    assert rt.name_in_use("shared") and rt.name_in_use("ctr")
    with pytest.raises(InvalidArgError):
        rt.create_pod(name="-bad")
    generated = rt.create_pod()  # a generated name, checked against both kinds
    assert rt.name_in_use(generated.name) and "_" in generated.name
    assert rt.lookup_pod(generated.name).id == generated.id


def test_a_member_cannot_configure_the_network_it_shares(rt, rootfs) -> None:
    pod = rt.create_pod(name="netpod")
    for fields in ({"network_mode": "bridge"}, {"port_mappings": (PortMapping(8080, 80),)}):
        with pytest.raises(InvalidArgError, match="netpod"):
            rt.create_container(rootfs, ["true"], pod=pod, **fields)
    # podman's words, which scripts match
    with pytest.raises(InvalidArgError, match="cannot set hostname when joining the pod UTS "
                                              "namespace: invalid configuration"):
        rt.create_container(rootfs, ["true"], pod=pod, hostname="mine")
    with pytest.raises(InvalidArgError):
        rt.create_pod(infra=False, share=("net",))
    with pytest.raises(InvalidArgError, match="invalid kernel namespace to share: mnt"):
        rt.create_pod(share=("mnt",))
    # Without an infra container a pod only groups containers: nothing is shared.
    plain = rt.create_pod(infra=False)
    ctr = rt.create_container(rootfs, ["true"], pod=plain)
    assert plain.infra() is None and ctr.config.shared_namespaces == {}
    assert run(ctr)[1] == 0 and plain.status() == "Exited"


def test_the_infra_root_filesystem_and_command_are_config_keys(make_runtime, rootfs) -> None:
    need_binary("runc")
    default = make_runtime()
    pod = default.create_pod()
    infra = pod.infra()
    built = os.path.join(default.config.graph_root, "infra", "pypod-infra")
    assert (infra.config.rootfs, infra.config.command) == (built, ("/bin/pypod-pause",))
    assert infra.config.read_only and infra.name == f"{pod.id[:12]}-infra"
    default.shutdown()
    own = make_runtime(infra_image=rootfs,
                       infra_command=["sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait"])
    pod = own.create_pod()
    pod.start()
    assert pod.infra().config.rootfs == rootfs and pod.status() == "Running"
    own.remove_pod(pod, force=True)
    broken = make_runtime(infra_image=os.path.join(rootfs, "no-such-dir"))
    before = len(broken.state.all_containers())
    with pytest.raises(InvalidArgError, match="infra_image"):
        broken.create_pod(name="half")
    with pytest.raises(NoSuchPodError):  # a failed creation leaves no record
        broken.lookup_pod("half")
    assert len(broken.state.all_containers()) == before


def test_pypod_pod_created_fires_once_the_pod_and_its_infra_exist(rt) -> None:
    seen: list[Any] = []
    plugin = types.ModuleType("pod_created")

    @hookimpl
    def pypod_pod_created(runtime: Any, pod: Any) -> None:
        seen.append((runtime.lookup_pod(pod.id).name, pod.infra_container_id,
                     runtime.get_container(pod.infra_container_id).config.is_infra))

    plugin.pypod_pod_created = pypod_pod_created  # type: ignore[attr-defined]
    rt.plugins.register_module(plugin, "pod_created")
    pod = rt.create_pod(name="evented")
    assert seen == [("evented", pod.infra_container_id, True)]


def test_pypod_pod_removed_fires_after_the_pod_left_the_state(rt, rootfs) -> None:
    seen: list[tuple[str, bool, list[str]]] = []
    plugin = types.ModuleType("pod_removed")

    @hookimpl
    def pypod_pod_removed(runtime: Any, pod: Any) -> None:
        seen.append((pod.name, runtime.state.has_pod(pod.id),
                     [r.config.id for r in runtime.state.all_containers()]))

    plugin.pypod_pod_removed = pypod_pod_removed  # type: ignore[attr-defined]
    rt.plugins.register_module(plugin, "pod_removed")
    pod = rt.create_pod(name="gone")
    rt.create_container(rootfs, ["true"], pod=pod)
    rt.remove_pod(pod, force=True)
    assert seen == [("gone", False, [])]


def test_a_reboot_refreshes_pods_and_their_containers(rt, rootfs, www,
                                                      make_runtime) -> None:
    pod = rt.create_pod(name="survivor")
    srv = server(rt, rootfs, www, pod)
    pod.start()
    ctrs = pod.containers()
    pids = [p for c in ctrs for p in (c.state.conmon_pid, c.state.pid)]
    tmp_dir = rt.config.tmp_dir
    rt.state.close()
    rt.valid = False
    # The power goes off: every process dies, the per-boot tmp dir is emptied.
    for pid in pids:
        _kill(pid)
    _forget_cgroups(*(c.id for c in ctrs))
    await_exit_commands(rt.config.graph_root)
    power_off_tmp_dir(tmp_dir)
    after = make_runtime()
    assert after.refreshed_after_reboot
    again = after.lookup_pod("survivor")
    assert again.status() == "Created"
    assert {c.id: (c.state.state, c.state.pid) for c in again.containers()} == {
        c.id: (S.CONFIGURED, 0) for c in ctrs}
    # The pod runs again: the members join the new infra container's namespaces.
    again.start()
    assert again.status() == "Running"
    client = after.create_container(rootfs, ["sh", "-c", FETCH.format(port=8080)],
                                    pod=again)
    assert run(client) == (b"hello\n", 0)
    assert ns(after.get_container(srv.id).state.pid, "net") == \
        ns(again.infra().state.pid, "net")
    after.remove_pod(again, force=True, timeout=0)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _forget_cgroups(*ctr_ids: str) -> None:
    """Remove the cgroups (``/pypod/ID`` under each v1 hierarchy, or the v2 tree) that a
    reboot would have taken with it, once their processes are gone."""
    roots = ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", h)
                                  for h in os.listdir("/sys/fs/cgroup")]
    deadline = time.monotonic() + 5
    for root in roots:
        for ctr_id in ctr_ids:
            path = os.path.join(root, "pypod", ctr_id)
            while os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
