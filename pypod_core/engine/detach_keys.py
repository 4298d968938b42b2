"""Detach keys: the key sequence that leaves an attached container running
(``--detach-keys``, podman's default ``ctrl-p,ctrl-q``).

The sequence is written as podman's: comma-separated keys, each a single character or
``ctrl-X`` with X one of ``a``-``z``, ``@``, ``[``, ``\\``, ``]``, ``^``, ``_``; the empty
string turns detaching off.  :class:`DetachScanner` watches what the user types: the
bytes of a sequence being typed are held back, sent on if the sequence breaks off, and
swallowed if it completes.
"""

from __future__ import annotations

from pypod_core.errors import InvalidArgError

#: podman's default (containers.conf ``detach_keys``).
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
#: The control characters that are no letter: ctrl-@ is NUL, ctrl-[ is ESC...
_CTRL_SYMBOLS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(keys: str) -> bytes:
    """The bytes of a detach-key sequence; b"" for "" (detaching off).  A malformed one
    is an InvalidArgError naming the key."""
    if not isinstance(keys, str):
        raise InvalidArgError(f"detach keys must be a string, not {type(keys).__name__}")
    if keys == "":
        return b""
    codes = bytearray()
    for key in keys.split(","):
        codes.append(_key_code(key, keys))
    return bytes(codes)


def _key_code(key: str, keys: str) -> int:
    if len(key) == 1 and key.isascii():
        return ord(key)
    name = key.lower()
    if name.startswith("ctrl-") and len(name) == 6:
        char = name[5]
        if "a" <= char <= "z":
            return ord(char) - ord("a") + 1
        if char in _CTRL_SYMBOLS:
            return _CTRL_SYMBOLS[char]
    raise InvalidArgError(f"invalid detach keys {keys!r}: unknown key {key!r} (a single "
                          "character, or ctrl- and one of a-z @ [ \\ ] ^ _)")


class DetachScanner:
    """Finds the detach sequence in the bytes a user types, read after read."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self._matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(the bytes to send on, whether the sequence completed).  After a completed
        sequence the rest of ``data`` is dropped: the user has left."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._matched]:
                self._matched += 1
                if self._matched == len(self.keys):
                    self._matched = 0
                    return bytes(out), True
                continue
            if self._matched:  # the sequence broke off: what was held back goes on
                out += self.keys[:self._matched]
                self._matched = 0
                if byte == self.keys[0]:
                    self._matched = 1
                    continue
            out.append(byte)
        return bytes(out), False

    def pending(self) -> bytes:
        """The bytes held back (a sequence begun when the input ended)."""
        held, self._matched = self.keys[:self._matched], 0
        return held
