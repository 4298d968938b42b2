"""Volume commands, as podman's: ``volume create``, ``ls``, ``inspect``, ``rm``, ``prune``,
``exists``, ``export`` and ``import``.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.options import parse_since
from pypod_core.cli.output import error_line, parse_format
from pypod_core.errors import (
    InvalidArgError,
    NoSuchVolumeError,
    PypodError,
    VolumeInUseError,
)

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.model import Volume

#: ``volume ls --filter`` keys (podman's), and those of ``volume prune --filter``.
LS_FILTERS = ("name", "driver", "label", "dangling", "scope", "opt", "until")
PRUNE_FILTERS = ("label", "until")
#: podman's exit codes of ``volume rm``: 1 no such volume, 2 a volume in use.
EXIT_NO_SUCH, EXIT_IN_USE = 1, 2


def _pairs(items: list[str], what: str) -> dict[str, str]:
    """``K=V`` flags (``-o``, ``-l``); ``K`` alone has an empty value."""
    result = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidArgError(f"invalid {what} {item!r}: expected KEY=VALUE")
        result[key] = value
    return result


# -- create ----------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume create [-d DRIVER] [-o K=V] [-l K=V] [NAME]``: print its name."""
    labels = _pairs([x for item in args.label for x in item.split(",")], "label")
    volume = ctx.runtime.create_volume(args.name, driver=args.driver,
                                       options=_pairs(args.opt, "option"), labels=labels)
    ctx.out(volume.name)
    return 0


def _add_create(group: Any) -> None:
    p = group.add_parser("create", help=summary("create", "volume"))
    p.add_argument("-d", "--driver", default=None,
                   help="the volume driver (default: config volume_driver, local)")
    p.add_argument("-o", "--opt", action="append", default=[], metavar="K=V",
                   help="a driver option (local: type=, device=, o=, size=, nocopy)")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V")
    p.add_argument("name", nargs="?", default=None, metavar="NAME")
    p.set_defaults(func=cmd_create)


# -- listing and inspecting --------------------------------------------------------------


