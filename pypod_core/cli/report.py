"""podman's report output (its ``report`` package): ``--format`` templates, ``table``
templates with a header row, and columns laid out as Go's tabwriter lays them out.

podman's rules, as 4.3.1 behaves:

- ``--format 'table {{.A}} {{.B}}'``: the word ``table `` asks for a header row and
  columns; every space after it becomes a column break (a tab), even one inside a
  string literal, as podman's;
- the header row is the same template rendered with each field's header (``.ID`` is
  ``IMAGE ID``); a field without one shows Go's ``<no value>``;
- a template without ``table`` prints each row as rendered (a ``\\t`` stays a tab);
- columns: Go's ``tabwriter.NewWriter(out, 12, 2, 2, ' ', 0)``: a column is as wide as
  its widest cell plus 2, and at least 12; a line's last cell is not padded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: Go tabwriter settings podman uses: minimum cell width and the padding after a cell.
MIN_WIDTH = 12
PADDING = 2
#: What Go prints for a map key that is missing (a field with no header).
NO_VALUE = "<no value>"


class _Headers(dict):
    """Field -> header text; any other field renders as ``<no value>``, as a Go map does
    for a missing key (the template code asks ``name in value`` first)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return NO_VALUE


class Report:
    """A parsed ``--format`` (or a command's default table) and how to print rows."""

    def __init__(self, fmt: str, headers: Mapping[str, str]):
        from pypod_core.cli.gotemplate import parse  # lazy: only --format TEMPLATE (~1.5 ms)

        self.is_table = fmt.startswith("table ")
        source = fmt[len("table "):].replace(" ", "\t") if self.is_table else fmt
        self.template = parse(source)
        self.headers = _Headers(headers)

    def lines(self, rows: Iterable[Any], heading: bool = True) -> list[str]:
        """The output lines for ``rows`` (each a dict the template reads)."""
        rendered = [self.template.render(row) for row in rows]
        if not self.is_table:
            return rendered
        if heading:
            rendered.insert(0, self.template.render(self.headers))
        return tabwriter("\n".join(rendered).split("\n")) if rendered else []

    def print(self, rows: Iterable[Any], out: Callable[[str], None],
              heading: bool = True) -> None:
        """Print the lines for ``rows`` with ``out``."""
        for line in self.lines(rows, heading):
            out(line)


class FieldTable:
    """A command's default table: the lines ``Report("table {{.A}}\\t{{.B}}...")``
    prints for string fields, without the template engine (whose import and rendering
    ``pypod images`` would pay on every call)."""

    def __init__(self, fields: Sequence[str], headers: Mapping[str, str]):
        self.fields = list(fields)
        self.headers = _Headers(headers)

    def print(self, rows: Iterable[Mapping[str, Any]], out: Callable[[str], None],
              heading: bool = True) -> None:
        """Print the table of ``rows`` with ``out``."""
        lines = ["\t".join(row[f] for f in self.fields) for row in rows]
        if heading:
            lines.insert(0, "\t".join(self.headers[f] for f in self.fields))
        for line in tabwriter(lines):
            out(line)


def tabwriter(lines: Sequence[str]) -> list[str]:
    """``lines`` with their tab-separated cells aligned as Go's tabwriter (podman's
    settings) aligns them: a column block is a run of consecutive lines that have a
    tab-terminated cell in that column; each block is as wide as its widest cell plus
    PADDING, at least MIN_WIDTH."""
    cells = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[] for _ in cells]  # each line's column widths
    _format(cells, widths, 0, len(cells), 0)
    out = []
    for line, line_widths in zip(cells, widths, strict=True):
        parts = [cell.ljust(line_widths[j]) if j < len(line_widths) else cell
                 for j, cell in enumerate(line)]
        out.append("".join(parts))
    return out


def _format(cells: list[list[str]], widths: list[list[int]], line0: int, line1: int,
            column: int) -> None:
    """Go's ``Writer.format``: find the blocks of ``column`` between lines ``line0`` and
    ``line1``, give their lines that column's width, and recurse to the next column."""
    this = line0
    while this < line1:
        if column >= len(cells[this]) - 1:
            this += 1
            continue
        start, width = this, MIN_WIDTH
        while this < line1 and column < len(cells[this]) - 1:
            width = max(width, len(cells[this][column]) + PADDING)
            this += 1
        for i in range(start, this):
            widths[i].append(width)
        _format(cells, widths, start, this, column + 1)
