"""An in-memory implementation of pypod's State interface (libpod's in_memory_state.go).

Records are copied in and out (through ``pypod_core.serialize``'s plain data, faster
than ``copy.deepcopy``), so that a caller's changes reach the store only through
``save_*``, as with a database.  Ids are also kept sorted, so that a lookup by id
prefix is a bisection, not a scan.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from pypod_core.errors import (
    AmbiguousIDError,
    CtrExistsError,
    CtrInUseError,
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
from pypod_core.model import ContainerRecord, ContainerState, NetworkOptions, PodRecord, PodState
from pypod_core.plugin.state import DBConfig, State, check_db_config
from pypod_core.serialize import from_dict, to_dict

if TYPE_CHECKING:
    from pypod_core.model import Volume, VolumeState

R = TypeVar("R", ContainerRecord, PodRecord)
T = TypeVar("T")


def _copy(obj: T) -> T:
    """A deep copy of a model object that shares nothing with ``obj``."""
    return from_dict(to_dict(obj), type(obj))


class SortedIds:
    """The ids of one table, sorted, for prefix lookups by bisection.

    Kept up to date by the store's own changes; rebuilt when the table object was
    replaced or its size no longer matches (a subclass may load its tables itself).
    """

    def __init__(self) -> None:
        self._table: dict[str, Any] | None = None
        self._ids: list[str] = []

    def of(self, table: dict[str, Any]) -> list[str]:
        """The ids of ``table``, sorted."""
        if self._table is not table or len(self._ids) != len(table):
            self._table, self._ids = table, sorted(table)
        return self._ids

    def added(self, table: dict[str, Any], obj_id: str) -> None:
        """Record that ``obj_id`` was added to ``table``."""
        if self._table is table:
            bisect.insort(self._ids, obj_id)

    def removed(self, table: dict[str, Any], obj_id: str) -> None:
        """Record that ``obj_id`` was removed from ``table``."""
        if self._table is table:
            i = bisect.bisect_left(self._ids, obj_id)
            if i < len(self._ids) and self._ids[i] == obj_id:
                del self._ids[i]

    def starting_with(self, table: dict[str, Any], prefix: str) -> list[str]:
        """The ids of ``table`` that start with ``prefix``, in order."""
        ids = self.of(table)
        i = bisect.bisect_left(ids, prefix)
        found = []
        while i < len(ids) and ids[i].startswith(prefix):
            found.append(ids[i])
            i += 1
        return found


class MemoryState(State):
    """Containers, pods and volumes of one process, in dictionaries."""

    def __init__(self) -> None:
        self._ctrs: dict[str, ContainerRecord] = {}
        self._pods: dict[str, PodRecord] = {}
        self._vols: dict[str, Volume] = {}  # by name
        self._names: dict[str, str] = {}  # name -> id, containers and pods alike
        self._db_config: DBConfig | None = None
        self._namespace = ""
        self._closed = False
        self._sorted = {"container": SortedIds(), "pod": SortedIds(), "volume": SortedIds()}

    # -- helpers -----------------------------------------------------------------------

    def _open(self) -> None:
        if self._closed:
            raise DBClosedError("the state is closed")

    def _visible(self, record: ContainerRecord | PodRecord) -> bool:
        return not self._namespace or record.config.namespace == self._namespace

    def _get(self, table: dict[str, R], obj_id: str, missing: type[Exception], kind: str) -> R:
        self._open()
        if not obj_id:
            raise InvalidArgError(f"{kind} id must not be empty")
        record = table.get(obj_id)
        if record is None:
            raise missing(f"no {kind} with id {obj_id}")
        if not self._visible(record):
            raise NSMismatchError(
                f"{kind} {obj_id} is in namespace {record.config.namespace!r}, "
                f"not {self._namespace!r}"
            )
        return _copy(record)

    def _lookup(self, table: dict[str, R], key: str, missing: type[Exception], kind: str) -> R:
        self._open()
        if not key:
            raise InvalidArgError(f"{kind} name or id must not be empty")
        by_name = self._names.get(key)
        if by_name in table and self._visible(table[by_name]):
            return _copy(table[by_name])
        matches = [table[i] for i in self._sorted[kind].starting_with(table, key)
                   if self._visible(table[i])]
        if len(matches) > 1:
            raise AmbiguousIDError(f"more than one {kind} matches id prefix {key!r}")
        if not matches:
            # podman's words, which scripts match: a container's name is quoted
            shown = f'"{key}"' if kind == "container" else key
            raise missing(f"no {kind} with name or ID {shown} found: no such {kind}")
        return _copy(matches[0])

    def _check_new(self, obj_id: str, name: str, exists: type[Exception], kind: str) -> None:
        self._open()
        if not obj_id or not name:
            raise InvalidArgError(f"a {kind} needs an id and a name")
        if obj_id in self._ctrs or obj_id in self._pods:
            raise exists(f"the id {obj_id} is already in use")
        if name in self._names:
            raise NameInUseError(f"the name {name!r} is already in use by {self._names[name]}")

    def _all(self, table: dict[str, R], keep: Callable[[R], bool] = lambda r: True) -> list[R]:
        self._open()
        records = [r for r in table.values() if self._visible(r) and keep(r)]
        return [_copy(r) for r in sorted(records, key=lambda r: r.config.created)]

    # -- life of the store -------------------------------------------------------------

    def close(self) -> None:
        self._closed = True

    def refresh(self) -> None:
        self._open()
        for record in self._ctrs.values():
            record.state.reset_after_reboot()
        for pod in self._pods.values():
            pod.state.reset_after_reboot()
        for volume in self._vols.values():
            volume.state.reset_after_reboot()

    def get_db_config(self) -> DBConfig | None:
        self._open()
        return self._db_config

    def validate_db_config(self, ours: DBConfig) -> None:
        self._open()
        if self._db_config is None:
            self._db_config = ours
        else:
            check_db_config(self._db_config, ours)

    def set_namespace(self, namespace: str) -> None:
        self._open()
        self._namespace = namespace

    def get_namespace(self) -> str:
        self._open()
        return self._namespace

    # -- containers --------------------------------------------------------------------

    def container(self, ctr_id: str) -> ContainerRecord:
        return self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")

    def lookup_container(self, id_or_name: str) -> ContainerRecord:
        return self._lookup(self._ctrs, id_or_name, NoSuchCtrError, "container")

    def has_container(self, ctr_id: str) -> bool:
        self._open()
        if not ctr_id:
            raise InvalidArgError("container id must not be empty")
        record = self._ctrs.get(ctr_id)
        return record is not None and self._visible(record)

    def _add_ctr(self, record: ContainerRecord) -> None:
        config = record.config
        if self._namespace and config.namespace != self._namespace:
            raise NSMismatchError(
                f"container {config.id} is in namespace {config.namespace!r}, "
                f"not {self._namespace!r}"
            )
        self._check_new(config.id, config.name, CtrExistsError, "container")
        for dep in config.dependencies():
            dep_record = self._ctrs.get(dep)
            if dep_record is None:
                raise NoSuchCtrError(f"dependency container {dep} does not exist")
            if dep_record.config.namespace != config.namespace:
                raise NSMismatchError(f"dependency {dep} is in another namespace")
            if dep_record.config.pod != config.pod:
                raise InvalidArgError(f"dependency {dep} is not in the container's pod")
        for name in config.volume_names():
            if name not in self._vols:
                raise NoSuchVolumeError(
                    f'no volume with name "{name}" found for container {config.id}')
        self._ctrs[config.id] = _copy(record)
        self._sorted["container"].added(self._ctrs, config.id)
        self._names[config.name] = config.id

    def add_container(self, record: ContainerRecord) -> None:
        if record.config.pod:
            raise InvalidArgError("a container in a pod must be added with its pod")
        self._add_ctr(record)

    def _remove_ctr(self, ctr_id: str) -> None:
        record = self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        users = self.container_in_use(ctr_id)
        if users:
            raise CtrInUseError(f"container {ctr_id} is in use by: {', '.join(users)}")
        del self._ctrs[ctr_id]
        self._sorted["container"].removed(self._ctrs, ctr_id)
        self._names.pop(record.config.name, None)

    def remove_container(self, ctr_id: str) -> None:
        record = self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        if record.config.pod:
            raise InvalidArgError(f"container {ctr_id} is in pod {record.config.pod}")
        self._remove_ctr(ctr_id)

    def rename_container(self, ctr_id: str, new_name: str) -> None:
        record = self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        if not new_name:
            raise InvalidArgError("a container needs a name")
        if self._names.get(new_name, ctr_id) != ctr_id:
            raise NameInUseError(
                f"the name {new_name!r} is already in use by {self._names[new_name]}")
        config = attrs.evolve(record.config, name=new_name)
        self._ctrs[ctr_id] = ContainerRecord(config, record.state)
        self._names.pop(record.config.name, None)
        self._names[new_name] = ctr_id

    def save_container_networks(self, ctr_id: str, networks: tuple[str, ...],
                                options: tuple[NetworkOptions, ...],
                                state: ContainerState) -> None:
        record = self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        config = attrs.evolve(record.config, networks=tuple(networks),
                              networks_explicit=True, network_options=tuple(options))
        self._ctrs[ctr_id] = ContainerRecord(config, _copy(state))

    def container_state(self, ctr_id: str) -> ContainerState:
        return self._get(self._ctrs, ctr_id, NoSuchCtrError, "container").state

    def save_container_state(self, ctr_id: str, state: ContainerState) -> None:
        record = self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        self._ctrs[ctr_id] = ContainerRecord(record.config, _copy(state))

    def container_in_use(self, ctr_id: str) -> list[str]:
        self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        return sorted(i for i, r in self._ctrs.items() if ctr_id in r.config.dependencies())

    def all_containers(self) -> list[ContainerRecord]:
        return self._all(self._ctrs)

    # -- pods --------------------------------------------------------------------------

    def pod(self, pod_id: str) -> PodRecord:
        return self._get(self._pods, pod_id, NoSuchPodError, "pod")

    def lookup_pod(self, id_or_name: str) -> PodRecord:
        return self._lookup(self._pods, id_or_name, NoSuchPodError, "pod")

    def has_pod(self, pod_id: str) -> bool:
        self._open()
        if not pod_id:
            raise InvalidArgError("pod id must not be empty")
        record = self._pods.get(pod_id)
        return record is not None and self._visible(record)

    def pod_has_container(self, pod_id: str, ctr_id: str) -> bool:
        self.pod(pod_id)
        record = self._ctrs.get(ctr_id)
        return record is not None and record.config.pod == pod_id

    def pod_containers_by_id(self, pod_id: str) -> list[str]:
        return [r.config.id for r in self.pod_containers(pod_id)]

    def pod_containers(self, pod_id: str) -> list[ContainerRecord]:
        self.pod(pod_id)
        return self._all(self._ctrs, lambda r: r.config.pod == pod_id)

    def add_pod(self, record: PodRecord) -> None:
        config = record.config
        if self._namespace and config.namespace != self._namespace:
            raise NSMismatchError(f"pod {config.id} is in namespace {config.namespace!r}")
        self._check_new(config.id, config.name, PodExistsError, "pod")
        self._pods[config.id] = _copy(record)
        self._sorted["pod"].added(self._pods, config.id)
        self._names[config.name] = config.id

    def remove_pod(self, pod_id: str) -> None:
        record = self.pod(pod_id)
        if self.pod_containers_by_id(pod_id):
            raise PodNotEmptyError(f"pod {pod_id} still has containers")
        del self._pods[pod_id]
        self._sorted["pod"].removed(self._pods, pod_id)
        self._names.pop(record.config.name, None)

    def remove_pod_containers(self, pod_id: str) -> None:
        members = set(self.pod_containers_by_id(pod_id))
        for ctr_id in members:
            outside = set(self.container_in_use(ctr_id)) - members
            if outside:
                raise CtrInUseError(
                    f"container {ctr_id} is in use by containers outside the pod: "
                    f"{', '.join(sorted(outside))}"
                )
        for ctr_id in members:
            record = self._ctrs.pop(ctr_id)
            self._sorted["container"].removed(self._ctrs, ctr_id)
            self._names.pop(record.config.name, None)

    def add_container_to_pod(self, pod_id: str, record: ContainerRecord) -> None:
        pod = self.pod(pod_id)
        if record.config.pod != pod_id:
            raise InvalidArgError(
                f"container {record.config.id} is not configured for pod {pod_id}"
            )
        if record.config.namespace != pod.config.namespace:
            raise NSMismatchError(
                f"container {record.config.id} is in namespace {record.config.namespace!r}, "
                f"its pod {pod_id} in {pod.config.namespace!r}"
            )
        self._add_ctr(record)

    def remove_container_from_pod(self, pod_id: str, ctr_id: str) -> None:
        self.pod(pod_id)
        record = self._get(self._ctrs, ctr_id, NoSuchCtrError, "container")
        if record.config.pod != pod_id:
            raise NoSuchCtrError(f"container {ctr_id} is not in pod {pod_id}")
        self._remove_ctr(ctr_id)

    def pod_state(self, pod_id: str) -> PodState:
        return self.pod(pod_id).state

    def save_pod_state(self, pod_id: str, state: PodState) -> None:
        record = self.pod(pod_id)
        self._pods[pod_id] = PodRecord(record.config, _copy(state))

    def all_pods(self) -> list[PodRecord]:
        return self._all(self._pods)

    # -- volumes -----------------------------------------------------------------------

    def _vol(self, name: str) -> Volume:
        self._open()
        if not name:
            raise InvalidArgError("volume name must not be empty")
        volume = self._vols.get(name)
        if volume is None:
            raise NoSuchVolumeError(f'no volume with name "{name}" found')
        return volume

    def volume(self, name: str) -> Volume:
        return _copy(self._vol(name))

    def lookup_volume(self, name_or_prefix: str) -> Volume:
        self._open()
        if not name_or_prefix:
            raise InvalidArgError("volume name must not be empty")
        if name_or_prefix in self._vols:
            return _copy(self._vols[name_or_prefix])
        matches = self._sorted["volume"].starting_with(self._vols, name_or_prefix)
        if len(matches) > 1:
            raise AmbiguousIDError(f"more than one volume matches {name_or_prefix!r}")
        if not matches:
            raise NoSuchVolumeError(f'no volume with name "{name_or_prefix}" found')
        return _copy(self._vols[matches[0]])

    def has_volume(self, name: str) -> bool:
        self._open()
        if not name:
            raise InvalidArgError("volume name must not be empty")
        return name in self._vols

    def add_volume(self, volume: Volume) -> None:
        self._open()
        name = volume.config.name
        if not name:
            raise InvalidArgError("a volume needs a name")
        if name in self._vols:
            raise VolumeExistsError(f"volume with name {name} already exists")
        self._vols[name] = _copy(volume)
        self._sorted["volume"].added(self._vols, name)

    def remove_volume(self, name: str) -> None:
        users = self.volume_in_use(name)
        if users:
            raise VolumeInUseError(f"volume {name} is being used by the following "
                                   f"container(s): {', '.join(users)}")
        del self._vols[name]
        self._sorted["volume"].removed(self._vols, name)

    def volume_state(self, name: str) -> VolumeState:
        return _copy(self._vol(name).state)

    def save_volume_state(self, name: str, state: VolumeState) -> None:
        volume = self._vol(name)
        self._vols[name] = type(volume)(volume.config, _copy(state))

    def volume_in_use(self, name: str) -> list[str]:
        self._vol(name)
        return sorted(i for i, r in self._ctrs.items()
                      if any(v.name == name for v in r.config.named_volumes))

    def all_volumes(self) -> list[Volume]:
        self._open()
        return [_copy(v) for v in sorted(self._vols.values(), key=lambda v: v.config.created)]
