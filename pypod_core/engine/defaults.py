"""The core's default stages: one built-in plugin, every stage hook ``trylast`` (and
the events log's hooks, :mod:`pypod_core.engine.events_hooks`).

Each function is the seed's behaviour for one stage of building a runtime.  An installed
plugin that implements the same hook and returns something other than None serves the
stage instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# The events log's hooks are the core's too: registered with the stages below.
from pypod_core.engine.events_hooks import (  # noqa: F401 - registered by pluggy
    pypod_container_created,
    pypod_container_exited,
    pypod_container_removed,
    pypod_container_started,
    pypod_image_pulled,
    pypod_image_removed,
    pypod_pod_created,
    pypod_pod_removed,
    pypod_volume_created,
    pypod_volume_removed,
)
from pypod_core.errors import BackendNotFoundError, ConfigError, OCIRuntimeError
from pypod_core.host.locks import FileLock
from pypod_core.host.private import private_dir, private_file
from pypod_core.plugin.declarations import GraphDriverBackend
from pypod_core.plugin.hookspecs import hookimpl
from pypod_core.plugin.state import DBConfig

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime

#: Config keys the DB config may fill in when the user did not set them.
DB_OWNED_KEYS = (
    ("graph_driver", "graph_driver"),
    ("graph_root", "graph_root"),
    ("run_root", "run_root"),
    ("static_dir", "static_dir"),
    ("tmp_dir", "tmp_dir"),
    ("volume_path", "volume_dir"),
)


def _make_dir(what: str, path: str) -> None:
    """``mkdir -p``, root's alone (0700, see :mod:`pypod_core.host.private`); a ConfigError
    naming the setting if the path cannot be a directory."""
    try:
        private_dir(path)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from None


def _first_file(what: str, paths: list[str]) -> str:
    """The first existing non-directory file of ``paths``; OCIRuntimeError if none."""
    for path in paths:
        if os.path.exists(path) and not os.path.isdir(path):
            return path
    raise OCIRuntimeError(f"could not find a working {what} (tried: {', '.join(paths)})")


@hookimpl(trylast=True)
def pypod_find_runtime_path(runtime: Runtime) -> str:
    """The first existing non-directory file of ``runtime_path``."""
    # The backend is looked up first: a misspelt name lists the installed ones, and the
    # backend says which executable it runs.
    decl = runtime.plugins.backend("oci_runtime", runtime.config.oci_backend())
    what = f"binary for OCI runtime {runtime.config.runtime!r}"
    return _first_file(what, runtime.config.runtime_paths(decl.binary))


@hookimpl(trylast=True)
def pypod_find_conmon_path(runtime: Runtime) -> str:
    """The first existing non-directory file of ``conmon_path``."""
    return _first_file("conmon binary", runtime.config.conmon_path)


@hookimpl(trylast=True)
def pypod_prepare_static_dir(runtime: Runtime) -> bool:
    """``mkdir -p graph_root static_dir``, both 0700."""
    _make_dir("graph_root", runtime.config.graph_root)
    _make_dir("static_dir", runtime.config.static_dir)
    return True


@hookimpl(trylast=True)
def pypod_make_state(runtime: Runtime) -> Any:
    """The factory of the StateBackend that ``state_type`` names."""
    return runtime.plugins.build("state", runtime.config.state_type, runtime)


def db_config_of(runtime: Runtime) -> DBConfig:
    """The DB configuration that this runtime's config implies."""
    c = runtime.config
    return DBConfig(
        static_dir=c.static_dir,
        tmp_dir=c.tmp_dir,
        graph_root=c.graph_root,
        run_root=c.run_root,
        graph_driver=c.graph_driver,
        volume_dir=c.volume_path,
    )


@hookimpl(trylast=True)
def pypod_apply_db_config(runtime: Runtime) -> bool:
    """Take unset paths from the DB, then validate the DB config (mismatch = error).
    A recorded graph driver ``dir`` is not taken: it is what pypod recorded before it
    stored images, and it holds none."""
    stored = runtime.state.get_db_config()
    if stored is not None:
        for key, field in DB_OWNED_KEYS:
            value = getattr(stored, field)
            if value and key not in runtime.config.explicit and value != "dir":
                setattr(runtime.config, key, value)
    runtime.state.validate_db_config(db_config_of(runtime))
    return True


