"""``pypod events``: the runtime's events log, as ``podman events`` shows it.

A line per event in podman's layout (``TIME TYPE STATUS ID (image=..., name=...)``),
its JSON (``--format json``) or a Go template; ``--since``/``--until`` and the
``--filter``s choose events; with ``--stream`` (the default) new events are shown as
they come, until ``--until`` or an interrupt.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.output import parse_format
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted


def _moment(text: str, flag: str) -> float | None:
    if not text:
        return None
    from pypod_core.cli.options import parse_since  # lazy: only --since/--until (~0.4 ms)

    try:
        return parse_since(text)
    except InvalidArgError as exc:
        raise InvalidArgError(f"{flag}: {exc}") from None


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise InvalidArgError(f'invalid boolean "{text}"')


def cmd_events(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod events [--since T] [--until T] [--filter K=V]... [--format F]
    [--stream=false] [--no-trunc=false]``."""
    template = parse_format(args.format, "json")
    if ctx.runtime.config.events_logger == "none":
        raise InvalidArgError('cannot read events with the "none" events logger')
    events = ctx.runtime.events(since=_moment(args.since, "--since"),
                                until=_moment(args.until, "--until"),
                                stream=args.stream, filters=args.filter)
    for event in events:
        if args.format.strip() == "json":
            line = json.dumps(event.to_json(), separators=(",", ":"))
        elif template is not None:
            line = template.render(event.template_view())
        else:
            line = event.human(truncate=not args.no_trunc)
        ctx.out(line)
        if args.stream:
            sys.stdout.flush()  # as they come
    return 0


def _add_events(sub: Any) -> None:
    p = sub.add_parser("events", help=summary("events"))
    p.add_argument("-f", "--filter", action="append", default=[], metavar="K=V",
                   help="container=, event=, image=, label=, pod=, type=, volume=")
    p.add_argument("--format", default="", help="json, or a Go template")
    p.add_argument("--since", default="", help="events since this time or duration ago")
    p.add_argument("--until", default="", help="events until this time or duration ago")
    p.add_argument("--stream", type=_bool, default=True, nargs="?", const=True,
                   metavar="BOOL", help="follow new events (the default); false: exit")
    p.add_argument("--no-trunc", type=_bool, default=True, nargs="?", const=True,
                   metavar="BOOL", help="full ids (the default)")
    p.set_defaults(func=cmd_events)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add ``pypod events`` if the command line needs it."""
    add_parsers(globals(), "events", sub, groups, want, group="system")
