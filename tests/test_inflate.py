"""The gzip stream the layer paths decompress with (pypod_core.host.inflate): the same
bytes as the standard library's gzip for every way a gzip file can be laid out, and
the same refusals."""

from __future__ import annotations

import gzip
import io
import os
import zlib

import pytest

from pypod_core.errors import ImageFormatError
from pypod_core.host.inflate import READ_SIZE, GzipReader
from pypod_core.plugin.image_transport import decompress


def _read_all(data: bytes, size: int) -> bytes:
    reader = GzipReader(io.BytesIO(data))
    pieces = []
    while piece := reader.read(size):
        assert len(piece) <= size
        pieces.append(piece)
    return b"".join(pieces)


TEXT = b"a layer's text, compressed well " * 40000  # ~1.3 MB out of ~10 KB
NOISE = os.urandom(3 * READ_SIZE + 17)  # stored blocks, several reads of input


@pytest.mark.parametrize("size", [511, 64 << 10, 1 << 20])
@pytest.mark.parametrize("layout", ["one", "members", "padded", "empty member"])
def test_the_bytes_are_those_gzip_gives(layout, size):
    members = {"one": [NOISE], "members": [TEXT, NOISE, TEXT],
               "padded": [TEXT], "empty member": [b"", TEXT]}[layout]
    data = b"".join(gzip.compress(m, compresslevel=1 + i % 9) for i, m in enumerate(members))
    if layout == "padded":
        data += bytes(READ_SIZE + 100)  # zeros after the last member, over two reads
    assert _read_all(data, size) == gzip.decompress(data)


def test_one_byte_at_a_time():
    data = gzip.compress(b"tiny") + gzip.compress(b" members") + bytes(3)
    assert _read_all(data, 1) == b"tiny members"


def test_read_without_a_size_returns_everything_and_an_empty_stream_is_empty():
    data = gzip.compress(TEXT)
    assert GzipReader(io.BytesIO(data)).read() == TEXT
    assert GzipReader(io.BytesIO(b"")).read(100) == b""
    assert GzipReader(io.BytesIO(data)).read(0) == b""


def test_a_large_ratio_stays_within_the_size_asked_for():
    data = gzip.compress(bytes(50 << 20))  # 50 MB of zeros in ~50 KB
    reader = GzipReader(io.BytesIO(data))
    assert len(reader.read(1 << 20)) == 1 << 20


@pytest.mark.parametrize("cut", [3, 15, -9, -1])
def test_a_stream_cut_short_is_an_error(cut):
    data = gzip.compress(NOISE)
    with pytest.raises(EOFError):
        _read_all(data[:cut], 1 << 20)


def test_a_wrong_checksum_and_junk_after_a_member_are_errors():
    data = bytearray(gzip.compress(TEXT))
    data[-6] ^= 1  # the CRC
    with pytest.raises(zlib.error, match="incorrect data check"):
        _read_all(bytes(data), 1 << 20)
    with pytest.raises(zlib.error, match="incorrect header check"):
        _read_all(gzip.compress(TEXT) + b"junk", 1 << 20)


def test_decompress_names_the_layer_in_its_error_and_reads_the_stream_to_its_end():
    raw = io.BytesIO(gzip.compress(TEXT)[:-3])
    with pytest.raises(ImageFormatError, match="layer sha256:ab: corrupt gzip data"):
        decompress(raw, "gzip", what="layer sha256:ab").read()
    raw = io.BytesIO(gzip.compress(TEXT))
    with decompress(raw, "gzip") as stream:
        assert stream.read() == TEXT
        assert raw.tell() == len(raw.getvalue())
    assert raw.closed
