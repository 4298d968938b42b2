"""Overlay and tmpfs mounts, unmounts and /proc/self/mountinfo, from the standard
library.

Two ways to mount an overlay, because the classic one runs out of room:

- mount(2): every lowerdir travels in one options string, which the kernel copies into
  one page.  With relative 26-character links (``l/<short>``) after a chdir about 140
  lowerdirs fit (measured: 140 OK, 141 ENOENT); with absolute paths about 50.
- the new mount API (Linux 6.8+ for ``lowerdir+``): ``fsopen("overlay")``, one
  ``fsconfig(lowerdir+)`` per layer, ``fsmount``, ``move_mount``.  Each path is its own
  string, so up to overlayfs' own limit of 500 lowerdirs fit, no chdir is needed (a
  chdir is process-wide: unsafe beside other threads), and the kernel's error message
  can be read back from the context.

:func:`mount_overlay` takes mount(2) with absolute paths where they fit one page (it is
the fastest), else the new API where the kernel has it, else mount(2) with short links.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import threading
from collections.abc import Sequence

import attrs

#: The most lowerdirs overlayfs stacks (``OVL_MAX_STACK``).
MAX_LOWERDIRS = 500

# mount(2)/umount2(2) flags.
MNT_DETACH = 2
# The new mount API: these syscall numbers are the same on every architecture.
_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432
_FSOPEN_CLOEXEC = 1
_FSCONFIG_SET_FLAG, _FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 0, 1, 6
_FSMOUNT_CLOEXEC = 1
_MOVE_MOUNT_F_EMPTY_PATH = 4
_AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
#: The process's cwd is changed by a relative mount(2): one at a time.
_CHDIR_LOCK = threading.Lock()
_new_api: bool | None = None


class MountError(OSError):
    """A mount or unmount failed; ``str()`` says which, where, and the kernel's words."""


@attrs.frozen
class MountEntry:
    """One line of /proc/self/mountinfo (the fields pypod needs)."""

    mount_id: int
    mount_point: str
    fs_type: str
    source: str
    options: str
    super_options: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode(
        "utf-8", "surrogateescape")


def mountinfo(pid: str = "self") -> list[MountEntry]:
    """The mounts of ``pid``'s mount namespace, in mount order."""
    entries = []
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            entries.append(MountEntry(
                mount_id=int(fields[0]), mount_point=_unescape(fields[4]),
                options=fields[5], fs_type=rest[0], source=_unescape(rest[1]),
                super_options=rest[2] if len(rest) > 2 else ""))
    return entries


def is_mount_point(path: str) -> bool:
    """Whether something is mounted on ``path`` (symlinks in it resolved)."""
    path = os.path.realpath(path)
    return any(e.mount_point == path for e in mountinfo())


def mounts_under(path: str) -> list[str]:
    """The mount points at or below ``path`` (tests: nothing may be left behind)."""
    path = os.path.realpath(path)
    return [e.mount_point for e in mountinfo()
            if e.mount_point == path or e.mount_point.startswith(path + "/")]


def fs_type_of(path: str) -> str:
    """The file system type (``ext4``, ``tmpfs``, ...) of the mount holding ``path``."""
    path = os.path.realpath(path)
    best = MountEntry(0, "/", "unknown", "", "", "")
    for entry in mountinfo():
        point = entry.mount_point
        if (path == point or path.startswith(point.rstrip("/") + "/")) and \
                len(point) >= len(best.mount_point):
            best = entry
    return best.fs_type


def umount(target: str, *, detach: bool = True) -> None:
    """umount2(target, MNT_DETACH): lazily, so a busy mount is still taken away from
    the tree.  Not mounted (EINVAL) or gone (ENOENT) is fine."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH if detach else 0) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise MountError(err, f"umount {target}: {os.strerror(err)}")


#: mount(2) flags for a tmpfs of no devices, no set-uid and no executables.
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8


def mount_tmpfs(target: str, data: str, source: str = "tmpfs") -> None:
    """Mount a tmpfs on ``target`` (nosuid, nodev, noexec) with ``data`` (``mode=1777,
    size=65536k``); MountError with the kernel's words."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc.mount(source.encode(), os.fsencode(target), b"tmpfs", flags, data.encode()) != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"mount tmpfs on {target}: {os.strerror(err)}")


