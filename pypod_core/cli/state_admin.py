"""``pypod system migrate`` and ``pypod system reset``: the state store's administration.

``migrate`` opens the state (which applies any schema migration, in one transaction)
and says what it found.  ``reset`` removes every pod and container (through the
runtime, so processes, networks and files go too; through the state where the runtime
cannot), closes the state and deletes the runtime's directories.  It refuses to delete
``/``, ``$XDG_RUNTIME_DIR`` or ``$HOME`` or a directory holding them, and it still
works when the state cannot be opened (a corrupt database is what it is for).

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.config import RuntimeConfig, load_config
from pypod_core.errors import CtrInUseError, InternalError, InvalidArgError, PypodError
from pypod_core.host.processes import cleanup_commands, pid_alive

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted

T = TypeVar("T")


def warn(message: str) -> None:
    """A warning on stderr: the command goes on."""
    print(f"WARN: {message}", file=sys.stderr)


# -- migrate ---------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod system migrate``: open the state (migrating it) and report the versions."""
    runtime = ctx.runtime
    kind = runtime.config.state_type
    versions = runtime.state.schema_versions()
    if versions is None:
        ctx.out(f"the {kind} state has no schema: nothing to migrate")
    elif versions[0] == 0:
        ctx.out(f"created a new {kind} state database at schema version {versions[1]}")
    elif versions[0] == versions[1]:
        ctx.out(f"the {kind} state database is at schema version {versions[1]}: "
                f"nothing to migrate")
    else:
        ctx.out(f"migrated the {kind} state database from schema version {versions[0]} "
                f"to {versions[1]}")
    return 0


def _add_migrate(system: Any) -> None:
    p = system.add_parser("migrate", help=summary("migrate", "system"))
    p.set_defaults(func=cmd_migrate)


# -- reset: what to delete -------------------------------------------------------------


def reset_paths(config: RuntimeConfig, state: Any = None) -> list[tuple[str, str]]:
    """(label, path) of everything reset deletes: the runtime's directories and the
    state database if it lives elsewhere."""
    paths = [("graph root", config.graph_root), ("run root", config.run_root),
             ("static dir", config.static_dir), ("tmp dir", config.tmp_dir),
             ("volume dir", config.volume_path)]
    db = getattr(state, "path", "")
    if db and not any(_within(db, p) for _, p in paths if p):
        paths.append(("state database", db))
    return [(label, path) for label, path in paths if path]


def _within(path: str, parent: str) -> bool:
    path, parent = os.path.realpath(path), os.path.realpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def check_removable(paths: Iterable[tuple[str, str]]) -> None:
    """Refuse (InvalidArgError) a path that is ``/``, ``$XDG_RUNTIME_DIR`` or ``$HOME``,
    or holds one of them."""
    protected = [("/", "/")] + [(f"${var}", os.environ[var])
                                for var in ("XDG_RUNTIME_DIR", "HOME") if os.environ.get(var)]
    for label, path in paths:
        for name, keep in protected:
            if _within(keep, path):
                raise InvalidArgError(
                    f"refusing to reset: the {label} {path} is or holds {name}"
                    + ("" if name == "/" else f" ({keep})"))


# -- reset: the objects ----------------------------------------------------------------


def _remove_all(items: list[T], remove: Callable[[T], None], label: Callable[[T], str],
                problems: list[str]) -> None:
    """Remove every item; one that others depend on is retried after them."""
    while items:
        left = []
        for item in items:
            try:
                remove(item)
            except CtrInUseError:
                left.append(item)
            except PypodError as exc:
                problems.append(f"{label(item)}: {exc}")
        if len(left) == len(items):
            problems += [f"{label(item)}: still in use" for item in left]
            return
        items = left


def wait_for_monitors(conmon_pids: Iterable[int], graph_root: str,
                      timeout: float = 15.0) -> None:
    """Wait until the containers' conmon processes, and the clean-up commands they start
    when a container exits, are gone: one still running would re-create the directories
    reset deletes."""
    deadline = time.monotonic() + timeout
    pending = list(conmon_pids)
    while time.monotonic() < deadline:
        pending = [pid for pid in pending if pid_alive(pid)]
        if not pending and not cleanup_commands(graph_root):
            return
        time.sleep(0.02)
    warn("clean-up processes of removed containers are still running")


