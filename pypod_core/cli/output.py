"""What the object commands share: acting on each named object, tables, error lines."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def error_line(message: str) -> None:
    """One ``Error: ...`` line on stderr, for an object a command could not act on."""
    print(f"Error: {message}", file=sys.stderr)


def for_each(names: Iterable[str], lookup: Callable[[str], Any], act: Callable[[Any], Any],
             show: Callable[[str, Any, Any], str], out: Callable[[str], None]) -> int:
    """Look up and ``act`` on each name, printing ``show(name, object, result)``; an error
    is reported and the rest still tried, as podman does.  The exit code: 0, or 125."""
    from pypod_core.errors import PypodError

    code = 0
    for name in names:
        try:
            obj = lookup(name)
            result = act(obj)
        except PypodError as exc:
            error_line(str(exc))
            code = 125
            continue
        out(show(name, obj, result))
    return code


def table(rows: Sequence[Sequence[str]], out: Callable[[str], None]) -> None:
    """Print rows (the first a header) in columns two spaces apart, as podman does."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