#: mount(2) flags for a read-only bind mount (made, then remounted read-only).
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096


def bind_readonly(source: str, target: str) -> None:
    """Bind-mount the directory ``source`` on ``target``, read-only (a bind mount takes
    ``MS_RDONLY`` only on a remount); MountError with the kernel's words, and nothing
    left mounted."""
    if _libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"bind-mount {source} on {target}: {os.strerror(err)}")
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    if _libc.mount(None, os.fsencode(target), None, flags, None) != 0:
        err = ctypes.get_errno()
        umount(target)
        raise MountError(err, f"remount {target} read-only: {os.strerror(err)}")


def new_mount_api() -> bool:
    """Whether the kernel has fsopen() and overlayfs takes ``lowerdir+`` (Linux 6.8+);
    probed once per process."""
    global _new_api
    if _new_api is None:
        fd = _libc.syscall(_SYS_FSOPEN, b"overlay", _FSOPEN_CLOEXEC)
        if fd < 0:
            _new_api = False
        else:
            try:
                # An unknown key is EINVAL; a known one that names nothing is ENOENT.
                rc = _libc.syscall(_SYS_FSCONFIG, fd, _FSCONFIG_SET_STRING, b"lowerdir+",
                                   b"/nonexistent-pypod-probe", 0)
                _new_api = rc == 0 or ctypes.get_errno() != errno.EINVAL
            finally:
                os.close(fd)
    return _new_api


def mount_overlay(target: str, lowers: Sequence[str], upper: str, work: str, *,
                  relative_to: str = "", short_lowers: Sequence[str] = (),
                  options: Sequence[str] = (), force_mount2: bool = False) -> None:
    """Mount an overlay on ``target``: ``lowers`` uppermost first (absolute paths),
    writes going to ``upper`` with ``work`` as its work dir.

    mount(2) with absolute paths if the options fit in a page; else the new mount API
    where the kernel has it (unless ``force_mount2``); else mount(2) with
    ``short_lowers`` (the same layers as paths relative to ``relative_to``, e.g.
    ``l/ABC...``; ``upper`` and ``work`` made relative too when they are under it) after
    a chdir there.  ``upper`` and ``work`` both "" make a read-only overlay (the kernel
    then wants two lowerdirs at least).  MountError says why the kernel refused.
    """
    if not 1 <= len(lowers) <= MAX_LOWERDIRS:
        raise MountError(errno.EINVAL, f"overlay on {target}: {len(lowers)} lower layers "
                                       f"(1 to {MAX_LOWERDIRS} can be mounted)")
    data = _options(lowers, upper, work, options)
    # mount(2) first where it fits: measured ~0.1 ms to mount and unmount 2 layers,
    # against ~1.3 ms + 10 ms through fsconfig (bench/bench_layers.py).
    if len(os.fsencode(data)) < os.sysconf("SC_PAGESIZE"):
        _mount2(target, data)
        return
    if not force_mount2 and new_mount_api():
        _mount_fsconfig(target, lowers, upper, work, options)
        return
    if not short_lowers:
        _mount2(target, data)  # raises: does not fit
    base = os.path.realpath(relative_to)
    upper, work = (os.path.relpath(p, base) if p and os.path.realpath(p).startswith(base + "/")
                   else p for p in (upper, work))
    data = _options(short_lowers, upper, work, options)
    with _CHDIR_LOCK:
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(relative_to)
            _mount2(target, data)
        finally:
            os.fchdir(cwd)
            os.close(cwd)


