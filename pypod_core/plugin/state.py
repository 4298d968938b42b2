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
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

import attrs

from pypod_core.errors import DBBadConfigError
from pypod_core.model import ContainerRecord, ContainerState, PodRecord, PodState


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
        """After a reboot: reset every container's state (``ContainerState.reset_after_reboot``)
        and every pod's (``PodState.reset_after_reboot``), in every namespace, in one
        transaction."""

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
