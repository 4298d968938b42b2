"""Network namespaces that pypod makes for its containers: made, bind-mounted, removed.

A namespace lives as long as something refers to it; pypod keeps each one alive by
bind-mounting its ``/proc/.../ns/net`` file on a file of its own, under the runtime's
per-boot tmp dir (``<tmp_dir>/netns/<name>``), never under ``/run/netns`` where
``ip netns`` (and podman) keep theirs.

Why the kernel interface through ctypes rather than pyroute2: the three system calls
needed (``unshare``, ``mount``, ``umount2``) and one ioctl (loopback up) are a screen of
code, while pyroute2 is a large dependency whose import alone costs more than the
whole operation.  Python 3.11 has no ``os.unshare``, hence ctypes.

Why a short-lived thread rather than a forked child: a namespace belongs to a task, and a
Python thread is a kernel task of its own.  The thread unshares its network namespace,
brings loopback up, bind-mounts ``/proc/thread-self/ns/net`` and ends; no other thread
is touched, the mount lands in the process's (the host's) mount namespace, and there is
no fork of a possibly large, possibly multi-threaded process.  Measured: well under a
millisecond, against several for a fork.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pypod_core.errors import NetworkError
from pypod_core.host.private import private_dir

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

T = TypeVar("T")


@functools.cache
def _libc() -> Any:
    """libc with the prototypes used here; loaded on first use, not at import (ctypes
    costs milliseconds every pypod command would pay)."""
    import ctypes  # lazy: only making or joining a namespace (~2.5 ms)

    libc = ctypes.CDLL(None, use_errno=True)
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def _errno() -> int:
    import ctypes  # lazy: loaded by _libc() already (~2.5 ms)

    return ctypes.get_errno()


def _check(result: int, what: str) -> None:
    if result != 0:
        err = _errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _loopback_up() -> None:
    """Set ``lo`` up in the calling thread's network namespace (SIOCSIFFLAGS)."""
    # lazy: only a new namespace's loopback (socket ~2 ms, struct)
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _make_in_thread(path: str) -> None:
    """Run in a thread of its own: a new netns for this thread, lo up, bind-mounted."""
    _check(_libc().unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    _loopback_up()
    source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
    _check(_libc().mount(source, path.encode(), None, MS_BIND, None), f"bind-mount on {path}")


def create_netns(directory: str, name: str) -> str:
    """Make a new network namespace with loopback up, kept at ``directory/name``; return
    that path.  NetworkError if it exists already or cannot be made."""
    private_dir(directory)
    path = os.path.join(directory, name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    except FileExistsError:
        raise NetworkError(f"network namespace {path} exists already") from None
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _make_in_thread(path)
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=worker, name=f"pypod-netns-{name}")
    thread.start()
    thread.join()
    if errors:
        _unlink(path)
        raise NetworkError(f"cannot make network namespace {path}: {errors[0]}")
    return path


def run_in_netns(path: str, func: Callable[[], T]) -> T:
    """Call ``func`` in a thread that joined the namespace at ``path``; return its result
    (or raise its exception).  Sockets it makes stay in that namespace."""
    outcome: list[Any] = []

    def worker() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _check(_libc().setns(fd, CLONE_NEWNET), f"setns({path})")
            finally:
                os.close(fd)
            outcome.append((True, func()))
        except BaseException as exc:  # re-raised in the caller's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=worker, name="pypod-in-netns")
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def is_netns(path: str) -> bool:
    """Whether ``path`` is a bind-mounted network namespace (an nsfs file)."""
    try:
        return os.stat(path).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def remove_netns(path: str) -> None:
    """Unmount and delete a namespace made by :func:`create_netns`; nothing to do for
    parts already gone (not mounted, no file)."""
    if not path or not os.path.lexists(path):
        return
    from pypod_core.host import mounts  # lazy: only removing a namespace (ctypes ~2.5 ms)

    try:
        mounts.umount(path)  # not mounted any more, or gone: fine
    except mounts.MountError as exc:
        raise NetworkError(f"cannot unmount network namespace {path}: "
                           f"{os.strerror(exc.errno or 0)}") from None
    _unlink(path)


def list_netns(directory: str) -> list[str]:
    """The namespace files under ``directory`` (for leak checks and the reboot refresh)."""
    try:
        return sorted(os.path.join(directory, n) for n in os.listdir(directory))
    except FileNotFoundError:
        return []


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
