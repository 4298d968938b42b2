"""The output of several containers at once (``podman logs A B``): their lines merged
in time order, or, when following, as each comes; ``until`` ends both."""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.logs import LogLine

def _until(lines: Iterator[LogLine], until: float | None) -> Iterator[LogLine]:
    for line in lines:
        if until is not None and line.time > until:
            return
        yield line


def stamp_text(line: LogLine) -> str:
    """The line's time as podman's ``--timestamps`` writes it
    (``2006-01-02T15:04:05.000000000Z07:00``: always nine decimals, Z for UTC)."""
    text = line.stamp.decode(errors="replace")
    head, dot, rest = text.partition(".")
    digits = rest
    zone = ""
    for i, ch in enumerate(rest):
        if not ch.isdigit():
            digits, zone = rest[:i], rest[i:]
            break
    if not dot:
        for sign in ("+", "-", "Z"):
            if sign in head[10:]:
                at = head.index(sign, 10)
                head, zone = head[:at], head[at:]
                break
    zone = "Z" if zone in ("", "Z", "+00:00") else zone
    return f"{head}.{(digits + '000000000')[:9]}{zone}"


def _timed(ctr: Container, index: int, lines: Iterator[LogLine]
           ) -> Iterator[tuple[float, int, LogLine, Container]]:
    for line in lines:
        yield line.time, index, line, ctr


def container_logs(ctrs: Sequence[Container], *, follow: bool = False,
                   tail: int | None = None, since: float | None = None,
                   until: float | None = None) -> Iterator[tuple[Container, LogLine]]:
    """Each line of ``ctrs``' logs with its container: merged by time, or with
    ``follow`` as they come, until every container stopped (or ``until`` passed)."""
    if not follow:
        streams = [_timed(c, i, _until(c.logs(tail=tail, since=since), until))
                   for i, c in enumerate(ctrs)]
        for _, _, line, ctr in heapq.merge(*streams):
            yield ctr, line
        return
    yield from _followed(ctrs, tail, since, until)


def _followed(ctrs: Sequence[Container], tail: int | None, since: float | None,
              until: float | None) -> Iterator[tuple[Container, LogLine]]:
    """Every log read in turn, a round every FOLLOW_INTERVAL, in this one thread (the
    state's connection is this thread's), until its container stopped."""
    # lazy: only logs -f (~1.2 ms)
    from pypod_core.engine.logs import FOLLOW_INTERVAL, LogReader, tail_offset

    readers = []
    for ctr in ctrs:
        reader = LogReader(ctr.log_path)
        if tail is not None and tail >= 0:
            reader.offset = tail_offset(ctr.log_path, tail)
        readers.append((ctr, reader))
    while readers:
        for ctr, reader in list(readers):
            running = ctr.still_running()
            for line in reader.lines():
                if since is not None and line.time < since:
                    continue
                if until is not None and line.time > until:
                    running = False
                    break
                yield ctr, line
            if not running:
                readers.remove((ctr, reader))
        if readers and until is not None and time.time() > until:
            return
        if readers:
            time.sleep(FOLLOW_INTERVAL)
