"""Container commands besides the lifecycle, as podman's: ``top``, ``port`` and
``rename`` (also under ``pypod container``), ``container exists`` and ``container
prune``.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import sub_commands, summary, top_level
from pypod_core.cli.output import error_line
from pypod_core.errors import InvalidArgError, NoSuchCtrError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted


def tab_rows(rows: Sequence[Sequence[str]], out: Callable[[str], None]) -> None:
    """Rows as podman's tab writer lays them out (cells at least 12 wide, two spaces
    apart; the last one as it is)."""
    widths = [max(12, *(len(r[i]) + 2 for r in rows)) for i in range(len(rows[0]) - 1)]
    for row in rows:
        out("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
            + row[-1])


def cmd_top(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod top CONTAINER [DESCRIPTORS...]``."""
    ctr = ctx.runtime.lookup_container(args.container)
    tab_rows(ctr.top(args.descriptors), ctx.out)
    return 0


def _add_top(sub: Any) -> None:
    p = sub.add_parser("top", help=summary("top"))
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("descriptors", nargs="*", metavar="DESCRIPTOR",
                   help="user, pid, ppid, pcpu, etime, tty, time, args (the default), "
                        "comm, group, nice, pgid, vsz, hpid, huser, capeff, ...")
    p.set_defaults(func=cmd_top)


def _port_wanted(spec: str) -> tuple[int, str] | None:
    if not spec:
        return None
    fields = spec.split("/")
    if len(fields) > 2 or not fields[0].isdigit() or int(fields[0]) > 65535:
        raise InvalidArgError(f"port formats are port/protocol. '{spec}' is invalid")
    return int(fields[0]), fields[1] if len(fields) == 2 else "tcp"


def cmd_port(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod port CONTAINER [PORT[/PROTO]]`` or ``port -a``: the running containers'
    published ports, in podman's lines."""
    names = list(args.args)
    if not args.all and not names:
        raise InvalidArgError("you must supply a running container name or id")
    if len(names) > (1 if args.all else 2):
        raise InvalidArgError("`port` accepts at most 2 arguments")
    spec = (names[0] if names else "") if args.all else (names[1] if len(names) > 1 else "")
    wanted = _port_wanted(spec)
    ctrs = ctx.runtime.containers(all=True) if args.all else \
        [ctx.runtime.lookup_container(names[0])]
    for ctr in ctrs:
        if ctr.sync().state.state.value != "running" or not ctr.published_ports():
            if wanted and not args.all:
                raise InvalidArgError(f'failed to find published port "{spec}"')
            continue
        _print_ports(ctx, ctr, wanted, spec, ctr.id[:12] + "\t" if args.all else "")
    return 0


def _print_ports(ctx: CLIContext, ctr: Any, wanted: tuple[int, str] | None, spec: str,
                 prefix: str) -> None:
    for m in ctr.published_ports():
        host_ip = m.host_ip or "0.0.0.0"
        if wanted is None:
            ctx.out(f"{prefix}{m.container_port}/{m.protocol} -> {host_ip}:{m.host_port}")
        elif (m.container_port, m.protocol) == wanted:
            ctx.out(f"{prefix}{host_ip}:{m.host_port}")
            return
    if wanted is not None:
        raise InvalidArgError(f'failed to find published port "{spec}"')


def _add_port(sub: Any) -> None:
    p = sub.add_parser("port", help=summary("port"))
    p.add_argument("-a", "--all", action="store_true", help="every running container")
    p.add_argument("args", nargs="*", metavar="CONTAINER [PORT[/PROTO]]")
    p.set_defaults(func=cmd_port)


def cmd_rename(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod rename CONTAINER NEW``: nothing printed, as podman's."""
    ctr = ctx.runtime.lookup_container(args.container)
    ctx.runtime.rename_container(ctr, args.name)
    return 0


def _add_rename(sub: Any) -> None:
    p = sub.add_parser("rename", help=summary("rename"))
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("name", metavar="NEW_NAME")
    p.set_defaults(func=cmd_rename)


def cmd_exists(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod container exists CONTAINER``: exit 0 if it does, 1 if not (podman's)."""
    try:
        ctx.runtime.lookup_container(args.container)
    except NoSuchCtrError:
        return 1
    return 0


def _add_exists(sub: Any) -> None:
    p = sub.add_parser("exists", help=summary("exists", "container"))
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_exists)


def confirm(ctx: CLIContext, warning: str) -> bool:
    """podman's prune question; True for an answer starting with y."""
    ctx.out(warning)
    print("Are you sure you want to continue? [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower().startswith("y")


def print_pruned(ctx: CLIContext, reports: Sequence[Any]) -> int:
    """Each removed object's id on stdout, each failure on stderr; 125 if any."""
    code = 0
    for report in reports:
        if report.error is None:
            ctx.out(report.id)
        else:
            error_line(str(report.error))
            code = 125
    return code


def until_filters(items: Sequence[str]) -> list[str]:
    """``--filter`` values with ``until=``'s time (a duration, an RFC 3339 time) made a
    Unix time, as the engine takes it."""
    from pypod_core.cli.options import parse_since  # lazy: only --filter (~0.4 ms)

    return [f"until={parse_since(f[6:])}" if f.startswith("until=") else f for f in items]


def cmd_prune(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod container prune [-f] [--filter label=|label!=|until=]``."""
    filters = until_filters(args.filter)
    if not args.force and not confirm(
            ctx, "WARNING! This will remove all non running containers."):
        return 0
    return print_pruned(ctx, ctx.runtime.prune_containers(filters))


def _add_prune(sub: Any) -> None:
    p = sub.add_parser("prune", help=summary("prune", "container"))
    p.add_argument("-f", "--force", action="store_true", help="do not ask first")
    p.add_argument("--filter", action="append", default=[], metavar="K=V",
                   help="label=K[=V], label!=K[=V], until=TIME")
    p.set_defaults(func=cmd_prune)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add this module's commands the command line needs, at the top level and under
    ``pypod container``."""
    verbs = top_level("container_tools")
    for verb in verbs:
        if want(verb):
            globals()[f"_add_{verb}"](sub)
    if "container" in groups:
        for verb in sub_commands("container", "container_tools"):
            if want(verb, group="container"):
                globals()[f"_add_{verb}"](groups["container"])