def remove_objects(runtime: Any) -> list[str]:
    """Remove every pod, container and volume: through the runtime where it can
    (processes, networks, mounts and files go too; a volume driver's files outside the
    volume dir), then whatever is left through the state, in every namespace.  Returns
    the problems met (the directories go anyway)."""
    problems: list[str] = []
    try:
        if hasattr(runtime, "pods") and hasattr(runtime, "remove_pod"):
            _remove_all(runtime.pods(), lambda p: runtime.remove_pod(p, force=True),
                        lambda p: f"pod {p.id}", problems)
        if hasattr(runtime, "containers") and hasattr(runtime, "remove_container"):
            _remove_all(runtime.containers(),
                        lambda c: runtime.remove_container(c, force=True),
                        lambda c: f"container {c.id}", problems)
        if hasattr(runtime, "volumes") and hasattr(runtime, "remove_volume"):
            _remove_all(runtime.volumes(), lambda v: runtime.remove_volume(v, force=True),
                        lambda v: f"volume {v.name}", problems)
    except PypodError as exc:  # listing failed: the state below still works
        problems.append(f"objects through the runtime: {exc}")
    state = runtime.state
    state.set_namespace("")
    for pod in state.all_pods():
        try:
            state.remove_pod_containers(pod.config.id)
            state.remove_pod(pod.config.id)
        except PypodError as exc:
            problems.append(f"pod {pod.config.id}: {exc}")
    _remove_all(state.all_containers(), lambda r: state.remove_container(r.config.id),
                lambda r: f"container {r.config.id}", problems)
    return problems


# -- reset: the directories ------------------------------------------------------------


def remove_tree(path: str) -> None:
    """Delete a directory tree, first detaching whatever is mounted inside it (deepest
    first), so that the deletion never reaches through a bind mount into another tree.
    MountError (an OSError) if something cannot be unmounted."""
    if not os.path.lexists(path):
        return
    from pypod_core.host import mounts  # lazy: only reset (ctypes ~2.5 ms)

    real = os.path.realpath(path)
    for point in sorted((p for p in mounts.mounts_under(real) if p != real), key=len,
                        reverse=True):
        mounts.umount(point)
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
    elif os.path.ismount(path):  # a file system of its own (a tmpfs): empty it
        for entry in os.scandir(path):
            remove_tree(entry.path)
    else:
        shutil.rmtree(path)


# -- reset -----------------------------------------------------------------------------


def _open_runtime(ctx: CLIContext) -> tuple[Any, RuntimeConfig]:
    """The runtime, or None and the config alone when it cannot be built (a corrupt
    state, a DB-config mismatch): reset is the way out of those."""
    try:
        runtime = ctx.runtime
    except PypodError as exc:
        warn(f"cannot open the runtime ({exc}); deleting its directories without "
             f"removing containers first")
        options = {k: v for k, v in ctx.runtime_options().items()
                   if k not in ("config_path", "no_plugins", "trace")}
        return None, load_config(ctx.args.config, options)
    return runtime, runtime.config


def _confirmed(ctx: CLIContext, paths: list[tuple[str, str]]) -> bool:
    ctx.out("WARNING! This will remove:")
    ctx.out("        - all containers")
    ctx.out("        - all pods")
    ctx.out("        - all volumes")
    for label, path in paths:
        ctx.out(f"        - the {label}: {path}")
    print("Are you sure you want to continue? [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_reset(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod system reset [--force]``."""
    runtime, config = _open_runtime(ctx)
    paths = reset_paths(config, runtime.state if runtime else None)
    check_removable(paths)
    if not args.force and not _confirmed(ctx, paths):
        return 0
    if runtime is not None:
        monitors = [r.state.conmon_pid for r in runtime.state.all_containers()
                    if r.state.conmon_pid]
        for problem in remove_objects(runtime):
            warn(f"could not remove {problem}")
        runtime.shutdown()
        wait_for_monitors(monitors, config.graph_root)
    failed = []
    for label, path in paths:
        try:
            remove_tree(path)
        except (OSError, PypodError) as exc:
            failed.append(f"{label} {path}: {exc}")
    if failed:
        raise InternalError(f"reset could not delete {'; '.join(failed)}")
    return 0


def _add_reset(system: Any) -> None:
    p = system.add_parser("reset", help=summary("reset", "system"))
    p.add_argument("--force", "-f", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_reset)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod system`` commands of the state store the command line needs (the
    table in :mod:`pypod_core.cli.commands`); each command's parser is made by the
    ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "state_admin", sub, groups, want, group="system")
