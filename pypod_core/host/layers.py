"""Safe extraction of an image layer (an uncompressed tar stream) into a directory.

Python's tarfile filters do not fit image layers (IMAGES.md §3): ``data`` refuses
device nodes and absolute symlinks, ``tar`` strips setuid, ``fully_trusted`` writes
outside the target.  So the layer is extracted by a forked child that chroots into the
target first: whatever the tar says, every path, symlink and hardlink resolves inside
the target, the way containers/storage's ``chrootarchive`` does it.  On top, a small
member filter strips a leading ``/``, refuses ``..`` and keeps mode, owner (numeric),
devices and setuid bits.

Whiteouts (``.wh.NAME`` and the opaque marker ``.wh..wh..opq``) are turned into what the
layer's consumer understands (the ``whiteouts`` policy):

- ``"overlay"``: the kernel's own form: a 0/0 character device NAME, and the
  ``trusted.overlay.opaque=y`` xattr on an opaque directory;
- ``"vfs"``: the target already holds the parent layers' files (a copy), so NAME is
  deleted and an opaque directory emptied.

Either way a whiteout hides only what lower layers put there: an entry the same layer
wrote is kept (the OCI image spec's rule).

The parent process reads the caller's stream (which may be a pipe, a decompressor or a
hashing reader: its state stays the caller's) and feeds the child through a pipe; the
child reports its result on another.  Needs root (chroot, mknod, chown).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import stat
import tarfile
from collections.abc import Callable
from typing import BinaryIO, Literal

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
#: The xattr overlayfs reads to make a directory opaque (root; ``user.`` when rootless).
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 16
_PIPE_SIZE = 1 << 20

Whiteouts = Literal["overlay", "vfs"]


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
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return size
        size += len(chunk)
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:  # the child failed or finished early: it says why
            return size


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
        os.umask(0o022)  # for the parent dirs tarfile makes; members get their own modes
        with os.fdopen(data_fd, "rb", buffering=_CHUNK) as data:
            _extract(data, whiteouts)
            # Drain what follows the end-of-archive blocks, so the parent's writes
            # do not fail and its byte count is the whole stream.
            while data.read(_CHUNK):
                pass
        code, report = 0, {"ok": True}
    except LayerError as exc:
        report = {"error": str(exc)}
    except tarfile.TarError as exc:
        report = {"error": f"not a valid tar stream: {exc}"}
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
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


def member_path(name: str) -> str:
    """A member's name as a path relative to the layer's root: a leading ``/`` and
    ``./`` stripped, empty parts dropped; LayerError for ``..`` anywhere."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"layer member {name!r} points outside the layer (..)")
    return "/".join(parts)


class _Filter:
    """The member filter: names made safe, whiteouts turned into the policy's form,
    whatever the member replaces removed first (so a hardlinked file in a copied parent
    is not written through)."""

    def __init__(self, whiteouts: Whiteouts):
        self.whiteouts = whiteouts
        #: Paths this layer wrote: a whiteout in the same layer leaves them alone.
        self.written: set[str] = set()

    def __call__(self, member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        path = member_path(member.name)
        if not path:
            return None  # the layer's root itself: its attributes are the parent's
        head, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(head, base)
            return None
        changes: dict[str, object] = {"name": path}
        if member.islnk():
            changes["linkname"] = link = member_path(member.linkname)
            try:
                st = os.lstat(link)
            except FileNotFoundError:
                raise LayerError(f"layer hardlink {path!r} -> {member.linkname!r}: no such "
                                 f"file in the layer") from None
            # tarfile sets a link's attributes on the shared inode: keep the target's.
            changes.update(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
                           mtime=st.st_mtime)
        _make_room(path, member.isdir())
        self.written.add(path)
        return member.replace(**changes, deep=False)  # type: ignore[arg-type]

    def _whiteout(self, head: str, base: str) -> None:
        directory = head or "."
        if base == OPAQUE_MARKER:
            self._opaque(directory)
        elif base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # aufs' own metadata (.wh..wh.plnk and the like): nothing to apply
        else:
            name = base[len(WHITEOUT_PREFIX):]
            path = f"{head}/{name}" if head else name
            if path in self.written:
                return
            os.makedirs(directory, exist_ok=True)
            _remove(path)
            if self.whiteouts == "overlay":
                os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
            self.written.add(path)

    def _opaque(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        if self.whiteouts == "overlay":
            os.setxattr(directory, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        prefix = "" if directory == "." else directory + "/"
        for entry in os.listdir(directory):
            if prefix + entry not in self.written:
                _remove(prefix + entry)


def _remove(path: str) -> None:
    """Delete ``path`` whatever it is (a directory with its contents); gone is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _make_room(path: str, is_dir: bool) -> None:
    """Before a member is written at ``path``: a directory stays a directory (its
    contents are merged), anything else already there is removed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except NotADirectoryError as exc:  # a parent is a file: tarfile would fail obscurely
        raise LayerError(f"layer member {path!r}: a parent is not a directory") from exc
    if is_dir and stat.S_ISDIR(st.st_mode):
        return
    _remove(path)


def _extract(data: BinaryIO, whiteouts: Whiteouts) -> None:  # pragma: no cover - child
    member_filter = _Filter(whiteouts)
    # errorlevel 2: a chown or chmod that fails is an error, not a warning.
    with tarfile.open(fileobj=data, mode="r|", errorlevel=2) as tar:
        tar.extractall("/", numeric_owner=True, filter=member_filter)
