"""Which extended attributes travel with a file when pypod copies it (``cp``) or writes
it into a layer (``commit``), and how they are read.

The set is podman's: ``security.capability`` (file capabilities), ``security.ima`` and
``user.*``.  Others belong to where the file is, not to the file: SELinux labels are
the host's, and overlayfs' own ``trusted.overlay.*`` / ``user.overlay.*`` describe a
layer's stacking.  In a tar each one is a pax record ``SCHILY.xattr.NAME`` (GNU tar's
and containers/storage's form), its value the attribute's raw bytes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

#: The pax record prefix of an extended attribute.
PAX_PREFIX = "SCHILY.xattr."
_KEPT = ("security.capability", "security.ima")
_KEPT_PREFIX = "user."
_OVERLAY_PREFIX = "user.overlay."
#: The errors of a file system (or a file) that holds no extended attributes.
_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP)


def carried(name: str) -> bool:
    """Whether a copy or a layer carries the extended attribute ``name``."""
    if name.startswith(_KEPT_PREFIX):
        return not name.startswith(_OVERLAY_PREFIX)
    return name in _KEPT


def read_carried(file: int | str) -> tuple[tuple[str, bytes], ...]:
    """The carried attributes of ``file`` (an open descriptor, or a path whose last
    name is not followed), sorted by name; none where the file system has none."""
    follow = isinstance(file, int)  # a descriptor is the file itself: nothing to follow
    try:
        names = sorted(n for n in os.listxattr(file, follow_symlinks=follow) if carried(n))
        return tuple((n, os.getxattr(file, n, follow_symlinks=follow)) for n in names)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return ()
        raise


def write(fd: int, xattrs: tuple[tuple[str, bytes], ...]) -> None:
    """Set ``xattrs`` on the open ``fd``, after its owner (a chown clears
    ``security.capability``); a file system without xattrs loses them, as podman's
    cp lets it."""
    for name, value in xattrs:
        try:
            os.setxattr(fd, name, value)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise


def pax_records(xattrs: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """``xattrs`` as tarfile pax headers (values as surrogate-escaped text, which
    tarfile writes back as the raw bytes)."""
    return {PAX_PREFIX + name: value.decode("utf-8", "surrogateescape")
            for name, value in xattrs}


def from_pax(headers: Mapping[str, str]) -> tuple[tuple[str, bytes], ...]:
    """The carried attributes in a tarfile member's pax headers (tarfile decodes pax
    values as UTF-8 with surrogate escapes: encoding back gives the bytes)."""
    return tuple(sorted(
        (key[len(PAX_PREFIX):], value.encode("utf-8", "surrogateescape"))
        for key, value in headers.items()
        if key.startswith(PAX_PREFIX) and carried(key[len(PAX_PREFIX):])))
