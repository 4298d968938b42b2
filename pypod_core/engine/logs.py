"""Reading conmon's k8s-file logs (what ``pypod logs`` shows), in constant memory.

Each line of the file is a record ``TIMESTAMP STREAM TAG CONTENT``: an RFC 3339 time
with nanoseconds, ``stdout`` or ``stderr``, ``F`` for the end of a line or ``P`` for a
piece of one (a line longer than conmon's 8 KiB buffer, or output not ended by a
newline: ``printf abc`` leaves one ``P`` record and nothing after it), then the text.

Choices, and why:

- **Streamed**: the file is read in :data:`CHUNK` blocks and lines are yielded as they
  are parsed, so a 200 MB log costs the same memory as a 2 KB one.
- **Partial records joined, up to a bound**: the ``P`` records of one line become one
  :class:`LogLine` ending in a newline, as the container wrote it; but a line is cut
  into pieces of at most :data:`MAX_LINE` bytes (a container that never writes a
  newline must not make pypod hold all its output), and pieces still pending at the
  end of what is written are given as they stand, without a newline (podman prints
  ``abc`` too).
- **``tail`` reads backwards** from the end in blocks, counting lines as podman does
  (a trailing partial line counts as one), then streams forward from there.
- **Rotation**: conmon truncates the log when it reaches ``--log-size-max``; a reader
  that finds the file shorter than where it stopped, or replaced, starts it again.
"""

from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO, Final

import attrs

from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: How often ``follow`` checks for new output and whether the container still runs.
FOLLOW_INTERVAL = 0.1
#: How much of the file is read at a time, forwards or backwards.
CHUNK: Final = 64 * 1024
#: The most bytes of one line held at once: a longer line is given in pieces.
MAX_LINE: Final = 1024 * 1024
_STREAMS: Final = {b"stdout": "stdout", b"stderr": "stderr"}
#: podman's sizes (go-units' FromHumanSize): decimal units, "10mb" = 10,000,000 bytes.
_SIZE: Final = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?", re.IGNORECASE)
_UNITS: Final = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
#: Enough of a record's start to hold its timestamp, stream and tag.
_HEADER: Final = 80


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


def parse_size(text: str, what: str) -> int:
    """Bytes from a size as podman writes them (``10mb``, ``512k``, ``1.5g``, ``100``);
    InvalidArgError naming ``what`` otherwise."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise InvalidArgError(f"{what}: invalid size {text!r} (expected a number with an "
                              f"optional unit: b, k, m, g, as 10mb)")
    return int(float(match[1]) * _UNITS[(match[2] or "").lower()])


def human_size(size: float) -> str:
    """go-units' ``HumanSize``, as podman's inspect, ``system df`` and ``image tree``
    show sizes: decimal units, 4 significant digits (``10MB``, ``1.863kB``, ``0B``)."""
    value = float(max(size, 0))
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.4g}{unit}"  # go-units HumanSize: 4 digits
        value /= 1000
    raise AssertionError("unreachable")


def check_log_options(log_path: object, log_size_max: object) -> None:
    """The log fields of a new container: an absolute path in an existing directory
    (or empty), a whole number of bytes.  TypeError or InvalidArgError."""
    if not isinstance(log_path, str):
        raise TypeError(f"log_path must be a str, not {type(log_path).__name__}")
    if type(log_size_max) is not int:  # bool is an int, not a size
        raise TypeError(f"log_size_max must be an int, not {type(log_size_max).__name__}")
    if log_path and not os.path.isabs(log_path):
        raise InvalidArgError(f"log path {log_path!r}: must be an absolute path")
    if log_path and not os.path.isdir(os.path.dirname(log_path)):
        raise InvalidArgError(f"log path {log_path}: directory {os.path.dirname(log_path)} "
                              f"does not exist")


def log_size_max(ctr: Container) -> int:
    """The container's log size limit in bytes: its own (``--log-opt max-size``), else
    the runtime's ``max_log_size``; 0 or less for none."""
    own = ctr.config.log_size_max
    return own if own > 0 else ctr.runtime.config.max_log_size


@attrs.frozen
class LogLine:
    """One line of output: ``stream`` is ``stdout`` or ``stderr``; ``data`` ends with a
    newline, unless it is a piece of a line (see :attr:`partial`)."""

    stream: str
    data: bytes
    #: conmon's timestamp of the line's first record, as written (parsed on demand:
    #: most readers never look at it).
    stamp: bytes = attrs.field(default=b"", repr=False)

    @property
    def time(self) -> float:
        """When the line (its first piece) was written, as a Unix time; 0 if unknown."""
        try:
            return parse_time(self.stamp.decode())
        except ValueError:
            return 0.0

    @property
    def partial(self) -> bool:
        """True for a piece of a line: the container had not ended it (yet) with a
        newline, or it is longer than :data:`MAX_LINE`."""
        return not self.data.endswith(b"\n")