def _options(lowers: Sequence[str], upper: str, work: str, extra: Sequence[str]) -> str:
    writable = [f"upperdir={upper}", f"workdir={work}"] if upper else []
    return ",".join([f"lowerdir={':'.join(lowers)}", *writable, *extra])


def _mount2(target: str, data: str) -> None:
    raw = data.encode()
    if len(raw) >= os.sysconf("SC_PAGESIZE"):
        raise MountError(errno.E2BIG, f"overlay on {target}: the mount options are "
                                      f"{len(raw)} bytes, more than one page")
    if _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, raw) != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"mount overlay on {target}: {os.strerror(err)}")


def _fs_log(fd: int) -> str:
    """The messages the kernel left in an fs context (``e overlayfs: ...``)."""
    lines = []
    while True:
        try:
            lines.append(os.read(fd, 1024).decode(errors="replace").strip())
        except OSError:
            return "; ".join(line[2:] if line[1:2] == " " else line for line in lines)


def _mount_fsconfig(target: str, lowers: Sequence[str], upper: str, work: str,
                    extra: Sequence[str]) -> None:
    fs = _libc.syscall(_SYS_FSOPEN, b"overlay", _FSOPEN_CLOEXEC)
    if fs < 0:
        err = ctypes.get_errno()
        raise MountError(err, f"fsopen overlay: {os.strerror(err)}")
    try:
        def config(cmd: int, key: bytes | None, value: bytes | None) -> None:
            if _libc.syscall(_SYS_FSCONFIG, fs, cmd, key, value, 0) < 0:
                err = ctypes.get_errno()
                what = (key or b"create").decode()
                detail = _fs_log(fs) or os.strerror(err)
                raise MountError(err, f"mount overlay on {target} ({what}): {detail}")

        config(_FSCONFIG_SET_STRING, b"source", b"overlay")
        for lower in lowers:
            config(_FSCONFIG_SET_STRING, b"lowerdir+", os.fsencode(lower))
        if upper:  # else a read-only overlay
            config(_FSCONFIG_SET_STRING, b"upperdir", os.fsencode(upper))
            config(_FSCONFIG_SET_STRING, b"workdir", os.fsencode(work))
        for option in extra:
            key, eq, value = option.partition("=")
            if eq:
                config(_FSCONFIG_SET_STRING, key.encode(), value.encode())
            else:
                config(_FSCONFIG_SET_FLAG, key.encode(), None)
        config(_FSCONFIG_CMD_CREATE, None, None)
        mnt = _libc.syscall(_SYS_FSMOUNT, fs, _FSMOUNT_CLOEXEC, 0)
        if mnt < 0:
            err = ctypes.get_errno()
            raise MountError(err, f"fsmount overlay on {target}: {os.strerror(err)}")
        try:
            if _libc.syscall(_SYS_MOVE_MOUNT, mnt, b"", _AT_FDCWD, os.fsencode(target),
                             _MOVE_MOUNT_F_EMPTY_PATH) < 0:
                err = ctypes.get_errno()
                raise MountError(err, f"move_mount overlay to {target}: {os.strerror(err)}")
        finally:
            os.close(mnt)
    finally:
        os.close(fs)


def overlay_supported(directory: str) -> str:
    """Why an overlay cannot be mounted with its layers under ``directory``, or "" if one
    can (a real mount of one empty layer, then an unmount)."""
    import tempfile  # lazy: only the once-per-kernel overlay check (~1 ms)

    os.makedirs(directory, exist_ok=True)
    probe = tempfile.mkdtemp(prefix=".probe-", dir=directory)
    try:
        parts = [os.path.join(probe, p) for p in ("lower", "upper", "work", "merged")]
        for part in parts:
            os.mkdir(part)
        try:
            mount_overlay(parts[3], [parts[0]], parts[1], parts[2])
        except OSError as exc:
            return str(exc)
        umount(parts[3])
        return ""
    finally:
        shutil.rmtree(probe, ignore_errors=True)
