"""Safe extraction of an image layer (an uncompressed tar stream) into a directory.

The layer is extracted by a forked child that chroots into the target first: whatever
the tar says, every path, symlink and hardlink resolves inside the target, the way
containers/storage's ``chrootarchive`` does it.  On top, member names are made safe (a
leading ``/`` stripped, ``..`` refused) and what a member replaces is removed first, so
nothing already there (a hardlink into a copied parent) is written through.  Mode,
numeric owner, mtime, devices, the setuid, setgid and sticky bits and extended
attributes (file capabilities among them) are kept.
(Python's tarfile filters do not fit image layers: ``data`` refuses device nodes and
absolute symlinks, ``tar`` strips setuid, ``fully_trusted`` writes outside the target;
and tarfile's per-member cost made extraction 5-8x slower than GNU tar, so the archive
is read by :mod:`pypod_core.host.tarstream` and applied here with plain system calls.)

Whiteouts (``.wh.NAME`` and the opaque marker ``.wh..wh..opq``) are turned into what the
layer's consumer understands (the ``whiteouts`` policy):

- ``"overlay"``: the kernel's own form: a 0/0 character device NAME, and the
  ``trusted.overlay.opaque=y`` xattr on an opaque directory;
- ``"vfs"``: the target already holds the parent layers' files (a copy), so NAME is
  deleted and an opaque directory emptied.

Either way a whiteout hides only what lower layers put there: an entry the same layer
wrote is kept (the OCI image spec's rule).

The parent process reads the caller's stream (which may be a pipe, a decompressor or a
hashing reader: its state stays the caller's) and feeds the child through a pipe, so a
decompressing stream and the extraction run on two cores; the child reports its result
on another pipe.  Needs root (chroot, mknod, chown).
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO, Literal, TypeVar

from pypod_core.host import tarstream
from pypod_core.host.tarstream import Member, TarError, TarReader

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
#: The xattr overlayfs reads to make a directory opaque (root; ``user.`` when rootless).
OPAQUE_XATTR = "trusted.overlay.opaque"
#: What the parent reads from the caller's stream at a time: big reads keep a
#: decompressor's per-call cost small and fill the pipe in one write.
_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20
_WHITEOUT = WHITEOUT_PREFIX.encode()
_OPAQUE = OPAQUE_MARKER.encode()
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Permission bits a created inode may lack: chown clears setuid and setgid, mkdir
#: ignores them; those members get a chmod afterwards.
_SET_ID = stat.S_ISUID | stat.S_ISGID
#: Extended attributes overlayfs reads as its own metadata (root's and rootless').
_OVERLAY_XATTRS = (b"trusted.overlay.", b"user.overlay.")

Whiteouts = Literal["overlay", "vfs"]
_T = TypeVar("_T")


class LayerError(Exception):
    """The layer could not be extracted: a bad or hostile member, a broken tar, or the
    extraction process died.  ``str()`` is one line saying which and where."""


def extract_layer(stream: BinaryIO, target: str, *, whiteouts: Whiteouts,
                  on_child: Callable[[int], None] | None = None) -> int:
    """Extract the tar ``stream`` into the existing directory ``target``; return the
    number of tar bytes read (the layer's uncompressed size).

    ``whiteouts`` says how whiteouts are written (see the module docstring);
    ``on_child(pid)`` is told the extraction child's pid (tests kill it).  LayerError
    if a member would leave the target or the tar is broken; what was extracted so far
    stays in ``target`` for the caller to delete.
    """
    if whiteouts not in ("overlay", "vfs"):
        raise ValueError(f"whiteouts must be 'overlay' or 'vfs', not {whiteouts!r}")
    if not os.path.isdir(target):
        raise LayerError(f"layer target {target}: not a directory")
    data_r, data_w = os.pipe()
    try:  # a bigger pipe: fewer switches between feeder and extractor
        fcntl.fcntl(data_w, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: the default works, only slower
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through result_w
        os.close(data_w)
        os.close(result_r)
        _child(data_r, result_w, target, whiteouts)
    os.close(data_r)
    os.close(result_w)
    if on_child is not None:
        on_child(pid)
    try:
        size = _feed(stream, data_w)
    finally:
        os.close(data_w)
        _, status = _wait(pid)
        with os.fdopen(result_r, "rb") as f:
            report = f.read()
    return _outcome(target, size, status, report)


def _feed(stream: BinaryIO, fd: int) -> int:
    """Copy ``stream`` into the pipe ``fd``; stop early if the child went away."""
    size = 0
    for chunk in _chunks(stream):
        size += len(chunk)
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:  # the child failed or finished early: it says why
            break
    return size


def _chunks(stream: BinaryIO) -> Iterator[bytes | memoryview]:
    """``stream``'s bytes a megabyte at a time, read into one buffer again and again
    where the stream can (``readinto``): a fresh megabyte per read costs page faults.
    Each piece is valid until the next is asked for."""
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    readinto = getattr(stream, "readinto", None)
    try:
        n = readinto(buffer) if readinto is not None else None
    except (NotImplementedError, io.UnsupportedOperation):  # a raw stream with read() only
        n = readinto = None
    if readinto is None:
        yield from iter(lambda: stream.read(_CHUNK), b"")
        return
    while n:
        yield view[:n]
        n = readinto(buffer)


def _wait(pid: int) -> tuple[int, int]:
    while True:
        try:
            return os.waitpid(pid, 0)
        except InterruptedError:
            continue


def _outcome(target: str, size: int, status: int, report: bytes) -> int:
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise LayerError(f"layer extraction into {target} was killed by {name}")
    try:
        result = json.loads(report or b"{}")
    except ValueError:
        result = {}
    if os.WEXITSTATUS(status) != 0 or "error" in result or "ok" not in result:
        message = result.get("error") or f"exit status {os.WEXITSTATUS(status)}"
        raise LayerError(f"layer extraction into {target}: {message}")
    return size


def _child(data_fd: int, result_fd: int, target: str,
           whiteouts: Whiteouts) -> None:  # pragma: no cover - runs in the fork
    code = 1
    report: dict[str, object] = {"error": "unknown failure"}
    try:
        # Default signal handling: a Python handler inherited from the parent (pytest,
        # the CLI) must not run here.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        # Inherited descriptors must not outlive the parent's use: a pipe's write end
        # held here would keep the caller's stream from ever ending, a lock held here
        # would outlive its holder.
        _close_fds_but(data_fd, result_fd)
        os.chroot(target)
        os.chdir("/")
        os.umask(0)  # every inode gets the mode its member (or _make_dirs) gives
        reader = TarReader(data_fd)
        _extract(reader, whiteouts)
        # Drain what follows the end-of-archive blocks, so the parent's writes do not
        # fail and its byte count is the whole stream.
        reader.drain()
        code, report = 0, {"ok": True}
    except LayerError as exc:
        report = {"error": str(exc)}
    except TarError as exc:
        report = {"error": f"not a valid tar stream: {exc}"}
    except OSError as exc:
        where = f" {_shown(exc.filename)}" if exc.filename else ""
        report = {"error": f"{exc.strerror or exc}{where}"}
    except BaseException as exc:
        report = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            os.write(result_fd, json.dumps(report).encode())
        finally:
            os._exit(code)


def _close_fds_but(*keep: int) -> None:  # pragma: no cover - runs in the fork
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the directory's own descriptor, gone by now


def _extract(reader: TarReader, whiteouts: Whiteouts) -> None:  # pragma: no cover - child
    """Apply every member of ``reader`` to the current root directory."""
    applier = _Applier(whiteouts)
    while (member := reader.next()) is not None:
        applier.apply(member, reader)
    applier.finish()


def _shown(name: bytes | str) -> str:
    """A member name for a message: quoted, undecodable bytes escaped."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    return repr(name)


def _member_path(name: bytes) -> bytes:
    """A member's name as a path relative to the layer's root: a leading ``/`` and
    ``./`` stripped, empty parts dropped; LayerError for ``..`` anywhere."""
    parts = name.split(b"/")
    if b".." in parts:
        raise LayerError(f"layer member {_shown(name)} points outside the layer (..)")
    if b"" in parts or b"." in parts:
        return b"/".join(p for p in parts if p and p != b".")
    return name


class _Applier:
    """Writes members into the current root directory: names made safe, whiteouts
    turned into the policy's form, whatever a member replaces removed first."""

    def __init__(self, whiteouts: Whiteouts):
        self.whiteouts = whiteouts
        #: Paths this layer wrote: a whiteout in the same layer leaves them alone.
        self.written: set[bytes] = set()
        #: Directories' mtimes, set at the end: writing inside a directory changes it.
        self.dir_times: dict[bytes, int] = {}
        #: The mode of the layer's root, if the layer has a member for it.
        self.root_mode: int | None = None

    def apply(self, member: Member, reader: TarReader) -> None:
        """Write ``member`` (its data read from ``reader``)."""
        path = _member_path(member.name)
        if not path:
            if member.type == tarstream.DIRECTORY:
                # The layer's root: its owner and mode are the image's "/" (as
                # containers/storage applies them; the mode at the end, for a
                # read-only root not to refuse the members); its mtime is left alone.
                os.chown(".", member.uid, member.gid)
                self.root_mode = member.mode & 0o7777
            return
        head, _, base = path.rpartition(b"/")
        try:
            if base.startswith(_WHITEOUT):
                self._whiteout(head, base)
                return
            kind = member.type
            if kind != tarstream.DIRECTORY:
                self.dir_times.pop(path, None)  # a directory there is replaced
            if kind == tarstream.REGULAR:
                _write_file(path, member, reader)
            elif kind == tarstream.DIRECTORY:
                _make_dir(path, member)
                self.dir_times[path] = member.mtime_ns
            elif kind == tarstream.SYMLINK:
                _create(path, lambda: os.symlink(member.linkname, path))
                _set_owner_and_time(path, member)
            elif kind == tarstream.HARDLINK:
                _link(path, member)
            else:
                _make_node(path, member)
            if member.xattrs and kind != tarstream.HARDLINK:
                _set_xattrs(path, member.xattrs)
        except NotADirectoryError:
            raise LayerError(f"layer member {_shown(member.name)}: a parent is not a "
                             f"directory") from None
        except OSError as exc:
            raise LayerError(f"layer member {_shown(member.name)}: "
                             f"{exc.strerror or exc}") from None
        self.written.add(path)

    def finish(self) -> None:
        """Set the directories' mtimes, now that nothing is written inside them, and
        the root's mode."""
        if self.root_mode is not None:
            os.chmod(".", self.root_mode)
        for path, ns in self.dir_times.items():
            try:
                os.utime(path, ns=(ns, ns), follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                pass  # removed by a later member of the layer, or a parent replaced

    def _whiteout(self, head: bytes, base: bytes) -> None:
        directory = head or b"."
        if base == _OPAQUE:
            self._opaque(directory)
        elif base.startswith(_WHITEOUT + _WHITEOUT):
            return  # aufs' own metadata (.wh..wh.plnk and the like): nothing to apply
        else:
            name = base[len(_WHITEOUT):]
            path = head + b"/" + name if head else name
            if path in self.written:
                return
            _make_dirs(directory)
            _remove(path)
            self.dir_times.pop(path, None)
            if self.whiteouts == "overlay":
                os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
            self.written.add(path)

    def _opaque(self, directory: bytes) -> None:
        _make_dirs(directory)
        if self.whiteouts == "overlay":
            os.setxattr(directory, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        prefix = b"" if directory == b"." else directory + b"/"
        for entry in os.listdir(directory):
            if prefix + entry not in self.written:
                _remove(prefix + entry)


# -- writing one member (in the chroot) ---------------------------------------------


def _create(path: bytes, make: Callable[[], _T]) -> _T:
    """``make()`` the new inode at ``path``: what is there already is removed first (a
    directory with its contents), missing parent directories are made."""
    try:
        return make()
    except FileExistsError:
        _remove(path)
    except FileNotFoundError:
        _make_dirs(path.rpartition(b"/")[0])
    return make()


def _write_file(path: bytes, member: Member, reader: TarReader) -> None:
    fd = _create(path, lambda: os.open(path, _NEW_FILE, member.mode))
    try:
        reader.copy_data(fd, member)
        os.fchown(fd, member.uid, member.gid)
        if member.mode & _SET_ID:
            os.fchmod(fd, member.mode)
        os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
    finally:
        os.close(fd)


def _make_dir(path: bytes, member: Member) -> None:
    """A directory stays a directory (the member's attributes set, its contents
    merged); anything else there is replaced."""
    try:
        os.mkdir(path, member.mode)
        fresh = True
    except FileExistsError:
        fresh = not stat.S_ISDIR(os.lstat(path).st_mode)
        if fresh:
            _remove(path)
            os.mkdir(path, member.mode)
    except FileNotFoundError:
        _make_dirs(path.rpartition(b"/")[0])
        os.mkdir(path, member.mode)
        fresh = True
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if not fresh or member.mode & _SET_ID:
        os.chmod(path, member.mode)


def _link(path: bytes, member: Member) -> None:
    """A hardlink to a file the layer (or its copied parent) holds; the shared inode
    keeps its own attributes."""
    target = _member_path(member.linkname)
    try:
        _create(path, lambda: os.link(target, path, follow_symlinks=False))
    except FileNotFoundError:
        if os.path.lexists(target):
            raise
        raise LayerError(f"layer hardlink {_shown(member.name)} -> "
                         f"{_shown(member.linkname)}: no such file in the layer") from None


def _make_node(path: bytes, member: Member) -> None:
    """A character or block device or a FIFO."""
    kinds = {tarstream.CHARDEV: stat.S_IFCHR, tarstream.BLOCKDEV: stat.S_IFBLK,
             tarstream.FIFO: stat.S_IFIFO}
    device = os.makedev(member.devmajor, member.devminor)
    _create(path, lambda: os.mknod(path, kinds[member.type] | member.mode, device))
    _set_owner_and_time(path, member)


def _set_owner_and_time(path: bytes, member: Member) -> None:
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if member.mode & _SET_ID and member.type != tarstream.SYMLINK:
        os.chmod(path, member.mode)
    os.utime(path, ns=(member.mtime_ns, member.mtime_ns), follow_symlinks=False)


def _set_xattrs(path: bytes, xattrs: dict[bytes, bytes]) -> None:
    """Set a member's extended attributes, after its owner (a chown clears
    ``security.capability``).  overlayfs' own attributes are not taken from a layer: a
    forged redirect or origin would steer the kernel's lookups.  A file system without
    xattrs (ENOTSUP) loses them, as containers/storage lets it."""
    for name, value in xattrs.items():
        if name.startswith(_OVERLAY_XATTRS):
            continue
        try:
            os.setxattr(path, name, value, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise


def _make_dirs(directory: bytes) -> None:
    """Make ``directory`` and its missing parents (mode 0755, as GNU tar does); an
    existing one is fine."""
    missing = []
    while directory and directory != b".":
        try:
            os.mkdir(directory, 0o755)
            break
        except FileExistsError:
            break
        except FileNotFoundError:
            missing.append(directory)
            directory = directory.rpartition(b"/")[0]
    for path in reversed(missing):
        os.mkdir(path, 0o755)


def _remove(path: bytes) -> None:
    """Delete ``path`` whatever it is (a directory with its contents); gone is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
