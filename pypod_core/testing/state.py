"""The state conformance kit: :class:`StateBackendTests`, the whole State contract as tests.

Its breadth follows libpod's ``state_test.go``, which runs one suite against every
state backend: every method of :class:`pypod_core.plugin.state.State`, every error it raises,
namespaces, pods, dependencies, volumes, the reboot refresh, the DB configuration and
closing.

A backend's test module subclasses the class and provides one fixture, ``make_state``:
a callable that takes a directory and returns a State keeping its data there.  Called
twice with one directory it must open the same store (for a backend that persists), so
the kit can test what survives a reopen; a backend that keeps nothing sets
``persistent = False`` and those tests skip::

    class TestMemoryState(StateBackendTests):
        persistent = False

        @pytest.fixture
        def make_state(self):
            return lambda directory: MemoryState()
"""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pypod_core.errors import (
    AmbiguousIDError,
    CtrExistsError,
    CtrInUseError,
    CtrRemovedError,
    DBBadConfigError,
    DBClosedError,
    InvalidArgError,
    NameInUseError,
    NoSuchCtrError,
    NoSuchPodError,
    NoSuchVolumeError,
    NSMismatchError,
    PodExistsError,
    PodNotEmptyError,
    VolumeExistsError,
    VolumeInUseError,
)
from pypod_core.model import (
    ContainerConfig,
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    Mount,
    NamedVolume,
    NetworkOptions,
    PodConfig,
    PodRecord,
    PodState,
    PortMapping,
    Rlimit,
    Volume,
    VolumeConfig,
    VolumeState,
    new_id,
)
from pypod_core.plugin.state import VOLUME_METHODS, DBConfig, State

#: ``make_state(directory)``: a State keeping its data in ``directory``.
MakeState = Callable[[str], State]

#: Errors a backend may raise for a container that was removed under the caller.
GONE = (NoSuchCtrError, CtrRemovedError)

_serial = itertools.count(1)
_NS_KINDS = ("net", "ipc", "uts", "pid")


def id_with_prefix(prefix: str) -> str:
    """A fresh 64-hex id that starts with ``prefix`` (for prefix-lookup tests)."""
    return prefix + new_id()[len(prefix):]


def ctr_record(
    name: str | None = None,
    *,
    ctr_id: str | None = None,
    pod: str = "",
    namespace: str = "",
    deps: tuple[str, ...] = (),
    created: float | None = None,
    **config: Any,
) -> ContainerRecord:
    """A container record; ``deps`` become shared namespaces (one kind each, up to 4)."""
    n = next(_serial)
    return ContainerRecord(
        ContainerConfig(
            id=new_id() if ctr_id is None else ctr_id,
            name=f"ctr{n}" if name is None else name,
            rootfs="/rootfs",
            pod=pod,
            namespace=namespace,
            shared_namespaces=dict(zip(_NS_KINDS, deps, strict=False)),
            created=1_000_000.0 + n if created is None else created,
            **config,
        ),
        ContainerState(),
    )


def pod_record(
    name: str | None = None,
    *,
    pod_id: str | None = None,
    namespace: str = "",
    created: float | None = None,
    **config: Any,
) -> PodRecord:
    """A pod record."""
    n = next(_serial)
    return PodRecord(
        PodConfig(
            id=new_id() if pod_id is None else pod_id,
            name=f"pod{n}" if name is None else name,
            namespace=namespace,
            created=1_000_000.0 + n if created is None else created,
            **config,
        ),
        PodState(),
    )


def vol_record(name: str | None = None, *, created: float | None = None,
               **config: Any) -> Volume:
    """A volume record (name ``volN`` unless given)."""
    n = next(_serial)
    name = f"vol{n}" if name is None else name
    config.setdefault("mount_point", f"/volumes/{name}/_data")
    return Volume(VolumeConfig(name=name,
                               created=1_000_000.0 + n if created is None else created,
                               **config),
                  VolumeState())


def using(*names: str) -> tuple[NamedVolume, ...]:
    """A container's ``named_volumes`` mounting each of ``names`` at ``/NAME``."""
    return tuple(NamedVolume(name, f"/{name}") for name in names)


def full_ctr_record() -> ContainerRecord:
    """A container with every field of its config and state set to a non-default value."""
    config = ContainerConfig(
        id=new_id(), name="everything", rootfs="/srv/rootfs", command=("sh", "-c", "exit 3"),
        env={"A": "1", "PATH": "/bin"}, workdir="/tmp", user="1000:1000", hostname="host",
        labels={"app": "web", "tier": "front"}, stop_signal=2, stop_timeout=3,
        mounts=(Mount("/a", "/b", read_only=True), Mount("/c", "/d"),
                Mount("tmpfs", "/t", type="tmpfs", options=("size=1m", "mode=700"))),
        rlimits=(Rlimit("RLIMIT_NOFILE", 1024, 2048),), read_only=True, privileged=True,
        auto_remove=True, network_mode="bridge", networks=("pypod", "other"),
        static_ip="10.88.0.9", port_mappings=(PortMapping(8080, 80, "udp", "127.0.0.1"),),
        networks_explicit=True,
        network_options=(NetworkOptions(network="other", aliases=("web",),
                                        static_ips=("10.89.0.7",),
                                        static_mac="02:42:ac:11:00:07"),),
        oci_runtime="crun", created=1234.5,
    )
    state = ContainerState(
        state=ContainerStatus.RUNNING, pid=42, conmon_pid=41, exit_code=7, oom_killed=True,
        started_at=10.5, finished_at=11.5, netns_path="/run/netns/x",
        network_status={"pypod": {"ips": [{"address": "10.88.0.9/16"}], "dns": {}}},
        reserved_ports=(8080, 8081), restart_count=2,
    )
    return ContainerRecord(config, state)


