"""podman's global flags beyond pypod's own (``--root``, ``--runroot``, ...): each maps
to the config key it overrides, as podman's override containers.conf and storage.conf.

=========================  =======================  =====================================
flag                       config key               what pypod honours
=========================  =======================  =====================================
``--storage-driver``       ``graph_driver``         any installed graph driver
``--storage-opt``          (none)                   ``""`` only: pypod's drivers take none
``--volumepath``           ``volume_path``          any absolute directory
``--tmpdir``               ``tmp_dir``              any absolute directory
``--runtime-flag``         ``runtime_flags``        each passed to the OCI runtime as --F
``--cgroup-manager``       ``cgroup_manager``       cgroupfs or systemd
``--network-config-dir``   ``cni_config_dir``       any absolute directory
``--events-backend``       ``events_logger``        file or none (no journald)
``--conmon``               ``conmon_path``          one absolute path
``--network-cmd-path``     (none)                   ``""`` only: pypod runs no slirp4netns
=========================  =======================  =====================================

``--noout`` sends pypod's own output to /dev/null (a container's, attached, still
reaches the terminal); ``--remote``, ``-r``, ``--url`` and ``--connection`` are answered
as podman answers them without a service to connect to: pypod is daemonless.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

from pypod_core.errors import InvalidArgError

#: Each flag's dest and the config key its value overrides, as given.
KEY_FLAGS: Final = {
    "storage_driver": "graph_driver",
    "volumepath": "volume_path",
    "tmpdir": "tmp_dir",
    "cgroup_manager": "cgroup_manager",
    "network_config_dir": "cni_config_dir",
    "events_backend": "events_logger",
}
#: The flags of this module that take a value (to find the command word).
VALUE_FLAGS: Final = frozenset({
    "--storage-driver", "--storage-opt", "--volumepath", "--tmpdir", "--runtime-flag",
    "--cgroup-manager", "--network-config-dir", "--events-backend", "--conmon",
    "--network-cmd-path", "--url", "--connection", "-c",
})
#: podman's events backends, and why pypod has not the one it refuses.
EVENTS_BACKENDS: Final = ("file", "journald", "none")
_NO_JOURNALD = "pypod has no journald events backend: use file or none"


def _absolute(path: str) -> str:
    # Relative directories are taken from the current one, as podman's --root.
    return os.path.abspath(path) if path else path


def remote_implied(argv: list[str]) -> bool:
    """Whether the command line or the environment already names a service
    (``CONTAINER_HOST``, ``CONTAINER_CONNECTION``, ``--url``, ``--connection``): then
    ``--remote`` adds nothing and, as podman's, help does not offer it."""
    if os.environ.get("CONTAINER_HOST") or os.environ.get("CONTAINER_CONNECTION"):
        return True
    return any(a in ("--url", "--connection") or a.startswith(("--url=", "--connection="))
               for a in argv)


