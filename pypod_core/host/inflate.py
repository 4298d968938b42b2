"""A gzip stream decompressed as it is read, on :mod:`zlib` alone, in big pieces.

It replaces :class:`gzip.GzipFile` on the layer paths: on Python 3.11 GzipFile reads
its compressed stream 8 KiB at a time, so a 20 MB layer costs some 2,500 trips through
every reader stacked below it (the registry's response, the digest check, the copy into
the blob), which cost more than the decompression itself.  Here the compressed stream
is read 256 KiB at a time and zlib checks each member's CRC and length itself
(``wbits=31``).  As GzipFile, it reads concatenated members, and zero bytes padding
the end; a stream cut short is an :class:`EOFError`, bad data a :class:`zlib.error`.
"""

from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO, Final

#: Compressed bytes read from the underlying stream at a time.  Not more: zlib hands
#: back the input a limited output left over as a new bytes object (a copy) each call.
READ_SIZE: Final = 256 << 10
#: The pieces a read of no given size is made of.
_DEFAULT_OUT: Final = 1 << 20
#: A gzip wrapper (no zlib header, no raw deflate), with its trailer checked.
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


class GzipReader(io.RawIOBase):
    """The uncompressed bytes of the gzip stream ``raw``; reads ``raw`` to its end
    (a reader below that checks a digest at the end gets to), and closes it with
    itself."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._input = b""
        #: Whether the current member has begun (an empty stream is empty, not cut).
        self._in_member = False
        self._ended = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` uncompressed bytes (all the rest for -1); b"" at the end
        of the stream."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_DEFAULT_OUT), b""))
        if size == 0:
            return b""
        while not self._ended:
            if self._inflater.eof and not self._next_member():
                continue
            if not self._input:
                self._input = self._raw.read(READ_SIZE)
                if not self._input:
                    return self._at_end(size)
            out = self._inflater.decompress(self._input, size)
            self._in_member = True
            # Input zlib left for the next call: the rest of this member (output was
            # limited), or what follows the member's end.
            self._input = (self._inflater.unused_data if self._inflater.eof
                           else self._inflater.unconsumed_tail)
            if out:
                return out
        return b""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _next_member(self) -> bool:
        """After a member's end: start the next on what follows, past any zero
        padding; False while only padding (or nothing) was read."""
        rest = self._input.lstrip(b"\0")
        if not rest:
            self._input = b""
            more = self._raw.read(READ_SIZE)
            if not more:
                self._ended = True
            self._input = more
            return False
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._input = rest
        self._in_member = False
        return True

    def _at_end(self, limit: int) -> bytes:
        """The compressed stream ended: what zlib still holds, or the end (an
        EOFError if a member was cut short)."""
        out = self._inflater.decompress(b"", limit) if self._in_member else b""
        if out:
            return out
        if self._in_member and not self._inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was "
                           "reached")
        self._ended = True
        return b""

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
