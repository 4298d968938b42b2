"""The hook specifications: the whole contract between pypod's core and its plugins.

A plugin is a module of functions decorated with ``@pypod_core.hookimpl`` whose names
are the hooks below, declared as an entry point in group ``pypod``.  There are three
kinds of hook:

- declaration hooks, called on every plugin, return the backends a plugin provides;
- stage hooks (``firstresult``), one per stage of building a runtime: the first plugin
  that returns something other than None serves the stage, and the core's defaults are
  registered ``trylast``, so any installed plugin that implements a stage replaces it;
- event hooks, called on every plugin, tell of a runtime's and its objects' lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import pluggy

if TYPE_CHECKING:
    from pypod_core.model import Image, Volume
    from pypod_core.plugin.declarations import (
        FirewallBackend,
        GraphDriverBackend,
        ImageTransportBackend,
        NetworkBackend,
        OCIRuntimeBackend,
        SecretDriverBackend,
        StateBackend,
        VolumeDriverBackend,
    )
    from pypod_core.plugin.firewall import Firewall
    from pypod_core.plugin.network import Network
    from pypod_core.plugin.oci import OCIRuntime
    from pypod_core.plugin.state import State
    from pypod_core.plugin.storage import Storage
    from pypod_core.plugin.views import ContainerView as Container
    from pypod_core.plugin.views import PodView as Pod
    from pypod_core.plugin.views import RuntimeView as Runtime

PROJECT = "pypod"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- declaration hooks -----------------------------------------------------------------


@hookspec
def pypod_state_backends() -> Iterable[StateBackend]:
    """Declare the state backends this plugin provides.

    Called once per process, on every plugin, when the plugin manager collects
    backends.  Returns an iterable of :class:`pypod_core.StateBackend`; the config key
    ``state_type`` selects one by name.

    Example::

        @hookimpl
        def pypod_state_backends():
            def factory(runtime):
                from my_state.store import RedisState   # heavy import: inside
                return RedisState(runtime.config.plugin_config("my_state"))
            yield StateBackend(name="redis", factory=factory, description="Redis")
    """


@hookspec
def pypod_oci_runtimes() -> Iterable[OCIRuntimeBackend]:
    """Declare the OCI runtimes this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.OCIRuntimeBackend`; the config key ``runtime`` selects one.

    Example::

        @hookimpl
        def pypod_oci_runtimes():
            yield OCIRuntimeBackend(name="youki", factory=make_youki, description="youki")
    """


@hookspec
def pypod_network_backends() -> Iterable[NetworkBackend]:
    """Declare the network backends this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.NetworkBackend`; the config key ``network_backend`` selects one.

    Example::

        @hookimpl
        def pypod_network_backends():
            yield NetworkBackend(name="cni", factory=make_cni, description="CNI plugins")
    """


@hookspec
def pypod_firewall_backends() -> Iterable[FirewallBackend]:
    """Declare the firewall backends this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.FirewallBackend`; the config key ``firewall_backend`` selects one.

    Example::

        @hookimpl
        def pypod_firewall_backends():
            yield FirewallBackend(name="nft", factory=make_nft, description="nftables")
    """


@hookspec
def pypod_graph_drivers() -> Iterable[GraphDriverBackend]:
    """Declare the graph drivers (layer stores and rootfs makers) this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.GraphDriverBackend`; the config key ``graph_driver`` selects one
    for image containers (``--rootfs`` containers always use ``dir``).

    Example::

        @hookimpl
        def pypod_graph_drivers():
            def factory(runtime):
                from my_btrfs.driver import BtrfsDriver   # heavy import: inside
                return BtrfsDriver(os.path.join(runtime.config.graph_root, "btrfs"))
            yield GraphDriverBackend(name="btrfs", factory=factory, description="subvolumes")
    """


@hookspec
def pypod_image_transports() -> Iterable[ImageTransportBackend]:
    """Declare the image transports this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.ImageTransportBackend`.  No config key selects a transport: an
    image reference's prefix does (``NAME:...`` picks the transport named ``NAME``,
    ``docker://`` and a reference without a prefix pick ``docker``).

    Example::

        @hookimpl
        def pypod_image_transports():
            def factory(runtime):
                from my_transport.s3 import S3Transport   # heavy import: inside
                return S3Transport(runtime.config.plugin_config("my_transport"))
            yield ImageTransportBackend(name="s3", factory=factory,
                                        description="images in an S3 bucket")
    """


@hookspec
def pypod_volume_drivers() -> Iterable[VolumeDriverBackend]:
    """Declare the volume drivers this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.VolumeDriverBackend`; ``volume create -d NAME`` picks one for a
    volume, and the config key ``volume_driver`` names the default (``local``).

    Example::

        @hookimpl
        def pypod_volume_drivers():
            def factory(runtime):
                from my_nfs.driver import NfsDriver   # heavy import: inside
                return NfsDriver(runtime.config.plugin_config("my_nfs"))
            yield VolumeDriverBackend(name="nfs", factory=factory,
                                      description="volumes on an NFS export")
    """


@hookspec
def pypod_secret_drivers() -> Iterable[SecretDriverBackend]:
    """Declare the secret drivers this plugin provides.

    Called on every plugin when backends are collected.  Returns an iterable of
    :class:`pypod_core.SecretDriverBackend`; ``secret create --driver NAME`` picks one
    for a secret, and the config key ``secret_driver`` names the default (``file``).

    Example::

        @hookimpl
        def pypod_secret_drivers():
            def factory(runtime):
                from my_vault.driver import VaultDriver   # heavy import: inside
                return VaultDriver(runtime.config.plugin_config("my_vault"))
            yield SecretDriverBackend(name="vault", factory=factory,
                                      description="secrets in a Vault server")
    """


# -- stage hooks: building a runtime, in the seed's order ------------------------------


@hookspec(firstresult=True)
def pypod_find_runtime_path(runtime: Runtime) -> str | None:
    """Find the OCI runtime binary.

    Called first when a runtime is built.  Returns the path of the binary (the default:
    the first existing non-directory file of ``config.runtime_path``), stored as
    ``runtime.runtime_binary``.  Raise :class:`pypod_core.errors.OCIRuntimeError` if
    there is none.

    Example::

        @hookimpl
        def pypod_find_runtime_path(runtime):
            return "/opt/runc/bin/runc"
    """


@hookspec(firstresult=True)
def pypod_find_conmon_path(runtime: Runtime) -> str | None:
    """Find the conmon binary.

    Called after ``pypod_find_runtime_path``.  Returns the path (the default: the first
    existing non-directory file of ``config.conmon_path``), stored as
    ``runtime.conmon_binary``.

    Example::

        @hookimpl
        def pypod_find_conmon_path(runtime):
            return "/usr/local/libexec/conmon"
    """


@hookspec(firstresult=True)
def pypod_prepare_static_dir(runtime: Runtime) -> bool | None:
    """Make the graph root and the static directory (``config.static_dir``), mode 0700.

    Called after the binaries are found.  Returns True when done.

    Example::

        @hookimpl
        def pypod_prepare_static_dir(runtime):
            os.makedirs(runtime.config.static_dir, 0o700, exist_ok=True)
            return True
    """


@hookspec(firstresult=True)
def pypod_make_state(runtime: Runtime) -> State | None:
    """Build the state store.

    Called after the static directory exists.  Returns a
    :class:`pypod_core.plugin.state.State` (the default: the factory of the ``StateBackend``
    named by ``config.state_type``), stored as ``runtime.state``.

    Example::

        @hookimpl
        def pypod_make_state(runtime):
            from pypod_state_memory.store import MemoryState
            return MemoryState()
    """


@hookspec(firstresult=True)
def pypod_apply_db_config(runtime: Runtime) -> bool | None:
    """Reconcile the config with the state database's recorded paths.

    Called after the state is built.  The default takes graph driver, graph root, run
    root, static and tmp dirs from the DB where the user did not set them explicitly,
    then validates (a mismatch raises :class:`pypod_core.errors.DBBadConfigError`).
    Returns True when done.

    Example::

        @hookimpl
        def pypod_apply_db_config(runtime):
            return True     # trust the config, never the DB
    """


@hookspec(firstresult=True)
def pypod_set_namespace(runtime: Runtime) -> bool | None:
    """Set the state's libpod namespace from ``config.namespace``.

    Called after the DB config is applied.  Returns True when done.

    Example::

        @hookimpl
        def pypod_set_namespace(runtime):
            runtime.state.set_namespace("tenant-a")
            return True
    """


@hookspec(firstresult=True)
def pypod_make_storage(runtime: Runtime) -> Storage | None:
    """Build the container storage (where containers' files live).

    Called after the namespace is set.  Returns the storage object, stored as
    ``runtime.storage`` (the default: a :class:`pypod_core.engine.storage.DirStorage` over
    ``config.graph_root``).

    Example::

        @hookimpl
        def pypod_make_storage(runtime):
            return DirStorage("/srv/containers")
    """


@hookspec(firstresult=True)
def pypod_prepare_tmp_dir(runtime: Runtime) -> bool | None:
    """Make the run root and the per-boot temporary directory (``config.tmp_dir``),
    mode 0700.

    Called after storage is built.  It must be on a tmpfs, so that a reboot empties it.
    Returns True when done.

    Example::

        @hookimpl
        def pypod_prepare_tmp_dir(runtime):
            os.makedirs(runtime.config.tmp_dir, 0o700, exist_ok=True)
            return True
    """


@hookspec(firstresult=True)
def pypod_make_oci_runtime(runtime: Runtime) -> OCIRuntime | None:
    """Build the OCI runtime.

    Called after the tmp dir exists.  Returns a :class:`pypod_core.plugin.oci.OCIRuntime`
    (the default: the factory of the ``OCIRuntimeBackend`` named by ``config.runtime``),
    stored as ``runtime.oci_runtime``.

    Example::

        @hookimpl
        def pypod_make_oci_runtime(runtime):
            return MyRuntime(runtime.runtime_binary)
    """


@hookspec(firstresult=True)
def pypod_prepare_lock_dir(runtime: Runtime) -> str | None:
    """Make the lock directory (``tmp_dir/lock``, mode 0700), where per-object locks live.

    Called after the OCI runtime is built.  Returns the directory, stored as
    ``runtime.lock_dir``.

    Example::

        @hookimpl
        def pypod_prepare_lock_dir(runtime):
            return "/dev/shm/pypod-locks"
    """


@hookspec(firstresult=True)
def pypod_make_network(runtime: Runtime) -> Network | Literal[False] | None:
    """Build the network backend.

    Called after the lock dir exists.  Returns a :class:`pypod_core.plugin.network.Network`
    (the default: the factory of the ``NetworkBackend`` named by
    ``config.network_backend``; no network when rootless), stored as ``runtime.network``.
    Return False to say "no network" explicitly.

    Example::

        @hookimpl
        def pypod_make_network(runtime):
            return False    # this host runs containers without networks
    """


@hookspec(firstresult=True)
def pypod_make_firewall(runtime: Runtime) -> Firewall | Literal[False] | None:
    """Build the firewall backend.

    Called after the network.  Returns a :class:`pypod_core.plugin.firewall.Firewall` (the
    default: the factory of the ``FirewallBackend`` named by ``config.firewall_backend``;
    ``none`` when rootless), stored as ``runtime.firewall``.

    Example::

        @hookimpl
        def pypod_make_firewall(runtime):
            return runtime.plugins.backend("firewall", "none").factory(runtime)
    """


@hookspec(firstresult=True)
def pypod_refresh_after_reboot(runtime: Runtime) -> bool | None:
    """Reset the state after a reboot, once per boot.

    Called last.  The default, under the ``tmp_dir/alive.lck`` lock: if ``tmp_dir/alive``
    is missing, refresh the state and every container and pod, then create ``alive``.
    Returns True when done.

    Example::

        @hookimpl
        def pypod_refresh_after_reboot(runtime):
            return True     # this host never reboots with containers
    """


# -- events ----------------------------------------------------------------------------


@hookspec
def pypod_runtime_ready(runtime: Runtime) -> None:
    """Called on every plugin once a runtime is built and valid.

    Example::

        @hookimpl
        def pypod_runtime_ready(runtime):
            log.info("pypod runtime on %s", runtime.config.static_dir)
    """


@hookspec
def pypod_container_created(runtime: Runtime, container: Container) -> None:
    """Called on every plugin after a container is added to the state.

    Example::

        @hookimpl
        def pypod_container_created(runtime, container):
            audit("created", container.id)
    """


@hookspec
def pypod_container_started(runtime: Runtime, container: Container) -> None:
    """Called on every plugin after a container started running.

    Example::

        @hookimpl
        def pypod_container_started(runtime, container):
            audit("started", container.id)
    """


@hookspec
def pypod_container_exited(runtime: Runtime, container: Container) -> None:
    """Called on every plugin when pypod notices a container exited (its exit code is in
    ``container.state.exit_code``).

    Example::

        @hookimpl
        def pypod_container_exited(runtime, container):
            audit("exited", container.id, container.state.exit_code)
    """


@hookspec
def pypod_container_removed(runtime: Runtime, container: Container) -> None:
    """Called on every plugin after a container was removed from the state.

    Example::

        @hookimpl
        def pypod_container_removed(runtime, container):
            audit("removed", container.id)
    """


@hookspec
def pypod_pod_created(runtime: Runtime, pod: Pod) -> None:
    """Called on every plugin after a pod is added to the state.

    Example::

        @hookimpl
        def pypod_pod_created(runtime, pod):
            audit("pod created", pod.id)
    """


@hookspec
def pypod_pod_removed(runtime: Runtime, pod: Pod) -> None:
    """Called on every plugin after a pod was removed from the state.

    Example::

        @hookimpl
        def pypod_pod_removed(runtime, pod):
            audit("pod removed", pod.id)
    """


@hookspec
def pypod_image_pulled(runtime: Runtime, image: Image) -> None:
    """Called on every plugin after a pull stored an image (``image`` is its record as
    committed, with the name it was pulled by); a pull that found the image already
    there and stored nothing (``policy="missing"``, or ``"newer"`` with the same
    digest) calls nothing.

    Example::

        @hookimpl
        def pypod_image_pulled(runtime, image):
            audit("image pulled", image.id, image.names)
    """


@hookspec
def pypod_image_removed(runtime: Runtime, image: Image) -> None:
    """Called on every plugin after an image's record left the image store (``image`` is
    the record as it was; an ``rmi`` that only untags calls nothing).

    Example::

        @hookimpl
        def pypod_image_removed(runtime, image):
            audit("image removed", image.id)
    """


@hookspec
def pypod_volume_created(runtime: Runtime, volume: Volume) -> None:
    """Called on every plugin after a volume was made by its driver and added to the
    state (``volume`` is its record: ``name``, ``driver``, ``config.options``...; an
    anonymous or implicitly named one made for a new container too).

    Example::

        @hookimpl
        def pypod_volume_created(runtime, volume):
            audit("volume created", volume.name, volume.driver)
    """


@hookspec
def pypod_volume_removed(runtime: Runtime, volume: Volume) -> None:
    """Called on every plugin after a volume left the state and its driver deleted its
    files (``volume`` is the record as it was).

    Example::

        @hookimpl
        def pypod_volume_removed(runtime, volume):
            audit("volume removed", volume.name)
    """