def add_global_flags(parser: argparse.ArgumentParser, hide_remote: bool = False) -> None:
    """Add podman's global flags of the table above, ``--noout``, the remote ones and
    ``-v/--version``; ``--remote`` is left out of help with ``hide_remote``."""
    parser.add_argument("--storage-driver", help="graph driver of images (graph_driver)")
    parser.add_argument("--storage-opt", action="append", default=None, metavar="OPT",
                        help="graph driver option: pypod's take none, so only ''")
    parser.add_argument("--volumepath", type=_absolute, help="volumes' directory (volume_path)")
    parser.add_argument("--tmpdir", type=_absolute,
                        help="directory of pypod's per-boot files (tmp_dir)")
    parser.add_argument("--runtime-flag", action="append", default=[], metavar="FLAG",
                        help="a flag for the OCI runtime, without its -- (repeatable)")
    parser.add_argument("--cgroup-manager", help="cgroupfs or systemd (cgroup_manager)")
    parser.add_argument("--network-config-dir", type=_absolute,
                        help="CNI network configuration directory (cni_config_dir)")
    parser.add_argument("--events-backend", help="file or none (events_logger)")
    parser.add_argument("--conmon", type=_absolute, help="the conmon binary (conmon_path)")
    parser.add_argument("--network-cmd-path", default=None, metavar="PATH",
                        help="slirp4netns binary: pypod runs none, so only ''")
    parser.add_argument("--noout", action="store_true", help="send pypod's output to /dev/null")
    parser.add_argument("-r", "--remote", action="store_true",
                        help=argparse.SUPPRESS if hide_remote else
                        "talk to a service (pypod is daemonless: refused)")
    parser.add_argument("--url", help="the service's URL (refused, as --remote)")
    parser.add_argument("-c", "--connection", help="a named connection (refused, as --remote)")
    parser.add_argument("-v", "--version", action="store_true", help="print pypod's version")


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the global flags given set (none for a flag not given); an
    InvalidArgError naming the flag for a value pypod cannot honour."""
    _refuse_unhonoured(args)
    options: dict[str, Any] = {}
    for dest, key in KEY_FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            options[key] = value
    if getattr(args, "runtime_flag", None):
        options["runtime_flags"] = list(args.runtime_flag)
    if getattr(args, "conmon", None):
        options["conmon_path"] = [args.conmon]
    return options


def _refuse_unhonoured(args: argparse.Namespace) -> None:
    """podman's words for a bad value it refuses too; pypod's own, naming the flag, for
    a value podman takes and pypod cannot honour."""
    backend = getattr(args, "events_backend", None)
    if backend is not None and backend not in EVENTS_BACKENDS:
        raise InvalidArgError(f'--events-backend: "{backend}" is not a valid events backend')
    if backend == "journald":
        raise InvalidArgError(f"--events-backend journald: {_NO_JOURNALD}")
    manager = getattr(args, "cgroup_manager", None)
    if manager is not None and manager not in ("cgroupfs", "systemd"):
        raise InvalidArgError(f"--cgroup-manager {manager!r}: cgroup manager must be one of "
                              "cgroupfs and systemd")
    opts = [o for o in getattr(args, "storage_opt", None) or () if o]
    if opts:
        raise InvalidArgError(f"--storage-opt {opts[0]!r}: pypod's graph drivers take no "
                              "options (only --storage-opt='' is accepted)")
    if getattr(args, "network_cmd_path", None):
        raise InvalidArgError(f"--network-cmd-path {args.network_cmd_path!r}: pypod runs no "
                              "slirp4netns (rootless containers have no network)")
    for flag in getattr(args, "runtime_flag", None) or ():
        if not flag or flag.startswith("-"):
            raise InvalidArgError(f"--runtime-flag {flag!r}: give the runtime's flag "
                                  "without its leading --, e.g. log-format=json")


def check_remote(args: argparse.Namespace) -> None:
    """``--remote``, ``--url`` and ``--connection``: refused as podman refuses them when
    no service answers, for pypod serves none."""
    if getattr(args, "connection", None):
        raise InvalidArgError(f'failed to resolve active destination: "{args.connection}" '
                              "service destination not found (pypod is daemonless: no "
                              "--connection)")
    if getattr(args, "remote", False) or getattr(args, "url", None):
        where = args.url or "unix:///run/podman/podman.sock"
        raise InvalidArgError(f"unable to connect to Podman socket: {where}: pypod is "
                              "daemonless and serves no API (no --remote, --url)")


def global_argv(args: argparse.Namespace) -> list[str]:
    """The global flags of this module that were given, as arguments for another
    ``pypod`` on the same runtime."""
    argv: list[str] = []
    for dest in KEY_FLAGS:
        value = getattr(args, dest, None)
        if value is not None:
            argv += [f"--{dest.replace('_', '-')}", value]
    for flag in getattr(args, "runtime_flag", None) or ():
        argv += ["--runtime-flag", flag]
    if getattr(args, "conmon", None):
        argv += ["--conmon", args.conmon]
    return argv


def version_line() -> str:
    """``pypod version X``, as ``podman --version`` prints its own."""
    from importlib.metadata import PackageNotFoundError, version  # lazy: only --version

    try:
        number = version("pypod")
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown"
    return f"pypod version {number}"
