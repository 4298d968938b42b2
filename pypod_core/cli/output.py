"""What the object commands share: acting on each named object, tables, error lines."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pypod_core.errors import PypodError


def error_line(message: str) -> None:
    """One ``Error: ...`` line on stderr, for an object a command could not act on."""
    print(f"Error: {message}", file=sys.stderr)


def for_each(names: Iterable[str], lookup: Callable[[str], Any], act: Callable[[Any], Any],
             show: Callable[[str, Any, Any], str | None], out: Callable[[str], None], *,
             ignore: tuple[type[Exception], ...] = (),
             exit_code: Callable[[Exception], int] | None = None) -> int:
    """Look up and ``act`` on each name, printing ``show(name, object, result)``; an error
    is reported and the rest still tried, as podman does.  An error of a type in
    ``ignore`` is skipped silently (``rm --ignore``).  The exit code: 0, or the lowest
    ``exit_code(error)`` of the errors (125 for each by default)."""
    code = 0
    for name in names:
        try:
            obj = lookup(name)
            result = act(obj)
        except ignore:
            continue
        except PypodError as exc:
            error_line(str(exc))
            failed = exit_code(exc) if exit_code else 125
            code = failed if code == 0 else min(code, failed)
            continue
        shown = show(name, obj, result)
        if shown is not None:
            out(shown)
    return code


def parse_format(fmt: str, *plain: str) -> Any:
    """The parsed Go template of ``--format`` (a gotemplate.Template), or None for no
    format or one of the ``plain`` formats the caller prints itself (``json``).  Parsed
    before the command does any work, as Go's: a malformed template is an error even
    when there is nothing to show."""
    if not fmt or fmt.strip() in plain:
        return None
    from pypod_core.cli.gotemplate import parse  # lazy: only --format TEMPLATE (~1.5 ms)

    return parse(fmt)


def table(rows: Sequence[Sequence[str]], out: Callable[[str], None]) -> None:
    """Print rows (the first a header, unless the caller dropped it: ``--noheading``)
    in columns two spaces apart, as podman does; nothing for no rows."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
