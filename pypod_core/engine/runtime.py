"""The Runtime: libpod's ``Runtime``, built by the plugin pipeline.

Build one with :func:`new_runtime` (default precedence of config files plus caller
options) or :func:`new_runtime_from_config` (one named file).  Container and pod
operations live in :mod:`pypod_core.engine.runtime_ctr` and :mod:`pypod_core.engine.runtime_pod`,
image operations in :mod:`pypod_core.engine.runtime_img`, mounts on the host in
:mod:`pypod_core.engine.runtime_mount`, volume operations in
:mod:`pypod_core.engine.runtime_vol`, secrets in :mod:`pypod_core.engine.runtime_secret`,
pruning in :mod:`pypod_core.engine.runtime_prune`.
"""

from __future__ import annotations

import copy
import functools
import os
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pypod_core.config import RuntimeConfig, is_rootless, load_config
from pypod_core.engine import defaults, names
from pypod_core.engine.pipeline import DeferredStage, make_runtime
from pypod_core.engine.runtime_ctr import ContainerOps
from pypod_core.engine.runtime_img import ImageOps
from pypod_core.engine.runtime_login import LoginOps
from pypod_core.engine.runtime_mount import MountOps
from pypod_core.engine.runtime_pod import PodOps
from pypod_core.engine.runtime_prune import PruneOps
from pypod_core.engine.runtime_secret import SecretOps
from pypod_core.engine.runtime_vol import VolumeOps
from pypod_core.errors import NoSuchCtrError, NoSuchPodError, RuntimeStoppedError
from pypod_core.host.locks import LockTable
from pypod_core.plugin.manager import PluginManager
from pypod_core.plugin.state import State

if TYPE_CHECKING:
    import os

    from pypod_core.engine.events import Event
    from pypod_core.engine.kube import KubeDownReport, PlayKubeReport
    from pypod_core.plugin.firewall import Firewall
    from pypod_core.plugin.graph_driver import GraphDriver
    from pypod_core.plugin.network import Network
    from pypod_core.plugin.oci import OCIRuntime
    from pypod_core.plugin.storage import Storage