@hookimpl(trylast=True)
def pypod_set_namespace(runtime: Runtime) -> bool:
    """``state.set_namespace(config.namespace)``."""
    runtime.state.set_namespace(runtime.config.namespace)
    return True


@hookimpl(trylast=True)
def pypod_make_storage(runtime: Runtime) -> Any:
    """Container files under ``graph_root`` (rootfs directories are used in place)."""
    from pypod_core.engine.storage import DirStorage  # lazy: only when the backend is built (~3 ms)

    return DirStorage(runtime.config.graph_root)


@hookimpl
def pypod_graph_drivers() -> Any:
    """``dir``: a --rootfs directory used in place (the engine's choice for --rootfs
    containers, whatever ``graph_driver`` says); ``dir-overlay``: ``--rootfs DIR:O``."""
    def factory(runtime: Any) -> Any:
        # lazy: only when the backend is built (~0.3 ms)
        from pypod_core.engine.dirdriver import DirGraphDriver

        return DirGraphDriver(os.path.join(runtime.config.graph_root, "dir"))

    def overlay_factory(runtime: Any) -> Any:
        # lazy: only when the backend is built (~0.3 ms)
        from pypod_core.engine.dir_overlay import DirOverlayDriver

        return DirOverlayDriver(os.path.join(runtime.config.graph_root, "dir-overlay"))

    yield GraphDriverBackend(name="dir", factory=factory,
                             description="a --rootfs directory used in place; no layers")
    yield GraphDriverBackend(name="dir-overlay", factory=overlay_factory,
                             description="--rootfs DIR:O: an overlay over the directory, "
                                         "the container's writes kept apart")


@hookimpl(trylast=True)
def pypod_prepare_tmp_dir(runtime: Runtime) -> bool:
    """``mkdir -p run_root tmp_dir``, both 0700."""
    _make_dir("run_root", runtime.config.run_root)
    _make_dir("tmp_dir", runtime.config.tmp_dir)
    return True


@hookimpl(trylast=True)
def pypod_make_oci_runtime(runtime: Runtime) -> Any:
    """The factory of the OCIRuntimeBackend that ``runtime`` names."""
    return runtime.plugins.build("oci_runtime", runtime.config.oci_backend(), runtime)


@hookimpl(trylast=True)
def pypod_prepare_lock_dir(runtime: Runtime) -> str:
    """``tmp_dir/lock`` (0700): per-object lock files (0600) live there."""
    lock_dir = os.path.join(runtime.config.tmp_dir, "lock")
    _make_dir("lock dir", lock_dir)
    return lock_dir


@hookimpl(trylast=True)
def pypod_make_network(runtime: Runtime) -> Any:
    """The selected NetworkBackend; no network when rootless (False), or when the
    default backend is not installed (a container that needs one then says why)."""
    if runtime.rootless:
        return False
    return _optional_backend(runtime, "network", "network_backend")


def _optional_backend(runtime: Runtime, family: str, key: str) -> Any:
    """Build the backend ``key`` names; if the config left ``key`` at its default and no
    plugin declares that backend, none (False), with the reason kept on the runtime."""
    try:
        return runtime.plugins.build(family, getattr(runtime.config, key), runtime)
    except BackendNotFoundError as exc:
        if key in runtime.config.explicit:
            raise
        runtime.missing_backends[family] = str(exc)
        return False


@hookimpl(trylast=True)
def pypod_make_firewall(runtime: Runtime) -> Any:
    """The selected FirewallBackend; ``none`` when rootless; none at all (False) when
    there is no network and the firewall backend was not chosen explicitly."""
    if runtime.rootless:
        return runtime.plugins.build("firewall", "none", runtime)
    if not runtime.network:
        return _optional_backend(runtime, "firewall", "firewall_backend")
    return runtime.plugins.build("firewall", runtime.config.firewall_backend, runtime)


@hookimpl(trylast=True)
def pypod_refresh_after_reboot(runtime: Runtime) -> bool:
    """Once per boot, under ``tmp_dir/alive.lck``: refresh the state and every object."""
    alive = os.path.join(runtime.config.tmp_dir, "alive")
    with FileLock(alive + ".lck"):
        if not os.path.exists(alive):
            runtime.state.refresh()
            runtime.refresh_objects()
            runtime.refreshed_after_reboot = True
            os.close(private_file(alive))
    return True