class LogReader:
    """Reads a k8s-file log forward from ``offset``, a chunk at a time; each call of
    :meth:`lines` goes on where the previous one stopped."""

    def __init__(self, path: str, offset: int = 0):
        self.path = path
        self.offset = offset
        self._rest = b""  # the start of a record whose newline is not written yet
        self._pieces: list[bytes] = []  # the P records of the line being joined
        self._pending = 0
        self._stream = b""
        self._stamp = b""
        self._file_id: tuple[int, int] | None = None

    def lines(self) -> Iterator[LogLine]:
        """The lines written since the last call; at the end, the pieces of a line not
        ended yet (a later call gives the rest)."""
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return
        with f:
            self._check_rotation(f)
            f.seek(self.offset)
            while chunk := f.read(CHUNK):
                self.offset += len(chunk)
                yield from self._feed(chunk)
        yield from self._flush()

    def _check_rotation(self, f: BinaryIO) -> None:
        """Start again from the top of a file that conmon truncated or replaced."""
        st = os.fstat(f.fileno())
        file_id = (st.st_dev, st.st_ino)
        if (self._file_id is not None and file_id != self._file_id) or st.st_size < self.offset:
            self.offset, self._rest = 0, b""
        self._file_id = file_id

    def _feed(self, chunk: bytes) -> Iterator[LogLine]:
        data = self._rest + chunk if self._rest else chunk
        end = data.rfind(b"\n")
        if end < 0:
            # No record ends in it; conmon's never exceed its buffer, garbage might.
            self._rest = data if len(data) <= MAX_LINE else b""
            return
        self._rest = data[end + 1:]
        for raw in data[:end].split(b"\n"):
            parts = raw.split(b" ", 3)
            if len(parts) < 3:
                continue  # not a record (an empty or torn line)
            if parts[2] == b"F" and not self._pieces:  # the common case, kept short
                content = parts[3] + b"\n" if len(parts) == 4 else b"\n"
                yield LogLine(_stream_name(parts[1]), content, parts[0])
            else:
                yield from self._record(parts)

    def _record(self, parts: list[bytes]) -> Iterator[LogLine]:
        """One record, as split by :meth:`_feed`, joined with the pieces before it."""
        stamp, stream, tag = parts[0], parts[1], parts[2]
        content = parts[3] if len(parts) == 4 else b""
        if self._pieces and stream != self._stream:
            yield from self._flush()  # the other stream's line is not this one's end
        if not self._pieces:
            self._stream, self._stamp = stream, stamp
        if tag == b"P":
            self._pieces.append(content)
            self._pending += len(content)
            if self._pending >= MAX_LINE:
                yield from self._flush()
            return
        self._pieces.append(content)
        self._pieces.append(b"\n")
        yield from self._flush()

    def _flush(self) -> Iterator[LogLine]:
        """The line (or piece of one) joined so far, if any."""
        if not self._pieces:
            return
        data = b"".join(self._pieces)
        self._pieces, self._pending = [], 0
        yield LogLine(_stream_name(self._stream), data, self._stamp)


def _stream_name(raw: bytes) -> str:
    name = _STREAMS.get(raw)
    return name if name is not None else raw.decode(errors="replace")


def tail_offset(path: str, count: int) -> int:
    """Where the last ``count`` lines of the log start (0 if it has fewer), found by
    reading backwards from the end; a trailing partial line counts as one, as podman's."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        # The start of the record after the one looked at: at first, the end of the
        # last whole record (a writer may be midway through the next).
        after = _complete_end(f, os.fstat(f.fileno()).st_size)
        if count <= 0:
            return after
        seen = False  # whether the line after the record looked at has any record
        lines = 0
        for start, header in _records_backwards(f, after):
            parts = header.split(b" ", 3)
            if len(parts) < 3:
                continue  # not a record: the forward reader skips it too
            if parts[2] != b"P" and seen:
                lines += 1
                if lines == count:
                    return after
            seen = True
            after = start
        return 0


def _complete_end(f: BinaryIO, size: int) -> int:
    """The end of the last record whose newline is written (a writer may be midway)."""
    pos = size
    while pos > 0:
        start = max(0, pos - CHUNK)
        f.seek(start)
        block = f.read(pos - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        pos = start
    return 0


def _records_backwards(f: BinaryIO, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, first bytes) of each record before ``end``, the last one first; a
    block at a time, keeping only the first bytes of the block read before."""
    right = b""  # the first bytes after the block being scanned
    pos = end
    while pos > 0:
        start = max(0, pos - CHUNK)
        f.seek(start)
        block = f.read(pos - start)
        # Newlines inside the block (the one ending at ``end`` opens no record).
        search = len(block) - 1 if pos == end else len(block)
        while (newline := block.rfind(b"\n", 0, search)) >= 0:
            yield start + newline + 1, (block[newline + 1:newline + 1 + _HEADER] + right)[:_HEADER]
            search = newline
        if start == 0:
            yield 0, (block[:_HEADER] + right)[:_HEADER]
        right = (block[:_HEADER] + right)[:_HEADER]
        pos = start


def _since(lines: Iterable[LogLine], since: float | None) -> Iterator[LogLine]:
    if since is None:
        yield from lines
        return
    for line in lines:
        if line.time >= since:
            yield line


def read_log(path: str, tail: int | None = None, since: float | None = None,
             reader: LogReader | None = None) -> Iterator[LogLine]:
    """The log's lines (written at or after ``since``), or its last ``tail``, streamed
    as they are read."""
    if reader is None:
        reader = LogReader(path)
        if tail is not None and tail >= 0:
            reader.offset = tail_offset(path, tail)
    # Timestamps only grow: the last ``tail`` lines written after ``since`` are those
    # of the last ``tail`` lines that were.
    return _since(reader.lines(), since)


def follow_log(path: str, still_running: Callable[[], bool], tail: int | None = None,
               since: float | None = None) -> Iterator[LogLine]:
    """The log's lines (as :func:`read_log`), then new ones as they come, until
    ``still_running`` says the container stopped."""
    reader = LogReader(path)
    if tail is not None and tail >= 0:
        reader.offset = tail_offset(path, tail)
    yield from read_log(path, since=since, reader=reader)
    while True:
        running = still_running()
        yield from _since(reader.lines(), since)
        if not running:
            return
        time.sleep(FOLLOW_INTERVAL)
