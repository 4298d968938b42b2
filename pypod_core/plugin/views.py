"""What a backend may see of the engine's objects: typed Protocols, not the classes.

The engine's ``Runtime``, ``Container`` and ``Pod`` satisfy these; a backend is written
against them, so the contract never imports the engine (not even for type checking) and
a backend author reads this page rather than the engine's code.  What is here is what the
bundled backends use; anything else on the engine's objects may change without notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig
    from pypod_core.model import ContainerConfig, ContainerState, PodConfig, PodState
    from pypod_core.plugin.firewall import Firewall
    from pypod_core.plugin.manager import PluginManager
    from pypod_core.plugin.network import Network
    from pypod_core.plugin.oci import OCIRuntime
    from pypod_core.plugin.state import State
    from pypod_core.plugin.storage import Storage


class RuntimeView(Protocol):
    """A runtime as stages and backend factories see it.

    The backends (``state``, ``storage``, ``oci_runtime``, ``network``, ``firewall``) and
    paths are filled in by the stages in order (see the plugin guide): a stage sees those
    of the stages before it.  ``network`` and ``firewall`` are None where there is none
    (rootless, or the default backend is not installed: ``missing_backends`` says why)."""

    config: RuntimeConfig
    plugins: PluginManager
    rootless: bool
    runtime_binary: str
    conmon_binary: str
    state: State
    storage: Storage
    oci_runtime: OCIRuntime
    lock_dir: str
    network: Network | None
    firewall: Firewall | None
    missing_backends: dict[str, str]
    refreshed_after_reboot: bool

    def refresh_objects(self) -> None:
        """After a reboot: refresh every container and pod (the refresh stage calls it)."""


class ContainerView(Protocol):
    """A container as an OCI runtime, a network or an event hook sees it.

    ``config`` is immutable; a backend writes what it learns into ``state`` and the
    engine saves it.  The paths are the container's own, made by the engine."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    config: ContainerConfig
    state: ContainerState

    @property
    def bundle_dir(self) -> str:
        """The OCI bundle: ``config.json`` is written here before ``create``."""

    @property
    def run_dir(self) -> str:
        """Per-boot files of the container (sockets, pid files, the exec sessions')."""

    @property
    def exit_dir(self) -> str:
        """Where the monitor writes the exit code, in a file named after the id."""

    @property
    def exit_file(self) -> str:
        """``exit_dir/ID``."""

    @property
    def log_path(self) -> str:
        """The container's k8s-file log."""

    @property
    def pidfile(self) -> str:
        """Where the OCI runtime writes the container's pid."""

    @property
    def conmon_pidfile(self) -> str:
        """Where the monitor writes its own pid."""

    @property
    def attached_marker(self) -> str:
        """A file whose presence says a client is attached (no exit command cleans up)."""


class PodView(Protocol):
    """A pod as an event hook sees it."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    config: PodConfig
    state: PodState

