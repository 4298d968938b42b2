"""Reading conmon's k8s-file logs (what ``pypod logs`` shows).

Each line of the file is ``TIMESTAMP STREAM TAG CONTENT``: an RFC 3339 time with
nanoseconds, ``stdout`` or ``stderr``, ``F`` for a full line or ``P`` for a partial one
(a line longer than conmon's buffer, or output not ended by a newline), then the text.
"""

from __future__ import annotations

import datetime
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import attrs

#: How often ``follow`` checks for new output and whether the container still runs.
FOLLOW_INTERVAL = 0.1


@attrs.frozen
class LogLine:
    """One line of output: ``stream`` is ``stdout`` or ``stderr``; ``data`` ends with a
    newline unless the container's output did not."""

    stream: str
    data: bytes
    time: float


def parse_time(text: str) -> float:
    """A Unix time from conmon's RFC 3339 timestamp (nanoseconds cut to micro)."""
    date, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[:min(digits, 6)] + rest[digits:]
        text = f"{date}.{rest}"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text).timestamp()


class LogReader:
    """Reads a k8s-file log incrementally, joining partial lines."""

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self._rest = b""
        self._partial: list[bytes] = []

    def read_new(self) -> list[LogLine]:
        """The lines completed since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self._rest + chunk
        raw_lines = data.split(b"\n")
        self._rest = raw_lines.pop()
        result = []
        for raw in raw_lines:
            line = self._parse(raw)
            if line is not None:
                result.append(line)
        return result

    def _parse(self, raw: bytes) -> LogLine | None:
        parts = raw.split(b" ", 3)
        if len(parts) < 3:
            return None
        stamp, stream, tag = parts[0], parts[1], parts[2]
        content = parts[3] if len(parts) == 4 else b""
        if tag == b"P":
            self._partial.append(content)
            return None
        data = b"".join(self._partial) + content + b"\n"
        self._partial = []
        try:
            when = parse_time(stamp.decode())
        except ValueError:
            when = 0.0
        return LogLine(stream.decode(errors="replace"), data, when)


def _filter(lines: Iterable[LogLine], since: float | None) -> list[LogLine]:
    return [line for line in lines if since is None or line.time >= since]


def read_log(path: str, tail: int | None = None, since: float | None = None,
             reader: LogReader | None = None) -> list[LogLine]:
    """Every line of the log (written at or after ``since``), or the last ``tail``."""
    reader = reader or LogReader(path)
    lines = _filter(reader.read_new(), since)
    if tail is not None and tail >= 0:
        lines = list(deque(lines, maxlen=tail)) if tail else []
    return lines


def follow_log(path: str, still_running: Callable[[], bool], tail: int | None = None,
               since: float | None = None) -> Iterator[LogLine]:
    """The log's lines (as :func:`read_log`), then new ones as they come, until
    ``still_running`` says the container stopped."""
    reader = LogReader(path)
    yield from read_log(path, tail=tail, since=since, reader=reader)
    while True:
        running = still_running()
        yield from _filter(reader.read_new(), since)
        if not running:
            return
        time.sleep(FOLLOW_INTERVAL)