class StateBackendTests:
    """The State contract as pytest tests; subclass it and provide ``make_state``.

    ``persistent`` says whether the backend keeps its data across a reopen (a second
    ``make_state`` on the same directory); the persistence tests skip when it is False.
    """

    persistent: ClassVar[bool] = True

    # -- fixtures ----------------------------------------------------------------------

    @pytest.fixture
    def make_state(self) -> MakeState:
        """Provided by the subclass: ``make_state(directory) -> State``."""
        pytest.fail("a StateBackendTests subclass must provide a make_state fixture")

    @pytest.fixture
    def open_state(self, make_state: MakeState, tmp_path: Path) -> Iterator[Callable[..., State]]:
        """``open_state(directory=None)``: a State on the test's directory (or another);
        every State opened is closed at the end of the test."""
        opened: list[State] = []

        def open_(directory: str | None = None) -> State:
            state = make_state(directory or str(tmp_path / "state"))
            opened.append(state)
            return state

        yield open_
        for state in opened:
            state.close()

    @pytest.fixture
    def state(self, open_state: Callable[..., State]) -> State:
        """A fresh, empty State."""
        return open_state()

    def need_persistence(self) -> None:
        """Skip a test of what survives a reopen for a backend that keeps nothing."""
        if not self.persistent:
            pytest.skip("this backend keeps nothing across a reopen (persistent = False)")

    # -- containers: add, get, lookup --------------------------------------------------

    def test_new_state_is_empty(self, state: State) -> None:
        assert state.all_containers() == []
        assert state.all_pods() == []
        assert state.get_namespace() == ""

    def test_add_and_get_container(self, state: State) -> None:
        record = ctr_record("web")
        state.add_container(record)
        assert state.container(record.config.id) == record
        assert state.lookup_container("web") == record
        assert state.lookup_container(record.config.id) == record
        assert state.lookup_container(record.config.id[:12]) == record
        assert state.has_container(record.config.id)
        assert state.container_state(record.config.id) == ContainerState()

    def test_every_field_round_trips(self, state: State) -> None:
        record = full_ctr_record()
        state.add_container(record)
        assert state.container(record.config.id) == record
        assert state.all_containers() == [record]

    def test_returned_records_are_copies(self, state: State) -> None:
        record = ctr_record()
        state.add_container(record)
        got = state.container(record.config.id)
        got.state.pid = 999
        got.state.network_status["x"] = {"changed": True}
        got.config.labels["changed"] = "yes"
        assert state.container(record.config.id) == record
        record.state.pid = 777  # the caller's object after the add: not the store's
        assert state.container_state(record.config.id).pid == 0

    def test_get_missing_container(self, state: State) -> None:
        with pytest.raises(NoSuchCtrError):
            state.container(new_id())
        with pytest.raises(NoSuchCtrError):
            state.lookup_container("nothing")
        assert not state.has_container(new_id())

    @pytest.mark.parametrize("method", [
        "container", "lookup_container", "has_container", "remove_container",
        "container_state", "container_in_use", "pod", "lookup_pod", "has_pod",
        "pod_containers_by_id", "pod_containers", "remove_pod", "remove_pod_containers",
        "pod_state",
    ])
    def test_empty_id_is_invalid(self, state: State, method: str) -> None:
        with pytest.raises(InvalidArgError):
            getattr(state, method)("")

    def test_add_with_empty_id_or_name_is_invalid(self, state: State) -> None:
        with pytest.raises(InvalidArgError):
            state.add_container(ctr_record(ctr_id=""))
        with pytest.raises(InvalidArgError):
            state.add_container(ctr_record(name=""))
        with pytest.raises(InvalidArgError):
            state.add_pod(pod_record(pod_id=""))
        with pytest.raises(InvalidArgError):
            state.add_pod(pod_record(name=""))
        assert state.all_containers() == [] and state.all_pods() == []

    def test_add_duplicate_id_fails(self, state: State) -> None:
        record = ctr_record()
        state.add_container(record)
        with pytest.raises(CtrExistsError):
            state.add_container(ctr_record(ctr_id=record.config.id))
        assert state.all_containers() == [record]

    def test_add_duplicate_name_fails(self, state: State) -> None:
        record = ctr_record("same")
        state.add_container(record)
        other = ctr_record("same")
        with pytest.raises(NameInUseError):
            state.add_container(other)
        assert not state.has_container(other.config.id)

    def test_containers_and_pods_share_one_id_space(self, state: State) -> None:
        ctr, pod = ctr_record(), pod_record()
        state.add_container(ctr)
        state.add_pod(pod)
        with pytest.raises(PodExistsError):
            state.add_pod(pod_record(pod_id=ctr.config.id))
        with pytest.raises(CtrExistsError):
            state.add_container(ctr_record(ctr_id=pod.config.id))

    def test_containers_and_pods_share_one_name_space(self, state: State) -> None:
        state.add_container(ctr_record("taken-by-ctr"))
        state.add_pod(pod_record("taken-by-pod"))
        with pytest.raises(NameInUseError):
            state.add_pod(pod_record("taken-by-ctr"))
        with pytest.raises(NameInUseError):
            state.add_container(ctr_record("taken-by-pod"))
        assert len(state.all_containers()) == 1 and len(state.all_pods()) == 1

    def test_add_container_with_a_pod_set_is_invalid(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        with pytest.raises(InvalidArgError):
            state.add_container(ctr_record(pod=pod.config.id))
        assert state.pod_containers_by_id(pod.config.id) == []

    def test_lookup_by_unique_prefix(self, state: State) -> None:
        a, b = ctr_record(ctr_id=id_with_prefix("aa1")), ctr_record(ctr_id=id_with_prefix("aa2"))
        state.add_container(a)
        state.add_container(b)
        assert state.lookup_container("aa1") == a
        assert state.lookup_container("aa2") == b
        with pytest.raises(AmbiguousIDError):
            state.lookup_container("aa")
        with pytest.raises(NoSuchCtrError):
            state.lookup_container("aa3")

    def test_lookup_name_wins_over_id_prefix(self, state: State) -> None:
        by_id = ctr_record(ctr_id=id_with_prefix("beef"))
        by_name = ctr_record("beef", ctr_id=id_with_prefix("f00d"))  # never "bee..."
        state.add_container(by_id)
        state.add_container(by_name)
        assert state.lookup_container("beef") == by_name
        assert state.lookup_container("bee") == by_id

    def test_pods_are_not_containers(self, state: State) -> None:
        pod = pod_record("a-pod")
        state.add_pod(pod)
        with pytest.raises(NoSuchCtrError):
            state.container(pod.config.id)
        with pytest.raises(NoSuchCtrError):
            state.lookup_container("a-pod")
        with pytest.raises(NoSuchCtrError):
            state.lookup_container(pod.config.id[:10])
        assert not state.has_container(pod.config.id)

    # -- containers: state, remove, list -----------------------------------------------

    def test_save_and_read_state(self, state: State) -> None:
        record = ctr_record()
        state.add_container(record)
        new = ContainerState(state=ContainerStatus.RUNNING, pid=12, conmon_pid=11,
                             network_status={"pypod": {"ips": []}}, reserved_ports=(80,))
        state.save_container_state(record.config.id, new)
        assert state.container_state(record.config.id) == new
        assert state.container(record.config.id).state == new
        assert state.lookup_container(record.config.name).state == new
        new.pid = 13  # changing the caller's object after the save changes nothing
        assert state.container_state(record.config.id).pid == 12

    def test_save_state_of_missing_container(self, state: State) -> None:
        with pytest.raises(GONE):
            state.save_container_state(new_id(), ContainerState())

    def test_save_container_networks(self, open_state: Callable[..., State]) -> None:
        state = open_state()
        record = ctr_record()
        state.add_container(record)
        new = ContainerState(state=ContainerStatus.RUNNING, pid=12,
                             network_status={"other": {"ips": []}})
        options = (NetworkOptions(network="other", aliases=("db",), interface_name="eth1"),)
        state.save_container_networks(record.config.id, ("other",), options, new)
        stored = state.container(record.config.id)
        assert stored.config.networks == ("other",) and stored.config.networks_explicit
        assert stored.config.options_for("other") == options[0]
        assert stored.config.name == record.config.name  # the rest of the config as was
        assert stored.state == new
        state.save_container_networks(record.config.id, (), (), ContainerState())
        left = state.lookup_container(record.config.name).config
        assert left.networks == () and left.network_list("pypod") == ()  # none: not the default
        if self.persistent:
            assert open_state().container(record.config.id).config == left
        with pytest.raises(GONE):
            state.save_container_networks(new_id(), (), (), ContainerState())

    def test_remove_container(self, state: State) -> None:
        record, other = ctr_record("gone"), ctr_record()
        state.add_container(record)
        state.add_container(other)
        state.remove_container(record.config.id)
        assert not state.has_container(record.config.id)
        assert state.all_containers() == [other]
        with pytest.raises(NoSuchCtrError):
            state.container(record.config.id)
        with pytest.raises(NoSuchCtrError):
            state.lookup_container("gone")
        with pytest.raises(GONE):
            state.container_state(record.config.id)
        with pytest.raises(GONE):
            state.save_container_state(record.config.id, ContainerState())
        state.add_container(ctr_record("gone", ctr_id=record.config.id))  # id, name free

    def test_remove_missing_container(self, state: State) -> None:
        with pytest.raises(NoSuchCtrError):
            state.remove_container(new_id())

    def test_all_containers_oldest_first(self, state: State) -> None:
        records = [ctr_record(created=t) for t in (30.0, 10.0, 20.0)]
        for record in records:
            state.add_container(record)
        assert state.all_containers() == sorted(records, key=lambda r: r.config.created)

    # -- dependencies ------------------------------------------------------------------

    def test_dependency_must_exist(self, state: State) -> None:
        record = ctr_record(deps=(new_id(),))
        with pytest.raises(NoSuchCtrError):
            state.add_container(record)
        assert not state.has_container(record.config.id)
        state.add_container(ctr_record(record.config.name))  # the name was not taken

    def test_a_pod_is_not_a_dependency(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        with pytest.raises(NoSuchCtrError):
            state.add_container(ctr_record(deps=(pod.config.id,)))

    def test_container_in_use(self, state: State) -> None:
        base, other = ctr_record(), ctr_record()
        state.add_container(base)
        state.add_container(other)
        assert state.container_in_use(base.config.id) == []
        one = ctr_record(deps=(base.config.id,))
        two = ctr_record(deps=(base.config.id, other.config.id))
        state.add_container(one)
        state.add_container(two)
        assert state.container_in_use(base.config.id) == sorted([one.config.id, two.config.id])
        assert state.container_in_use(other.config.id) == [two.config.id]
        assert state.container_in_use(one.config.id) == []
        with pytest.raises(NoSuchCtrError):
            state.container_in_use(new_id())

    def test_cannot_remove_a_container_others_depend_on(self, state: State) -> None:
        base = ctr_record()
        state.add_container(base)
        user = ctr_record(deps=(base.config.id,))
        state.add_container(user)
        with pytest.raises(CtrInUseError):
            state.remove_container(base.config.id)
        assert state.has_container(base.config.id)
        state.remove_container(user.config.id)
        assert state.container_in_use(base.config.id) == []
        state.remove_container(base.config.id)
        assert state.all_containers() == []

    # -- namespaces --------------------------------------------------------------------

    def test_set_and_get_namespace(self, state: State) -> None:
        state.set_namespace("ns1")
        assert state.get_namespace() == "ns1"
        state.set_namespace("")
        assert state.get_namespace() == ""

    def test_add_in_the_state_namespace(self, state: State) -> None:
        state.set_namespace("ns1")
        record, pod = ctr_record(namespace="ns1"), pod_record(namespace="ns1")
        state.add_container(record)
        state.add_pod(pod)
        assert state.container(record.config.id) == record
        assert state.pod(pod.config.id) == pod

    def test_add_in_another_namespace_fails(self, state: State) -> None:
        state.set_namespace("ns1")
        record, pod = ctr_record(namespace="ns2"), pod_record(namespace="ns2")
        with pytest.raises(NSMismatchError):
            state.add_container(record)
        with pytest.raises(NSMismatchError):
            state.add_pod(pod)
        state.set_namespace("")
        assert state.all_containers() == [] and state.all_pods() == []

    def test_containers_of_other_namespaces_are_invisible(self, state: State) -> None:
        record = ctr_record("hidden", namespace="ns2")
        state.add_container(record)
        ctr_id = record.config.id
        state.set_namespace("ns1")
        assert not state.has_container(ctr_id)
        assert state.all_containers() == []
        for key in ("hidden", ctr_id, ctr_id[:8]):
            with pytest.raises(NoSuchCtrError):
                state.lookup_container(key)
        for call in (state.container, state.container_state, state.container_in_use,
                     state.remove_container):
            with pytest.raises(NSMismatchError):
                call(ctr_id)
        with pytest.raises(NSMismatchError):
            state.save_container_state(ctr_id, ContainerState())
        state.set_namespace("ns2")
        assert state.lookup_container("hidden") == record
        assert state.all_containers() == [record]

    def test_prefix_is_unique_within_the_namespace(self, state: State) -> None:
        mine = ctr_record(ctr_id=id_with_prefix("cafe1"), namespace="ns1")
        theirs = ctr_record(ctr_id=id_with_prefix("cafe2"), namespace="ns2")
        state.add_container(mine)
        state.add_container(theirs)
        with pytest.raises(AmbiguousIDError):
            state.lookup_container("cafe")
        state.set_namespace("ns1")
        assert state.lookup_container("cafe") == mine

    def test_names_are_unique_across_namespaces(self, state: State) -> None:
        state.add_container(ctr_record("shared", namespace="ns1"))
        with pytest.raises(NameInUseError):
            state.add_container(ctr_record("shared", namespace="ns2"))
        with pytest.raises(NameInUseError):
            state.add_pod(pod_record("shared", namespace="ns2"))

    def test_dependency_must_share_the_namespace(self, state: State) -> None:
        base = ctr_record(namespace="ns1")
        state.add_container(base)
        record = ctr_record(namespace="ns2", deps=(base.config.id,))
        with pytest.raises(NSMismatchError):
            state.add_container(record)
        assert not state.has_container(record.config.id)

    def test_pods_of_other_namespaces_are_invisible(self, state: State) -> None:
        pod = pod_record("hidden-pod", namespace="ns2")
        state.add_pod(pod)
        pod_id = pod.config.id
        state.set_namespace("ns1")
        assert not state.has_pod(pod_id)
        assert state.all_pods() == []
        for key in ("hidden-pod", pod_id, pod_id[:8]):
            with pytest.raises(NoSuchPodError):
                state.lookup_pod(key)
        for call in (state.pod, state.pod_state, state.pod_containers,
                     state.pod_containers_by_id, state.remove_pod,
                     state.remove_pod_containers):
            with pytest.raises(NSMismatchError):
                call(pod_id)
        with pytest.raises(NSMismatchError):
            state.save_pod_state(pod_id, PodState())
        with pytest.raises(NSMismatchError):
            state.add_container_to_pod(pod_id, ctr_record(pod=pod_id, namespace="ns1"))

    def test_pod_member_must_share_the_pod_namespace(self, state: State) -> None:
        pod = pod_record(namespace="ns1")
        state.add_pod(pod)
        record = ctr_record(pod=pod.config.id, namespace="ns2")
        with pytest.raises(NSMismatchError):
            state.add_container_to_pod(pod.config.id, record)
        assert state.pod_containers_by_id(pod.config.id) == []

    # -- pods --------------------------------------------------------------------------

    def test_add_and_get_pod(self, state: State) -> None:
        pod = pod_record("mypod", labels={"a": "b"}, share=("net",), infra=False,
                         port_mappings=(PortMapping(8080, 80),))
        state.add_pod(pod)
        assert state.pod(pod.config.id) == pod
        assert state.lookup_pod("mypod") == pod
        assert state.lookup_pod(pod.config.id) == pod
        assert state.lookup_pod(pod.config.id[:12]) == pod
        assert state.has_pod(pod.config.id)
        assert state.all_pods() == [pod]

    def test_get_missing_pod(self, state: State) -> None:
        ctr = ctr_record("a-ctr")
        state.add_container(ctr)
        for key in (new_id(), ctr.config.id):
            with pytest.raises(NoSuchPodError):
                state.pod(key)
            assert not state.has_pod(key)
        for key in ("a-ctr", "nothing", ctr.config.id[:10]):
            with pytest.raises(NoSuchPodError):
                state.lookup_pod(key)

    def test_lookup_pod_by_prefix(self, state: State) -> None:
        a, b = pod_record(pod_id=id_with_prefix("dd1")), pod_record(pod_id=id_with_prefix("dd2"))
        state.add_pod(a)
        state.add_pod(b)
        assert state.lookup_pod("dd1") == a
        with pytest.raises(AmbiguousIDError):
            state.lookup_pod("dd")

    def test_add_duplicate_pod_fails(self, state: State) -> None:
        pod = pod_record("p")
        state.add_pod(pod)
        with pytest.raises(PodExistsError):
            state.add_pod(pod_record(pod_id=pod.config.id))
        with pytest.raises(NameInUseError):
            state.add_pod(pod_record("p"))
        assert state.all_pods() == [pod]

    def test_pod_members(self, state: State) -> None:
        pod, other = pod_record(), pod_record()
        state.add_pod(pod)
        state.add_pod(other)
        first = ctr_record(pod=pod.config.id, created=20.0)
        second = ctr_record(pod=pod.config.id, created=10.0)
        outside = ctr_record()
        for record in (first, second):
            state.add_container_to_pod(pod.config.id, record)
        state.add_container(outside)
        assert state.pod_containers_by_id(pod.config.id) == [second.config.id, first.config.id]
        assert state.pod_containers(pod.config.id) == [second, first]
        assert state.pod_has_container(pod.config.id, first.config.id)
        assert not state.pod_has_container(pod.config.id, outside.config.id)
        assert not state.pod_has_container(other.config.id, first.config.id)
        assert not state.pod_has_container(pod.config.id, new_id())
        assert state.pod_containers(other.config.id) == []
        assert state.container(first.config.id).config.pod == pod.config.id
        assert len(state.all_containers()) == 3

    def test_pod_membership_of_a_missing_pod(self, state: State) -> None:
        with pytest.raises(NoSuchPodError):
            state.pod_has_container(new_id(), new_id())
        with pytest.raises(NoSuchPodError):
            state.pod_containers(new_id())
        with pytest.raises(NoSuchPodError):
            state.pod_containers_by_id(new_id())

    def test_add_container_to_a_missing_pod(self, state: State) -> None:
        pod_id = new_id()
        record = ctr_record(pod=pod_id)
        with pytest.raises(NoSuchPodError):
            state.add_container_to_pod(pod_id, record)
        assert not state.has_container(record.config.id)

    def test_add_container_configured_for_another_pod(self, state: State) -> None:
        pod, other = pod_record(), pod_record()
        state.add_pod(pod)
        state.add_pod(other)
        for config_pod in ("", other.config.id):
            with pytest.raises(InvalidArgError):
                state.add_container_to_pod(pod.config.id, ctr_record(pod=config_pod))
        assert state.all_containers() == []

    def test_pod_member_names_and_ids_are_checked(self, state: State) -> None:
        pod = pod_record("pp")
        state.add_pod(pod)
        loner = ctr_record("loner")
        state.add_container(loner)
        with pytest.raises(NameInUseError):
            state.add_container_to_pod(pod.config.id, ctr_record("loner", pod=pod.config.id))
        with pytest.raises(NameInUseError):
            state.add_container_to_pod(pod.config.id, ctr_record("pp", pod=pod.config.id))
        with pytest.raises(CtrExistsError):
            state.add_container_to_pod(
                pod.config.id, ctr_record(ctr_id=loner.config.id, pod=pod.config.id))
        assert state.pod_containers_by_id(pod.config.id) == []

    def test_dependencies_do_not_cross_a_pod_boundary(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        member, loner = ctr_record(pod=pod.config.id), ctr_record()
        state.add_container_to_pod(pod.config.id, member)
        state.add_container(loner)
        with pytest.raises(InvalidArgError):
            state.add_container(ctr_record(deps=(member.config.id,)))
        with pytest.raises(InvalidArgError):
            state.add_container_to_pod(
                pod.config.id, ctr_record(pod=pod.config.id, deps=(loner.config.id,)))
        inside = ctr_record(pod=pod.config.id, deps=(member.config.id,))
        state.add_container_to_pod(pod.config.id, inside)
        assert state.container_in_use(member.config.id) == [inside.config.id]

    def test_members_are_removed_through_their_pod(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        member = ctr_record(pod=pod.config.id)
        state.add_container_to_pod(pod.config.id, member)
        with pytest.raises(InvalidArgError):
            state.remove_container(member.config.id)
        state.remove_container_from_pod(pod.config.id, member.config.id)
        assert state.pod_containers_by_id(pod.config.id) == []
        assert not state.has_container(member.config.id)

    def test_remove_container_from_the_wrong_pod(self, state: State) -> None:
        pod, other = pod_record(), pod_record()
        state.add_pod(pod)
        state.add_pod(other)
        member, loner = ctr_record(pod=pod.config.id), ctr_record()
        state.add_container_to_pod(pod.config.id, member)
        state.add_container(loner)
        for pod_id, ctr_id in ((other.config.id, member.config.id),
                               (pod.config.id, loner.config.id),
                               (pod.config.id, new_id())):
            with pytest.raises(NoSuchCtrError):
                state.remove_container_from_pod(pod_id, ctr_id)
        with pytest.raises(NoSuchPodError):
            state.remove_container_from_pod(new_id(), member.config.id)
        assert state.has_container(member.config.id) and state.has_container(loner.config.id)

    def test_remove_pod_member_others_depend_on(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        base = ctr_record(pod=pod.config.id)
        state.add_container_to_pod(pod.config.id, base)
        user = ctr_record(pod=pod.config.id, deps=(base.config.id,))
        state.add_container_to_pod(pod.config.id, user)
        with pytest.raises(CtrInUseError):
            state.remove_container_from_pod(pod.config.id, base.config.id)
        assert state.pod_has_container(pod.config.id, base.config.id)

    def test_remove_pod(self, state: State) -> None:
        pod = pod_record("removable")
        state.add_pod(pod)
        state.remove_pod(pod.config.id)
        assert not state.has_pod(pod.config.id)
        assert state.all_pods() == []
        with pytest.raises(NoSuchPodError):
            state.remove_pod(pod.config.id)
        state.add_container(ctr_record("removable", ctr_id=pod.config.id))  # id, name free

    def test_remove_pod_with_members_fails(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        state.add_container_to_pod(pod.config.id, ctr_record(pod=pod.config.id))
        with pytest.raises(PodNotEmptyError):
            state.remove_pod(pod.config.id)
        assert state.has_pod(pod.config.id)

    def test_remove_pod_containers(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        base = ctr_record("member-a", pod=pod.config.id)
        state.add_container_to_pod(pod.config.id, base)
        user = ctr_record("member-b", pod=pod.config.id, deps=(base.config.id,))
        state.add_container_to_pod(pod.config.id, user)
        loner = ctr_record()
        state.add_container(loner)
        state.remove_pod_containers(pod.config.id)
        assert state.pod_containers_by_id(pod.config.id) == []
        assert state.all_containers() == [loner]
        state.add_container(ctr_record("member-a"))  # names free again
        state.remove_pod(pod.config.id)

    def test_remove_pod_containers_of_an_empty_or_missing_pod(self, state: State) -> None:
        pod, loner = pod_record(), ctr_record()
        state.add_pod(pod)
        state.add_container(loner)
        state.remove_pod_containers(pod.config.id)
        assert state.all_containers() == [loner] and state.has_pod(pod.config.id)
        with pytest.raises(NoSuchPodError):
            state.remove_pod_containers(new_id())

    def test_pod_state(self, state: State) -> None:
        pod = pod_record()
        state.add_pod(pod)
        assert state.pod_state(pod.config.id) == PodState()
        new = PodState(infra_container_id=new_id())
        state.save_pod_state(pod.config.id, new)
        assert state.pod_state(pod.config.id) == new
        assert state.pod(pod.config.id).state == new
        with pytest.raises(NoSuchPodError):
            state.pod_state(new_id())
        with pytest.raises(NoSuchPodError):
            state.save_pod_state(new_id(), new)

    def test_all_pods_oldest_first(self, state: State) -> None:
        pods = [pod_record(created=t) for t in (5.0, 1.0, 3.0)]
        for pod in pods:
            state.add_pod(pod)
        assert state.all_pods() == sorted(pods, key=lambda p: p.config.created)

    # -- volumes -----------------------------------------------------------------------

    def test_add_and_get_volume(self, state: State) -> None:
        assert state.all_volumes() == []
        volume = vol_record("data", labels={"app": "db"}, options={"type": "tmpfs"},
                            anonymous=True, uid=1000, gid=1001, driver="other")
        state.add_volume(volume)
        assert state.volume("data") == volume
        assert state.lookup_volume("data") == volume
        assert state.has_volume("data") and not state.has_volume("dat")
        assert state.volume_state("data") == VolumeState()
        assert state.all_volumes() == [volume]

    def test_volume_records_are_copies(self, state: State) -> None:
        volume = vol_record("data")
        state.add_volume(volume)
        got = state.volume("data")
        got.config.labels["changed"] = "yes"
        got.state.mounted_by = ("x",)
        volume.state.needs_copy_up = False  # the caller's object after the add
        assert state.volume("data") == vol_record("data", mount_point=volume.config.mount_point,
                                                  created=volume.config.created)

    def test_volume_names_are_unique_among_volumes(self, state: State) -> None:
        state.add_volume(vol_record("data"))
        with pytest.raises(VolumeExistsError):
            state.add_volume(vol_record("data"))
        assert len(state.all_volumes()) == 1
        # volumes have a name space of their own: a container may have the name too
        state.add_container(ctr_record("data"))
        state.add_volume(vol_record("ctr-name"))
        state.add_container(ctr_record("ctr-name"))

    def test_missing_volume(self, state: State) -> None:
        assert not state.has_volume("nothing")
        for call in (lambda: state.volume("nothing"), lambda: state.lookup_volume("nothing"),
                     lambda: state.volume_state("nothing"),
                     lambda: state.save_volume_state("nothing", VolumeState()),
                     lambda: state.remove_volume("nothing"),
                     lambda: state.volume_in_use("nothing")):
            with pytest.raises(NoSuchVolumeError):
                call()

    @pytest.mark.parametrize("method", ["volume", "lookup_volume", "has_volume",
                                        "remove_volume", "volume_state", "volume_in_use"])
    def test_empty_volume_name_is_invalid(self, state: State, method: str) -> None:
        with pytest.raises(InvalidArgError):
            getattr(state, method)("")

    def test_lookup_volume_by_unique_prefix(self, state: State) -> None:
        for name in ("data-one", "data-two", "logs"):
            state.add_volume(vol_record(name))
        assert state.lookup_volume("lo").name == "logs"
        assert state.lookup_volume("data-t").name == "data-two"
        with pytest.raises(AmbiguousIDError):
            state.lookup_volume("data")
        state.add_volume(vol_record("data"))
        assert state.lookup_volume("data").name == "data"  # a full name wins

    def test_a_container_needs_its_volumes_to_exist(self, state: State) -> None:
        state.add_volume(vol_record("here"))
        record = ctr_record("user", named_volumes=using("here", "missing"))
        with pytest.raises(NoSuchVolumeError):
            state.add_container(record)
        assert not state.has_container(record.config.id)
        state.add_container(ctr_record("user", named_volumes=using("here")))

    def test_a_volume_in_use_cannot_be_removed(self, state: State) -> None:
        for name in ("data", "logs"):
            state.add_volume(vol_record(name))
        one = ctr_record(named_volumes=using("data", "data", "logs"))
        two = ctr_record(named_volumes=using("data"))
        state.add_container(one)
        state.add_container(two)
        assert state.volume_in_use("data") == sorted([one.config.id, two.config.id])
        assert state.volume_in_use("logs") == [one.config.id]
        with pytest.raises(VolumeInUseError) as info:
            state.remove_volume("data")
        assert one.config.id in str(info.value) and two.config.id in str(info.value)
        assert state.has_volume("data")
        state.remove_container(one.config.id)
        state.remove_container(two.config.id)
        assert state.volume_in_use("data") == []
        state.remove_volume("data")
        assert [v.name for v in state.all_volumes()] == ["logs"]
        state.add_volume(vol_record("data"))  # the name is free again

    def test_volumes_are_in_use_across_namespaces(self, state: State) -> None:
        state.add_volume(vol_record("shared"))
        record = ctr_record(namespace="ns1", named_volumes=using("shared"))
        state.add_container(record)
        state.set_namespace("ns2")
        assert state.volume("shared").name == "shared"  # volumes are in no namespace
        assert state.volume_in_use("shared") == [record.config.id]
        with pytest.raises(VolumeInUseError):
            state.remove_volume("shared")

    def test_pod_members_release_their_volumes(self, state: State) -> None:
        state.add_volume(vol_record("data"))
        pod = pod_record()
        state.add_pod(pod)
        member = ctr_record(pod=pod.config.id, named_volumes=using("data"))
        state.add_container_to_pod(pod.config.id, member)
        assert state.volume_in_use("data") == [member.config.id]
        state.remove_pod_containers(pod.config.id)
        state.remove_volume("data")

    def test_save_volume_state(self, state: State) -> None:
        state.add_volume(vol_record("data"))
        new = VolumeState(mounted_by=("a", "b"), mount_point="/mnt/x", needs_copy_up=False,
                          needs_chown=False)
        state.save_volume_state("data", new)
        assert state.volume_state("data") == new
        assert state.volume("data").state == new
        new.mounted_by = ()  # the caller's object after the save changes nothing
        assert state.volume_state("data").mounted_by == ("a", "b")

    def test_all_volumes_oldest_first(self, state: State) -> None:
        volumes = [vol_record(created=t) for t in (30.0, 10.0, 20.0)]
        for volume in volumes:
            state.add_volume(volume)
        assert state.all_volumes() == sorted(volumes, key=lambda v: v.config.created)

    def test_refresh_forgets_volume_mounts(self, state: State) -> None:
        state.add_volume(vol_record("data"))
        state.save_volume_state("data", VolumeState(mounted_by=("x",), mount_point="/m",
                                                    needs_copy_up=False))
        state.set_namespace("ns1")
        state.refresh()
        after = state.volume_state("data")
        assert (after.mounted_by, after.mount_point, after.needs_copy_up) == ((), "", False)

    # -- refresh after a reboot --------------------------------------------------------

    @pytest.mark.parametrize("before", list(ContainerStatus))
    def test_refresh_resets_every_container(self, state: State, before: ContainerStatus) -> None:
        record = ctr_record()
        state.add_container(record)
        lived = ContainerState(state=before, pid=10, conmon_pid=9, exit_code=3,
                               netns_path="/run/netns/x", network_status={"n": {"a": 1}},
                               reserved_ports=(80,), started_at=1.0, restart_count=4)
        state.save_container_state(record.config.id, lived)
        state.refresh()
        after = state.container_state(record.config.id)
        assert after.state is before.after_reboot()
        assert (after.pid, after.conmon_pid, after.netns_path) == (0, 0, "")
        assert after.network_status == {} and after.reserved_ports == ()
        assert (after.exit_code, after.started_at, after.restart_count) == (3, 1.0, 0)

    def test_refresh_covers_every_namespace_and_keeps_pods(self, state: State) -> None:
        pod = pod_record(namespace="ns2")
        state.add_pod(pod)
        infra = ctr_record(pod=pod.config.id, namespace="ns2")
        state.add_container_to_pod(pod.config.id, infra)
        state.save_pod_state(pod.config.id, PodState(infra_container_id=infra.config.id))
        state.save_container_state(
            infra.config.id, ContainerState(state=ContainerStatus.RUNNING, pid=5))
        state.set_namespace("ns1")
        state.refresh()
        state.set_namespace("")
        assert state.container_state(infra.config.id).state is ContainerStatus.CONFIGURED
        assert state.pod_state(pod.config.id).infra_container_id == infra.config.id

    # -- DB configuration --------------------------------------------------------------

    def _db_config(self, base: Path, **changes: str) -> DBConfig:
        values = {"static_dir": str(base / "static"), "tmp_dir": str(base / "tmp"),
                  "graph_root": str(base / "root"), "run_root": str(base / "run"),
                  "graph_driver": "vfs", "volume_dir": str(base / "volumes")}
        values.update(changes)
        for key in ("static_dir", "tmp_dir", "graph_root", "run_root", "volume_dir"):
            if values[key]:
                os.makedirs(values[key], exist_ok=True)
        return DBConfig(**values)

    def test_db_config_is_recorded_once(self, state: State, tmp_path: Path) -> None:
        assert state.get_db_config() is None
        ours = self._db_config(tmp_path)
        state.validate_db_config(ours)
        assert state.get_db_config() == ours
        state.validate_db_config(ours)
        assert state.get_db_config() == ours

    @pytest.mark.parametrize("field,label", [f for f in DBConfig.COMPARED if f[0] != "os"])
    def test_db_config_mismatch(self, state: State, tmp_path: Path, field: str,
                                label: str) -> None:
        recorded = self._db_config(tmp_path)
        state.validate_db_config(recorded)
        other = "overlay" if field == "graph_driver" else str(tmp_path / "elsewhere")
        with pytest.raises(DBBadConfigError) as info:
            state.validate_db_config(self._db_config(tmp_path, **{field: other}))
        assert str(info.value) == (
            f'database {label} "{getattr(recorded, field)}" does not match our {label} '
            f'"{other}": database configuration mismatch'
        )
        assert state.get_db_config() == recorded

    def test_db_config_resolves_symlinks(self, state: State, tmp_path: Path) -> None:
        recorded = self._db_config(tmp_path / "real")
        state.validate_db_config(recorded)
        (tmp_path / "link").symlink_to(tmp_path / "real")
        via_link = self._db_config(tmp_path / "link")
        state.validate_db_config(via_link)
        dotted = str(tmp_path / "real" / "root" / ".." / "static")
        state.validate_db_config(self._db_config(tmp_path / "real", static_dir=dotted))
        assert state.get_db_config() == recorded  # accepted, and the record is unchanged

    def test_db_config_empty_values_are_not_compared(self, state: State,
                                                     tmp_path: Path) -> None:
        recorded = self._db_config(tmp_path, volume_dir="")
        state.validate_db_config(recorded)
        state.validate_db_config(self._db_config(tmp_path, volume_dir=str(tmp_path / "v2")))
        state.validate_db_config(DBConfig())
        assert state.get_db_config() == recorded

    # -- closing -----------------------------------------------------------------------

    def _calls(self) -> dict[str, Callable[[State], Any]]:
        ctr, pod, some_id = ctr_record(), pod_record(), new_id()
        return {
            "refresh": lambda s: s.refresh(),
            "get_db_config": lambda s: s.get_db_config(),
            "validate_db_config": lambda s: s.validate_db_config(DBConfig()),
            "set_namespace": lambda s: s.set_namespace("x"),
            "get_namespace": lambda s: s.get_namespace(),
            "container": lambda s: s.container(some_id),
            "lookup_container": lambda s: s.lookup_container("x"),
            "has_container": lambda s: s.has_container(some_id),
            "add_container": lambda s: s.add_container(ctr),
            "remove_container": lambda s: s.remove_container(some_id),
            "container_state": lambda s: s.container_state(some_id),
            "save_container_state": lambda s: s.save_container_state(some_id, ContainerState()),
            "container_in_use": lambda s: s.container_in_use(some_id),
            "all_containers": lambda s: s.all_containers(),
            "pod": lambda s: s.pod(some_id),
            "lookup_pod": lambda s: s.lookup_pod("x"),
            "has_pod": lambda s: s.has_pod(some_id),
            "pod_has_container": lambda s: s.pod_has_container(some_id, some_id),
            "pod_containers_by_id": lambda s: s.pod_containers_by_id(some_id),
            "pod_containers": lambda s: s.pod_containers(some_id),
            "add_pod": lambda s: s.add_pod(pod),
            "remove_pod": lambda s: s.remove_pod(some_id),
            "remove_pod_containers": lambda s: s.remove_pod_containers(some_id),
            "add_container_to_pod": lambda s: s.add_container_to_pod(some_id, ctr),
            "remove_container_from_pod": lambda s: s.remove_container_from_pod(some_id, some_id),
            "pod_state": lambda s: s.pod_state(some_id),
            "save_pod_state": lambda s: s.save_pod_state(some_id, PodState()),
            "all_pods": lambda s: s.all_pods(),
            "volume": lambda s: s.volume("x"),
            "lookup_volume": lambda s: s.lookup_volume("x"),
            "has_volume": lambda s: s.has_volume("x"),
            "add_volume": lambda s: s.add_volume(vol_record()),
            "remove_volume": lambda s: s.remove_volume("x"),
            "volume_state": lambda s: s.volume_state("x"),
            "save_volume_state": lambda s: s.save_volume_state("x", VolumeState()),
            "volume_in_use": lambda s: s.volume_in_use("x"),
            "all_volumes": lambda s: s.all_volumes(),
        }

    def test_every_method_fails_after_close(self, state: State) -> None:
        state.close()
        calls = self._calls()
        abstract = {name for name, member in inspect.getmembers(State)
                    if getattr(member, "__isabstractmethod__", False)}
        assert abstract - {"close"} | set(VOLUME_METHODS) == set(calls), \
            "the kit must cover the whole interface"
        still_open = []
        for name, call in calls.items():
            try:
                call(state)
            except DBClosedError:
                continue
            still_open.append(name)
        assert still_open == [], "these methods worked on a closed state"
        state.close()  # closing twice is fine

    # -- persistence (backends that keep their data) -----------------------------------

    def test_everything_survives_a_reopen(self, open_state: Callable[..., State],
                                          tmp_path: Path) -> None:
        self.need_persistence()
        state = open_state()
        ours = self._db_config(tmp_path)
        state.validate_db_config(ours)
        pod = pod_record("keep-pod")
        state.add_pod(pod)
        state.save_pod_state(pod.config.id, PodState(infra_container_id="x"))
        base, loner = ctr_record(pod=pod.config.id), full_ctr_record()
        state.add_container_to_pod(pod.config.id, base)
        state.add_container(loner)
        state.add_volume(vol_record("keep-vol", labels={"a": "b"}))
        state.save_volume_state("keep-vol", VolumeState(mounted_by=("m",)))
        user = ctr_record("keep-user", pod=pod.config.id, deps=(base.config.id,),
                          named_volumes=using("keep-vol"))
        state.add_container_to_pod(pod.config.id, user)
        expected = state.all_containers(), state.all_pods(), state.all_volumes()
        state.close()
        again = open_state()
        assert (again.all_containers(), again.all_pods(), again.all_volumes()) == expected
        assert again.volume_in_use("keep-vol") == [user.config.id]
        with pytest.raises(VolumeExistsError):
            again.add_volume(vol_record("keep-vol"))
        assert again.get_db_config() == ours
        assert again.container_in_use(base.config.id) == [user.config.id]
        assert again.pod_containers_by_id(pod.config.id) == [base.config.id, user.config.id]
        with pytest.raises(NameInUseError):
            again.add_container(ctr_record("keep-pod"))
        with pytest.raises(DBBadConfigError):
            again.validate_db_config(self._db_config(tmp_path, tmp_dir=str(tmp_path / "t2")))

    def test_two_handles_see_each_other(self, open_state: Callable[..., State]) -> None:
        self.need_persistence()
        first, second = open_state(), open_state()
        record = ctr_record("seen")
        first.add_container(record)
        assert second.lookup_container("seen") == record
        running = ContainerState(state=ContainerStatus.RUNNING, pid=3)
        second.save_container_state(record.config.id, running)
        assert first.container_state(record.config.id) == running
        with pytest.raises(NameInUseError):
            second.add_container(ctr_record("seen"))
        first.remove_container(record.config.id)
        with pytest.raises(GONE):
            second.save_container_state(record.config.id, running)
        assert second.all_containers() == []
        first.add_volume(vol_record("seen-vol"))
        with pytest.raises(VolumeExistsError):
            second.add_volume(vol_record("seen-vol"))
        second.save_volume_state("seen-vol", VolumeState(mounted_by=("c",)))
        assert first.volume_state("seen-vol").mounted_by == ("c",)
        second.remove_volume("seen-vol")
        assert not first.has_volume("seen-vol")

    def test_refresh_survives_a_reopen(self, open_state: Callable[..., State]) -> None:
        self.need_persistence()
        state = open_state()
        record = ctr_record()
        state.add_container(record)
        state.save_container_state(record.config.id,
                                   ContainerState(state=ContainerStatus.PAUSED, pid=8))
        state.refresh()
        state.close()
        after = open_state().container_state(record.config.id)
        assert (after.state, after.pid) == (ContainerStatus.CONFIGURED, 0)