class Runtime(ContainerOps, PodOps, ImageOps, VolumeOps, SecretOps, LoginOps, PruneOps,
              MountOps):
    """A pypod runtime: the state, the OCI runtime, the network, the firewall, the
    images, the volumes and the secrets."""

    # Set by its stage, in order, before the runtime is valid.
    state: State
    # Built by their stages at first use (pypod_core.engine.pipeline.DEFERRED).
    storage: Storage = DeferredStage("make_storage")  # type: ignore[assignment]
    oci_runtime: OCIRuntime = DeferredStage("make_oci_runtime")  # type: ignore[assignment]
    network: Network | None = DeferredStage("make_network")  # type: ignore[assignment]
    firewall: Firewall | None = DeferredStage("make_firewall")  # type: ignore[assignment]

    def __init__(self, config: RuntimeConfig, plugins: PluginManager, trace: bool = False):
        self.config = config
        self.plugins = plugins
        self.trace = trace
        self.rootless = is_rootless()
        self.valid = False
        self.refreshed_after_reboot = False
        self.stage_timings: list[tuple[str, str, float]] = []
        # Filled in by the pipeline's stages (pypod_core.engine.pipeline.STAGES); the
        # backends are typed as the pipeline leaves them (set before `valid` is True).
        self.runtime_binary: str = ""
        self.conmon_binary: str = ""
        self.lock_dir: str = ""
        #: Held while a deferred stage builds its backend.
        self.stage_lock = threading.RLock()
        #: Why a backend family has no backend (family -> the lookup's error), where its
        #: default backend is not installed: said when something needs it.
        self.missing_backends: dict[str, str] = {}
        #: The graph drivers containers' rootfs are in, by name, built when first used
        #: (:func:`pypod_core.engine.rootfs.driver_named`).
        self.rootfs_drivers: dict[str, GraphDriver] = {}

    @functools.cached_property
    def locks(self) -> LockTable:
        """This process's locks on objects, in the lock dir (prepare_lock_dir stage)."""
        return LockTable(self.lock_dir)

    @property
    def hook(self) -> Any:
        """The plugin hook relay, for calling event hooks."""
        return self.plugins.hook

    def check_valid(self) -> None:
        """Raise RuntimeStoppedError if the runtime was shut down."""
        if not self.valid:
            raise RuntimeStoppedError("runtime has already been stopped")

    def get_config(self) -> RuntimeConfig:
        """A deep copy of the effective configuration: changing it changes nothing."""
        self.check_valid()
        return copy.deepcopy(self.config)

    def shutdown(self, force: bool = False) -> None:
        """Shut the runtime down; with ``force``, stop every running container first.

        The state is closed; any later use raises RuntimeStoppedError.
        """
        self.check_valid()
        if force:
            self.stop_all_containers()
        self.valid = False
        self.state.close()

    def oci_runtime_name(self) -> str:
        """The OCI runtime backend's name (a new container records it), without
        building the backend when the name is known: while the default stage alone
        serves ``make_oci_runtime``, it builds the backend ``config.runtime`` names.
        A ``runtime`` given as a path is recorded as that path, as podman's."""
        if "/" in self.config.runtime:
            return self.config.runtime
        hook = self.plugins.pm.hook.pypod_make_oci_runtime
        if (Runtime.__dict__["oci_runtime"].built(self)
                or any(impl.plugin_name != defaults.__name__ for impl in hook.get_hookimpls())):
            return self.oci_runtime.name
        return self.config.runtime

    def generate_name(self) -> str:
        """A free ``adjective_surname`` name, unique across containers and pods."""
        self.check_valid()
        return names.generate_name(self.name_in_use)

    def name_in_use(self, name: str) -> bool:
        """Whether a container or a pod has this name."""
        for lookup, missing in ((self.state.lookup_container, NoSuchCtrError),
                                (self.state.lookup_pod, NoSuchPodError)):
            try:
                found = lookup(name)
            except missing:
                continue
            if found.config.name == name:
                return True
        return False

    def refresh_objects(self) -> None:
        """After a reboot: refresh every container, then every pod (libpod's refresh),
        then every volume."""
        self.refresh_containers()
        self.refresh_pods()
        self.refresh_volumes()

    def info(self) -> dict[str, Any]:
        """Host, store, registries and plugins, as ``pypod info`` shows them."""
        from pypod_core.engine.info import runtime_info  # lazy: only info (~10 ms)

        self.check_valid()
        return runtime_info(self)

    def events(self, *, since: float | None = None, until: float | None = None,
               stream: bool = True, filters: Iterable[str] = ()) -> Iterator[Event]:
        """The events log (:func:`pypod_core.engine.events.read_events`): since and
        until are Unix times, ``filters`` podman's ``KEY=VALUE`` (container=, event=,
        image=, label=, pod=, type=, volume=); with ``stream``, follow the log."""
        # lazy: only events (~1.8 ms)
        from pypod_core.engine.events import parse_filters, read_events

        self.check_valid()
        matches = parse_filters(list(filters))
        return read_events(self.config, since=since, until=until, stream=stream,
                           matches=matches)

    def play_kube(self, source: str | os.PathLike[str], **options: Any) -> PlayKubeReport:
        """Make the pods, containers and volumes of Kubernetes YAML, as ``podman kube
        play``: ``source`` is a file's path, or the YAML itself (a str with a newline).
        ``options`` are :class:`~pypod_core.engine.kube.PlayOptions`' (``start``,
        ``replace``, ``network_mode``, ``networks``, ``no_hosts``, ``log_driver``,
        ``log_fields``, ``annotations``, ``authfile``, ``creds``, ``tls_verify``,
        ``progress``).  KubeYAMLError for YAML pypod does not play (naming the field);
        the pod a later error stops is removed again."""
        from pypod_core.engine import kube  # lazy: only play kube (~3 ms, YAML later)

        self.check_valid()
        return kube.play_kube(self, source, kube.PlayOptions(**options))

    def kube_down(self, source: str | os.PathLike[str]) -> KubeDownReport:
        """Stop and remove the pods of Kubernetes YAML (``podman kube down``), and the
        volumes made for their emptyDir volumes.  NoSuchPodError if one is missing."""
        from pypod_core.engine import kube  # lazy: only kube down

        self.check_valid()
        return kube.kube_down(self, source)


def _plugin_manager(config: RuntimeConfig, no_plugins: Iterable[str]) -> PluginManager:
    manager = PluginManager(blocked=[*config.disabled_plugins, *no_plugins]).load()
    manager.warn_unknown(config.plugins, "a [plugins.NAME] settings table")
    manager.warn_unknown(no_plugins, "--no-plugin")
    return manager


def new_runtime(
    *,
    config_path: str | None = None,
    no_plugins: Iterable[str] = (),
    trace: bool = False,
    plugin_manager: PluginManager | None = None,
    **options: Any,
) -> Runtime:
    """Build a runtime: defaults, then the config file, then ``options`` (config keys).

    ``no_plugins`` blocks plugins by name before they are imported; ``trace`` prints each
    stage, the plugin that served it and its time; ``plugin_manager`` passes a ready one.
    (Options are config keys, ``plugins`` included: ``plugins={"state_sqlite": {...}}``.)
    """
    config = load_config(config_path, options)
    trace = trace or os.environ.get("PYPOD_TRACE", "") not in ("", "0")
    manager = (plugin_manager or _plugin_manager(config, no_plugins)).use_defaults(defaults)
    runtime = Runtime(config, manager, trace=trace)
    try:
        make_runtime(runtime)
    except BaseException:
        if getattr(runtime, "state", None) is not None:
            runtime.state.close()
        raise
    return runtime


def new_runtime_from_config(path: str, **kwargs: Any) -> Runtime:
    """Build a runtime from one named config file (plus caller options)."""
    return new_runtime(config_path=path, **kwargs)
