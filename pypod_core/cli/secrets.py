"""Secret commands, as podman's: ``secret create``, ``ls``, ``inspect`` and ``rm``.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.
A secret's data is read here (a file, stdin or a variable) and handed to the runtime;
it is never printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.output import error_line, parse_format
from pypod_core.errors import InvalidArgError, NoSuchSecretError, PypodError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.engine.secrets import Secret

#: ``secret ls --filter`` keys (podman's).
LS_FILTERS = ("name", "id")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    """``K=V[,K=V]`` flags (``--driver-opts``, ``--label``), podman's error for a bare K."""
    result = {}
    for item in items:
        for pair in filter(None, item.split(",")):
            key, eq, value = pair.partition("=")
            if not eq or not key:
                raise InvalidArgError(f'invalid argument "{item}" for "{flag}" flag: '
                                      f"{pair} must be formatted as key=value")
            result[key] = value
    return result


# -- create ----------------------------------------------------------------------------


def _read_data(args: argparse.Namespace) -> bytes:
    """The secret's data: the variable named by SOURCE (``--env``), stdin (``-``) or the
    file SOURCE."""
    if args.env:
        value = os.environb.get(os.fsencode(args.source))
        if value is None:
            raise InvalidArgError("cannot create store secret data: environment variable "
                                  f"{args.source} is not set")
        return value
    if args.source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(args.source, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgError(f"open {args.source}: {(exc.strerror or '').lower()}") from None


def cmd_create(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod secret create [-d DRIVER] [--driver-opts K=V] [--env] [-l K=V] NAME
    FILE|-``: print the new secret's id."""
    options = _pairs(args.driver_opts, "--driver-opts")
    labels = _pairs(args.label, "--label")
    secret = ctx.runtime.create_secret(args.name, _read_data(args), driver=args.driver,
                                       driver_options=options, labels=labels)
    ctx.out(secret.id)
    return 0


def _add_create(group: Any) -> None:
    p = group.add_parser("create", help=summary("create", "secret"))
    p.add_argument("-d", "--driver", default=None,
                   help="the secret driver (default: config secret_driver, file)")
    p.add_argument("--driver-opts", action="append", default=[], metavar="K=V,...",
                   help="driver options (file: path=DIR)")
    p.add_argument("--env", action="store_true",
                   help="FILE names an environment variable holding the data")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V")
    p.add_argument("name", metavar="NAME")
    p.add_argument("source", metavar="FILE|-", help="a file, - for stdin (or, with --env, "
                                                    "a variable's name)")
    p.set_defaults(func=cmd_create)


# -- listing and inspecting --------------------------------------------------------------


def _when(created_at: str) -> datetime.datetime:
    """An RFC 3339 time with up to nanoseconds (Python reads six digits at most)."""
    head, _, fraction = created_at.rstrip("Z").partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    moment = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S")
    return moment.replace(microsecond=micros, tzinfo=datetime.UTC)


def _go_time(created_at: str) -> str:
    """A time as a Go template prints a ``time.Time`` (podman's records are UTC):
    ``2024-01-02 15:04:05.123456789 +0000 UTC``."""
    head, _, fraction = created_at.rstrip("Z").partition(".")
    return head.replace("T", " ") + (f".{fraction}" if fraction else "") + " +0000 UTC"


def _ago(created_at: str) -> str:
    from pypod_core.engine.inspect import ago  # lazy: ls's table only

    return f"{ago(time.time() - _when(created_at).timestamp())} ago"


def _list_report(secret: Secret) -> dict[str, Any]:
    """podman's ``SecretListReport``: what ``ls`` templates and tables show."""
    return {"ID": secret.id, "Name": secret.name, "Driver": secret.driver,
            "CreatedAt": _ago(secret.created_at), "UpdatedAt": _ago(secret.created_at)}


def _matcher(key: str, value: str) -> Any:
    if key == "name":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise InvalidArgError(f"invalid name filter {value!r}: {exc}") from None
        return lambda s: pattern.search(s.name) is not None
    return lambda s: s.id.startswith(value)


def _selected(ctx: CLIContext, filters: list[str]) -> list[Secret]:
    tests = []
    for item in filters:
        key, eq, value = item.partition("=")
        if key not in LS_FILTERS or not eq:
            raise InvalidArgError(f'invalid filter "{key}"')
        tests.append(_matcher(key, value))
    return [s for s in ctx.runtime.secrets() if all(test(s) for test in tests)]


def _columns(rows: list[tuple[str, ...]], ctx: CLIContext) -> None:
    """podman's tabwriter: columns at least 12 wide, two spaces of padding."""
    if not rows:
        return
    widths = [max(12, *(len(r[i]) + 2 for r in rows)) for i in range(len(rows[0]))]
    for row in rows:
        ctx.out("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_ls(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod secret ls [-q] [--filter name=|id=] [--format json|TEMPLATE]
    [--noheading]``."""
    template = parse_format(args.format, "json")
    reports = [_list_report(s) for s in _selected(ctx, args.filter)]
    if args.quiet and not args.format:
        for report in reports:
            ctx.out(report["ID"])
    elif args.format.strip() == "json":
        ctx.out(json.dumps(reports, indent=4))
    elif template is not None:
        for report in reports:
            ctx.out(template.render(report))
    else:
        header = [] if args.noheading else [("ID", "NAME", "DRIVER", "CREATED", "UPDATED")]
        _columns(header + [(r["ID"], r["Name"], r["Driver"], r["CreatedAt"],
                            r["UpdatedAt"]) for r in reports], ctx)
    return 0


def _add_ls(group: Any, verb: str = "ls") -> None:
    p = group.add_parser(verb, help=summary(verb, "secret"))
    p.add_argument("-f", "--filter", action="append", default=[], metavar="K=V",
                   help="name=REGEX, id=PREFIX")
    p.add_argument("--format", default="", help="json, or a Go template")
    p.add_argument("-q", "--quiet", action="store_true", help="ids only")
    p.add_argument("--noheading", action="store_true", help="no header line")
    p.set_defaults(func=cmd_ls)


def _add_list(group: Any) -> None:
    _add_ls(group, "list")


def _pretty(doc: dict[str, Any]) -> str:
    """podman's ``inspect --pretty`` block of one secret."""
    spec = doc["Spec"]
    lines = [f"ID:              {doc['ID']}", f"Name:              {spec['Name']}"]
    if spec["Labels"]:
        lines += ["Labels:", *(f" - {k}={v}" for k, v in spec["Labels"].items())]
    lines += [f"Driver:            {spec['Driver']['Name']}",
              f"Created at:        {_go_time(doc['CreatedAt'])}",
              f"Updated at:        {_go_time(doc['UpdatedAt'])}"]
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod secret inspect [-f F | --pretty] SECRET...``: podman's JSON, a template
    or the pretty text; a missing secret is an error line (exit 125), the rest shown."""
    template = parse_format(args.format, "json")
    docs, code = [], 0
    for name in args.secrets:
        try:
            docs.append(ctx.runtime.inspect_secret(ctx.runtime.lookup_secret(name)))
        except NoSuchSecretError as exc:
            error_line(f"inspecting secret: {exc}")
            code = 125
    if args.pretty and template is None:
        if docs:
            ctx.out("\n\n".join(_pretty(doc) for doc in docs))
    elif template is not None:
        for doc in docs:
            ctx.out(template.render({**doc, "CreatedAt": _go_time(doc["CreatedAt"]),
                                     "UpdatedAt": _go_time(doc["UpdatedAt"])}))
    else:
        ctx.out(json.dumps(docs, indent=4))
    return code


def _add_inspect(group: Any) -> None:
    p = group.add_parser("inspect", help=summary("inspect", "secret"))
    p.add_argument("-f", "--format", default="", help="json, or a Go template")
    p.add_argument("--pretty", action="store_true", help="human-readable text")
    p.add_argument("secrets", nargs="+", metavar="SECRET")
    p.set_defaults(func=cmd_inspect)


# -- removing ------------------------------------------------------------------------------


def cmd_rm(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod secret rm SECRET... | -a``: print each removed secret's id; a missing
    one is an error line (exit 125), the rest still removed.  Containers made with a
    secret keep their copy."""
    if args.all == bool(args.secrets):
        raise InvalidArgError("`secret rm` requires one argument, or the --all flag")
    names = [s.id for s in ctx.runtime.secrets()] if args.all else args.secrets
    code = 0
    for name in names:
        try:
            secret = ctx.runtime.remove_secret(name)
        except PypodError as exc:
            error_line(str(exc))
            code = 125
            continue
        ctx.out(secret.id)
    return code


def _add_rm(group: Any) -> None:
    p = group.add_parser("rm", help=summary("rm", "secret"))
    p.add_argument("-a", "--all", action="store_true", help="every secret")
    p.add_argument("secrets", nargs="*", metavar="SECRET")
    p.set_defaults(func=cmd_rm)


# -- registration ----------------------------------------------------------------------


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod secret`` commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`); each command's parser is made by the
    ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "secrets", sub, groups, want, group="secret")
