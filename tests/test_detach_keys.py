"""The detach keys: podman's notation, and finding them in what a user types."""

from __future__ import annotations

import pytest

from pypod_core.engine.detach_keys import DEFAULT_DETACH_KEYS, DetachScanner, parse_detach_keys
from pypod_core.errors import InvalidArgError


@pytest.mark.parametrize(("keys", "expected"), [
    (DEFAULT_DETACH_KEYS, b"\x10\x11"),
    ("", b""),
    ("ctrl-a,x", b"\x01x"),
    ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x00\x1b\x1c\x1d\x1e\x1f"),
    ("CTRL-Z", b"\x1a"),
    ("a,b,c", b"abc"),
])
def test_podman_notation(keys: str, expected: bytes) -> None:
    assert parse_detach_keys(keys) == expected


@pytest.mark.parametrize("keys", ["ctrl-1", "ctrl-", "ctrl-ab", "ab", "a,,b", "é", ","])
def test_bad_keys_are_named(keys: str) -> None:
    with pytest.raises(InvalidArgError, match="invalid detach keys"):
        parse_detach_keys(keys)


def test_not_a_string() -> None:
    with pytest.raises(InvalidArgError):
        parse_detach_keys(b"\x10")  # type: ignore[arg-type]


def test_keys_in_one_read_or_across_reads() -> None:
    assert DetachScanner(b"\x10\x11").feed(b"ls\r\x10\x11rest") == (b"ls\r", True)
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"ab\x10") == (b"ab", False)  # held back: it may be the keys
    assert scanner.feed(b"\x11") == (b"", True)


def test_a_broken_off_sequence_is_sent_on() -> None:
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"\x10") == (b"", False)
    assert scanner.feed(b"x") == (b"\x10x", False)
    assert scanner.feed(b"\x10\x10\x11") == (b"\x10", True)  # restarts on its first key


def test_what_is_held_when_input_ends() -> None:
    scanner = DetachScanner(b"\x01\x02\x03")
    assert scanner.feed(b"z\x01\x02") == (b"z", False)
    assert scanner.pending() == b"\x01\x02"
    assert scanner.pending() == b""


def test_no_keys_pass_everything() -> None:
    assert DetachScanner(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
