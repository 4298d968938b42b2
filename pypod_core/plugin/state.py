"""The State interface: where a runtime keeps its containers and pods.

The method list is libpod's ``State`` (the 2018 interface, plus the DB configuration).
A backend stores :class:`~pypod_core.model.ContainerRecord` and
:class:`~pypod_core.model.PodRecord` values and hands back fresh copies: the caller may
change what it gets without changing the store until it saves.

Rules every backend keeps (the conformance kit, ``pypod_core.testing.StateBackendTests``,
checks them):

- containers and pods share one id space and one name space;
- lookups accept a full id, a unique id prefix (an ambiguous one raises
  :class:`~pypod_core.errors.AmbiguousIDError`) or a name;
- with a namespace set, objects of other namespaces are invisible to lookups and lists,
  and an operation on one raises :class:`~pypod_core.errors.NSMismatchError`;
- a container's dependencies (``config.dependencies()``) must exist, in its namespace;
  a container others depend on cannot be removed
  (:class:`~pypod_core.errors.CtrInUseError`);
- after :meth:`State.close`, every method raises :class:`~pypod_core.errors.DBClosedError`.

Volumes (contract 1.2) are :class:`~pypod_core.model.Volume` records, by name, in a
name space of their own and in no namespace (as libpod's): a volume's name is unique
among volumes; a container's named volumes (``config.named_volumes``) must exist when
it is added (:class:`~pypod_core.errors.NoSuchVolumeError`); a volume that a container
uses, in any namespace, cannot be removed
(:class:`~pypod_core.errors.VolumeInUseError`).  A backend written before volumes
existed inherits methods that raise
:class:`~pypod_core.errors.NotImplementedByBackendError`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import attrs

from pypod_core.errors import DBBadConfigError, NotImplementedByBackendError
from pypod_core.model import ContainerRecord, ContainerState, NetworkOptions

if TYPE_CHECKING:
    from pypod_core.model import PodRecord, PodState, Volume, VolumeState


@attrs.frozen(kw_only=True)
class DBConfig:
    """The paths a state database was made with (podman's one-row DBConfig table)."""

    os: str = "linux"
    static_dir: str = ""
    tmp_dir: str = ""
    graph_root: str = ""
    run_root: str = ""
    graph_driver: str = ""
    volume_dir: str = ""

    #: Fields compared on every open, in libpod's order, with their names in errors.
    COMPARED = (
        ("os", "OS"),
        ("static_dir", "static dir"),
        ("tmp_dir", "tmp dir"),
        ("graph_root", "graph root"),
        ("run_root", "run root"),
        ("graph_driver", "graph driver"),
        ("volume_dir", "volume dir"),
    )


def _clean_path(path: str) -> str:
    """A path with symlinks resolved and ``..`` removed, so equal places compare equal."""
    return os.path.realpath(path) if path else path


def check_db_config(stored: DBConfig, ours: DBConfig) -> None:
    """Raise DBBadConfigError if ``ours`` differs from what the database recorded.

    Paths are cleaned and symlinks resolved first, so a symlinked home is not a mismatch.
    An empty value on either side is not compared (the field was not recorded or set),
    nor is a graph driver of ``dir``: pypod recorded it before it stored images, and it
    holds none.
    """
    for field, label in DBConfig.COMPARED:
        mine, theirs = getattr(ours, field), getattr(stored, field)
        if not mine or not theirs or (field == "graph_driver" and "dir" in (mine, theirs)):
            continue
        if field != "os" and field != "graph_driver":
            mine, theirs = _clean_path(mine), _clean_path(theirs)
        if mine != theirs:
            raise DBBadConfigError(
                f'database {label} "{getattr(stored, field)}" does not match our {label} '
                f'"{getattr(ours, field)}": database configuration mismatch'
            )


class State(ABC):
    """A state store for containers and pods (libpod's ``State`` interface)."""

    # -- life of the store -------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Close the store; every later call raises DBClosedError. Closing twice is fine."""

    @abstractmethod
    def refresh(self) -> None:
        """After a reboot: reset every container's state (``ContainerState.reset_after_reboot``),
        every pod's (``PodState.reset_after_reboot``) and every volume's
        (``VolumeState.reset_after_reboot``), in every namespace, in one transaction."""

    def schema_versions(self) -> tuple[int, int] | None:
        """For a backend with a versioned on-disk schema: (the version the store had when
        it was opened, the version it has now), which differ when opening migrated it.
        None for a backend without a schema (the default); ``pypod system migrate``
        reports it."""
        return None

    # -- DB configuration --------------------------------------------------------------

    @abstractmethod
    def get_db_config(self) -> DBConfig | None:
        """The DB configuration recorded at the first open, or None if none is yet."""

    @abstractmethod
    def validate_db_config(self, ours: DBConfig) -> None:
        """Record ``ours`` if nothing is recorded yet; else compare with
        :func:`check_db_config` and raise DBBadConfigError on a mismatch."""

    # -- namespaces --------------------------------------------------------------------

    @abstractmethod
    def set_namespace(self, namespace: str) -> None:
        """Restrict the store to one libpod namespace; "" sees every namespace."""

    @abstractmethod
    def get_namespace(self) -> str:
        """The namespace set with :meth:`set_namespace` ("" for none)."""

    # -- containers --------------------------------------------------------------------

    @abstractmethod
    def container(self, ctr_id: str) -> ContainerRecord:
        """The container with this full id; NoSuchCtrError if none."""

    @abstractmethod
    def lookup_container(self, id_or_name: str) -> ContainerRecord:
        """The container with this name, full id or unique id prefix."""

    @abstractmethod
    def has_container(self, ctr_id: str) -> bool:
        """Whether a container with this full id exists (in the namespace)."""

    @abstractmethod
    def add_container(self, record: ContainerRecord) -> None:
        """Add a container that is in no pod. CtrExistsError/NameInUseError if its id or
        name is taken; NoSuchCtrError if a dependency is missing; a container with
        ``config.pod`` set must be added with :meth:`add_container_to_pod` instead."""

    @abstractmethod
    def remove_container(self, ctr_id: str) -> None:
        """Remove a container that is in no pod. CtrInUseError if others depend on it."""

    @abstractmethod
    def container_state(self, ctr_id: str) -> ContainerState:
        """The container's current state as stored (libpod's ``UpdateContainer``)."""

    @abstractmethod
    def save_container_state(self, ctr_id: str, state: ContainerState) -> None:
        """Store the container's state (libpod's ``SaveContainer``);
        NoSuchCtrError/CtrRemovedError if it is gone."""

    @abstractmethod
    def container_in_use(self, ctr_id: str) -> list[str]:
        """Ids of the containers that depend on this one."""

    @abstractmethod
    def all_containers(self) -> list[ContainerRecord]:
        """Every container (in the namespace), oldest first."""

    def container_counts(self) -> tuple[int, int, int]:
        """How many containers (in the namespace) there are, how many run and how many
        are paused, for ``info``.  This default reads every record; a backend that can
        count without doing so (the SQLite one) should."""
        states = [r.state.state.value for r in self.all_containers()]
        return len(states), states.count("running"), states.count("paused")

    # -- pods --------------------------------------------------------------------------

    @abstractmethod
    def pod(self, pod_id: str) -> PodRecord:
        """The pod with this full id; NoSuchPodError if none."""

    @abstractmethod
    def lookup_pod(self, id_or_name: str) -> PodRecord:
        """The pod with this name, full id or unique id prefix."""

    @abstractmethod
    def has_pod(self, pod_id: str) -> bool:
        """Whether a pod with this full id exists (in the namespace)."""

    @abstractmethod
    def pod_has_container(self, pod_id: str, ctr_id: str) -> bool:
        """Whether the container is a member of the pod."""

    @abstractmethod
    def pod_containers_by_id(self, pod_id: str) -> list[str]:
        """Ids of the pod's containers."""

    @abstractmethod
    def pod_containers(self, pod_id: str) -> list[ContainerRecord]:
        """The pod's containers, oldest first."""

    @abstractmethod
    def add_pod(self, record: PodRecord) -> None:
        """Add a pod; PodExistsError/NameInUseError if its id or name is taken."""

    @abstractmethod
    def remove_pod(self, pod_id: str) -> None:
        """Remove an empty pod; PodNotEmptyError if it has containers."""

    @abstractmethod
    def remove_pod_containers(self, pod_id: str) -> None:
        """Remove every container of the pod (dependencies outside the pod forbid it)."""

    @abstractmethod
    def add_container_to_pod(self, pod_id: str, record: ContainerRecord) -> None:
        """Add a container as a member of the pod (``record.config.pod == pod_id``)."""

    @abstractmethod
    def remove_container_from_pod(self, pod_id: str, ctr_id: str) -> None:
        """Remove a member container of the pod."""

    @abstractmethod
    def pod_state(self, pod_id: str) -> PodState:
        """The pod's current state as stored (libpod's ``UpdatePod``)."""

    @abstractmethod
    def save_pod_state(self, pod_id: str, state: PodState) -> None:
        """Store the pod's state (libpod's ``SavePod``)."""

    @abstractmethod
    def all_pods(self) -> list[PodRecord]:
        """Every pod (in the namespace), oldest first."""

    def rename_container(self, ctr_id: str, new_name: str) -> None:
        """Give a container a new name, its record otherwise unchanged (libpod's
        ``SafeRewriteContainerConfig`` for ``rename``).  NoSuchCtrError if it is gone,
        NameInUseError if a container or pod has the name.  A backend written before
        ``rename`` raises NotImplementedByBackendError (the default)."""
        raise NotImplementedByBackendError(
            f"the state backend {type(self).__name__} cannot rename containers")

    def save_container_networks(self, ctr_id: str, networks: tuple[str, ...],
                                options: tuple[NetworkOptions, ...],
                                state: ContainerState) -> None:
        """Store a container's new network list (``networks``, which becomes explicit:
        ``networks_explicit``) and per-network ``options`` in its config, and its
        ``state``, in one transaction (libpod's ``NetworkConnect``/``NetworkDisconnect``
        for ``network connect``/``disconnect``): a reader sees both or neither.
        NoSuchCtrError if it is gone.  A backend written before contract 1.5 raises
        NotImplementedByBackendError (the default)."""
        raise NotImplementedByBackendError(
            f"the state backend {type(self).__name__} cannot change a container's "
            "networks (it was written before plugin contract 1.5)")

    # -- volumes (contract 1.2) --------------------------------------------------------

    def _no_volumes(self) -> NotImplementedByBackendError:
        return NotImplementedByBackendError(
            f"the state backend {type(self).__name__} stores no volumes (it was written "
            f"for plugin contract 1.1)")

    def volume(self, name: str) -> Volume:
        """The volume with this name; NoSuchVolumeError if none."""
        raise self._no_volumes()

    def lookup_volume(self, name_or_prefix: str) -> Volume:
        """The volume with this name, or the one whose name starts with it
        (AmbiguousIDError if several do, as libpod's ``LookupVolume``)."""
        raise self._no_volumes()

    def has_volume(self, name: str) -> bool:
        """Whether a volume with this name exists."""
        raise self._no_volumes()

    def add_volume(self, volume: Volume) -> None:
        """Add a volume; VolumeExistsError if its name is taken by another volume."""
        raise self._no_volumes()

    def remove_volume(self, name: str) -> None:
        """Remove a volume; NoSuchVolumeError if none, VolumeInUseError (naming the
        containers) if a container of any namespace uses it."""
        raise self._no_volumes()

    def volume_state(self, name: str) -> VolumeState:
        """The volume's current state as stored."""
        raise self._no_volumes()

    def save_volume_state(self, name: str, state: VolumeState) -> None:
        """Store the volume's state; NoSuchVolumeError if it is gone."""
        raise self._no_volumes()

    def volume_in_use(self, name: str) -> list[str]:
        """Ids of the containers (of every namespace) that use the volume, sorted;
        NoSuchVolumeError if there is no such volume."""
        raise self._no_volumes()

    def all_volumes(self) -> list[Volume]:
        """Every volume, oldest first."""
        raise self._no_volumes()


#: The volume methods of :class:`State` (contract 1.2): not abstract, so that a backend
#: written before them still loads; the conformance kit checks each.
VOLUME_METHODS = ("volume", "lookup_volume", "has_volume", "add_volume", "remove_volume",
                  "volume_state", "save_volume_state", "volume_in_use", "all_volumes")