def _filters(items: list[str], allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    result = []
    for item in items:
        key, eq, value = item.partition("=")
        if key not in allowed:
            raise InvalidArgError(f'"{key}" is an invalid volume filter')
        if not eq:
            raise InvalidArgError(f"invalid filter {item!r}: expected KEY=VALUE")
        result.append((key, value))
    return result


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _matcher(ctx: CLIContext, key: str, value: str) -> Callable[[Volume], bool]:
    """One filter as podman's (every filter given must hold)."""
    if key == "name":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise InvalidArgError(f"invalid name filter {value!r}: {exc}") from None
        return lambda v: pattern.search(v.name) is not None
    if key == "driver":
        return lambda v: v.driver == value
    if key == "scope":
        return lambda v: value == "local"
    if key == "label":
        return lambda v: _label_matches(v.config.labels, value)
    if key == "opt":
        return lambda v: _label_matches(v.config.options, value)
    if key == "until":
        until = parse_since(value)
        return lambda v: v.config.created < until
    if value.lower() not in ("true", "1", "false", "0"):
        raise InvalidArgError(f"{value!r} is not a valid value for the \"dangling\" filter "
                              "- must be true or false")
    dangling = value.lower() in ("true", "1")
    return lambda v: (not ctx.runtime.volume_users(v.name)) == dangling


def _selected(ctx: CLIContext, filters: list[str], allowed: tuple[str, ...]) -> list[Volume]:
    tests = [_matcher(ctx, key, value) for key, value in _filters(filters, allowed)]
    return [v for v in ctx.runtime.volumes() if all(test(v) for test in tests)]


def _go_time(when: float) -> str:
    """A time as a Go template prints a ``time.Time``: ``2024-01-02 15:04:05.123456 +0000
    UTC`` (local time)."""
    moment = datetime.datetime.fromtimestamp(when).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f %z ") + (moment.tzname() or "")


def _template_view(doc: dict[str, Any], volume: Volume) -> dict[str, Any]:
    """podman's template fields (every InspectVolumeData field, the empty ones too)."""
    return {"UID": 0, "GID": 0, "Anonymous": False, "NeedsCopyUp": False,
            "NeedsChown": False, "Status": {}, **doc, "CreatedAt": _go_time(volume.config.created)}


def cmd_ls(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume ls [-q] [--filter K=V] [--format json|TEMPLATE] [--noheading]``."""
    if args.quiet and args.format:
        raise InvalidArgError("quiet and format flags cannot be used together")
    template = parse_format(args.format, "json")
    volumes = _selected(ctx, args.filter, LS_FILTERS)
    if args.quiet:
        for volume in volumes:
            ctx.out(volume.name)
    elif args.format.strip() == "json":
        ctx.out(json.dumps([ctx.runtime.inspect_volume(v) for v in volumes], indent=2))
    elif template is not None:
        for volume in volumes:
            ctx.out(template.render(_template_view(ctx.runtime.inspect_volume(volume), volume)))
    else:
        rows = [] if args.noheading else [("DRIVER", "VOLUME NAME")]
        rows += [(v.driver, v.name) for v in volumes]
        # podman's tabwriter: columns at least 12 wide, two spaces of padding.
        width = max([12, *(len(r[0]) + 2 for r in rows)])
        for driver, name in rows:
            ctx.out(f"{driver:<{width}}{name}")
    return 0


def _add_ls(group: Any, verb: str = "ls") -> None:
    p = group.add_parser(verb, help=summary(verb, "volume"))
    p.add_argument("-f", "--filter", action="append", default=[], metavar="K=V",
                   help="name=REGEX, driver=, label=K[=V], dangling=true|false, "
                        "opt=K[=V], scope=local, until=TIME")
    p.add_argument("--format", default="", help="json, or a Go template")
    p.add_argument("-q", "--quiet", action="store_true", help="names only")
    p.add_argument("-n", "--noheading", action="store_true", help="no header line")
    p.set_defaults(func=cmd_ls)


def _add_list(group: Any) -> None:
    _add_ls(group, "list")


def cmd_inspect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume inspect [-a] [-f F] VOLUME...``: podman's JSON, or a template."""
    if args.all == bool(args.volumes):
        raise InvalidArgError("provide one or more volume names or use --all")
    template = parse_format(args.format, "json", "{{json .}}")
    found, code = [], 0
    if args.all:
        found = ctx.runtime.volumes()
    for name in args.volumes:
        try:
            found.append(ctx.runtime.lookup_volume(name))
        except PypodError as exc:
            error_line(str(exc))
            code = 125
    docs = [ctx.runtime.inspect_volume(v) for v in found]
    if template is not None:
        for doc, volume in zip(docs, found, strict=True):
            ctx.out(template.render(_template_view(doc, volume)))
    else:
        ctx.out(json.dumps(docs, indent=5))
    return code


def _add_inspect(group: Any) -> None:
    p = group.add_parser("inspect", help=summary("inspect", "volume"))
    p.add_argument("-a", "--all", action="store_true", help="every volume")
    p.add_argument("-f", "--format", default="json", help="json, or a Go template")
    p.add_argument("volumes", nargs="*", metavar="VOLUME")
    p.set_defaults(func=cmd_inspect)


def cmd_exists(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume exists VOLUME``: exit 0 if it does, 1 if not (podman's)."""
    return 0 if ctx.runtime.has_volume(args.volume) else 1


def _add_exists(group: Any) -> None:
    p = group.add_parser("exists", help=summary("exists", "volume"))
    p.add_argument("volume", metavar="VOLUME")
    p.set_defaults(func=cmd_exists)


# -- removing ------------------------------------------------------------------------------


def _rm_code(exc: PypodError) -> int:
    if isinstance(exc, NoSuchVolumeError):
        return EXIT_NO_SUCH
    return EXIT_IN_USE if isinstance(exc, VolumeInUseError) else 125


def cmd_rm(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume rm [-f] [-t N] VOLUME... | -a``: print each removed name; with
    ``--force`` the containers using one go first, and a missing one is no error."""
    if args.all == bool(args.volumes):
        raise InvalidArgError("choose either one or more volumes or all")
    if args.time is not None:
        if not args.force:
            raise InvalidArgError("--force option must be specified to use the --time option")
        from pypod_core.engine.validate import (
            check_stop_timeout,  # lazy: the engine, not for parsing
        )

        check_stop_timeout(args.time, "--time")
    names = [v.name for v in ctx.runtime.volumes()] if args.all else args.volumes
    code = 0
    for name in names:
        try:
            volume = ctx.runtime.lookup_volume(name)
            ctx.runtime.remove_volume(volume, force=args.force, timeout=args.time)
        except NoSuchVolumeError as exc:
            if args.force:
                continue
            error_line(str(exc))
            code = _worst(code, EXIT_NO_SUCH)
            continue
        except PypodError as exc:
            error_line(str(exc))
            code = _worst(code, _rm_code(exc))
            continue
        ctx.out(volume.name)
    return code


def _worst(code: int, new: int) -> int:
    return new if code == 0 else min(code, new)


def _add_rm(group: Any, verb: str = "rm") -> None:
    p = group.add_parser(verb, help=summary(verb, "volume"))
    p.add_argument("-a", "--all", action="store_true", help="every volume")
    p.add_argument("-f", "--force", action="store_true",
                   help="remove the containers using it first")
    p.add_argument("-t", "--time", type=int, default=None,
                   help="seconds before a container being removed is killed")
    p.add_argument("volumes", nargs="*", metavar="VOLUME")
    p.set_defaults(func=cmd_rm)


def _add_remove(group: Any) -> None:
    _add_rm(group, "remove")


def cmd_prune(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume prune [-f] [--filter label=|until=]``: remove every volume no
    container uses (asking first, as podman, unless ``--force``)."""
    wanted = _selected(ctx, args.filter, PRUNE_FILTERS)
    unused = [v for v in wanted if not ctx.runtime.volume_users(v.name)]
    if not args.force:
        ctx.out("WARNING! This will remove all volumes not used by at least one container. "
                "The following volumes will be removed:")
        if not unused:
            ctx.out("No dangling volumes found")
            return 0
        for volume in unused:
            ctx.out(volume.name)
        print("Are you sure you want to continue? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline()
        if not answer.strip().lower().startswith("y"):
            return 0
    code = 0
    for volume in unused:
        try:
            ctx.runtime.remove_volume(volume)
        except (NoSuchVolumeError, VolumeInUseError):
            continue  # removed, or taken into use, meanwhile
        except PypodError as exc:
            error_line(str(exc))
            code = 125
            continue
        ctx.out(volume.name)
    return code


def _add_prune(group: Any) -> None:
    p = group.add_parser("prune", help=summary("prune", "volume"))
    p.add_argument("-f", "--force", action="store_true", help="do not ask first")
    p.add_argument("--filter", action="append", default=[], metavar="K=V",
                   help="label=K[=V], until=TIME")
    p.set_defaults(func=cmd_prune)


# -- files ---------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume export [-o FILE] VOLUME``: its files as a tar, on stdout (which
    must not be a terminal) or in FILE."""
    volume = ctx.runtime.lookup_volume(args.volume)
    if args.output in ("", "-", "/dev/stdout"):
        if sys.stdout.isatty():
            raise InvalidArgError("expects output path, use --output=[path]")
        sys.stdout.flush()
        ctx.runtime.export_volume(volume.name, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    with open(args.output, "wb") as out:
        ctx.runtime.export_volume(volume.name, out)
    return 0


def _add_export(group: Any) -> None:
    p = group.add_parser("export", help=summary("export", "volume"))
    p.add_argument("-o", "--output", default="", help="the tar file (default: stdout)")
    p.add_argument("volume", metavar="VOLUME")
    p.set_defaults(func=cmd_export)


def cmd_import(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod volume import VOLUME SOURCE``: extract a tar (a file, or ``-`` for
    stdin) into the volume."""
    volume = ctx.runtime.lookup_volume(args.volume)
    if args.source == "-":
        ctx.runtime.import_volume(volume.name, sys.stdin.buffer)
        return 0
    with open(args.source, "rb") as source:
        ctx.runtime.import_volume(volume.name, source)
    return 0


def _add_import(group: Any) -> None:
    p = group.add_parser("import", help=summary("import", "volume"))
    p.add_argument("volume", metavar="VOLUME")
    p.add_argument("source", metavar="SOURCE", help="a tar file, or - for stdin")
    p.set_defaults(func=cmd_import)


# -- registration ----------------------------------------------------------------------


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod volume`` commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`); each command's parser is made by the
    ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "volumes", sub, groups, want, group="volume")
