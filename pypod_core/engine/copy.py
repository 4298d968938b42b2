"""``pypod cp``: files and tar streams into and out of containers, running or not, with
podman 4.3's rules for paths (libpod's ``container_copy_linux.go``,
``container_path_resolution.go`` and podman's ``cp`` command).

Where a container's paths resolve is :func:`container_root`: the root of its init
process while it runs (``/proc/PID/root``, which shows its mounts as the container sees
them: a path inside a ``-v`` bind mount is the mount's source), else its rootfs (a
``--rootfs`` directory, or an image container's, mounted for the copy if need be), with
its bind mounts and named volumes (mounted for the copy) applied by path as podman does
(the longest mount destination that is a prefix of the path, lexically).
Every path is then resolved under that root one name at a time
(:mod:`pypod_core.host.inroot`): a symlink in the container that points to ``/etc`` is
the container's ``/etc``.  A container path is taken from the container's working
directory when it is relative; one whose ``..`` climbs above the root is refused
(PathEscapeError; podman clamps it to the root).

The rules, as podman 4.3.1 applies them (each checked against it; see tests/test_copy.py):

- a file onto a missing path makes that file (its parent must exist: NoSuchFileError),
  onto a file replaces it, into a directory lands there under its own name;
- a directory onto a missing path makes it with the source's contents, onto a file is an
  error, into a directory lands inside it (``dir`` and ``dir/`` alike), and ``dir/.``
  copies its contents into it (``/`` of a container is always its contents, less
  ``/dev``, ``/proc`` and ``/sys``);
- a destination with a trailing ``/`` that does not exist is NoSuchFileError, whatever the
  source; a source ``file/`` or ``file/.`` is NoSuchFileError (not a directory), on
  either side (podman lets it pass on the container's side);
- the last symlink of a source is followed: out of a container, the copy is named after
  the resolved target, from the host after the name given (podman's asymmetry);
- a tar stream goes into an existing directory only.

Owners: ``archive`` (podman's default ``--archive=true``) gives whatever is copied into a
container the container's user and group (``--user``, resolved in its /etc files);
without it the source's numeric owners are kept.  Copies onto the host belong to the
calling user (podman's), without device nodes; a tar stream out keeps the container's
numeric owners (podman rewrites them to the container's user).  Nothing is ever
overwritten across kinds (a directory by a file, a file by a directory) without
``overwrite``.  A stopped container's ``:ro`` bind mount is not written into (podman
writes into its source; a running container's refuses, read-only to the kernel).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from pypod_core.engine.rootfs import readable_path
from pypod_core.errors import CopyError, NoSuchFileError, PathEscapeError
from pypod_core.host.copy import TreeWriter, walk
from pypod_core.host.inroot import Place, escapes, open_root, resolve
from pypod_core.model import ContainerStatus, Mount

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

S = ContainerStatus
#: States in which the container has a process whose root shows its mounts.
_HAS_PROCESS = frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.STOPPING})
#: What a copy of a container's ``/`` leaves out (podman's).
_ROOT_SKIP = ("dev", "proc", "sys")
HOST = "the host"


class Side(NamedTuple):
    """One end of a copy: the root its paths resolve under (a descriptor), ``where`` for
    messages ("container web", "the host"), the directory relative paths start from, the
    bind mounts applied by path, and the owner that ``archive`` gives what is copied in
    (None for the host)."""

    root_fd: int
    where: str
    workdir: str
    mounts: tuple[Mount, ...] = ()
    owner: tuple[int, int] | None = None

    @property
    def is_container(self) -> bool:
        """Whether this end is a container (not the host)."""
        return self.owner is not None


class _Spot(NamedTuple):
    """A path of a side, resolved: the place, the path as given, the resolved path as the
    side sees it, and whether it is on a read-only bind mount."""

    place: Place
    given: str
    shown: str
    read_only: bool


def container_root(ctr: Container) -> tuple[str, tuple[Mount, ...]]:
    """The directory under which ``ctr``'s paths resolve, and the bind mounts to apply by
    path there; the caller holds the container's lock.

    The one place that knows where a container's files are: while it has a process,
    that process's root (its mounts included); else its rootfs (the ``--rootfs``
    directory; a graph driver's mount point for a container from an image, "" when it is
    not mounted: :func:`container_side` mounts it) and its ``-v`` mounts."""
    if ctr.state.state in _HAS_PROCESS and ctr.state.pid > 0:
        path = f"/proc/{ctr.state.pid}/root"
        if os.path.isdir(path):
            return path, ()
    # A tmpfs has nothing while the container is stopped: only the binds apply.
    return readable_path(ctr), tuple(m for m in ctr.config.mounts if m.type == "bind")


@contextmanager
def container_side(ctr: Container) -> Iterator[Side]:
    """``ctr`` as one end of a copy: its root held by a descriptor, taken under its lock
    (the copy itself runs without it, as podman's: a long copy does not hold up
    ``stop``).  A container from an image that is not mounted is mounted for the copy,
    and its lock held until the copy ends and it is unmounted: it cannot start meanwhile
    on a rootfs mounted twice."""
    from pypod_core.engine import rootfs  # lazy: cp only (~0.1 ms)
    from pypod_core.engine.bundle import resolve_user  # lazy: cp only (bundle ~1 ms)

    with ExitStack() as held:
        with ExitStack() as taking:
            taking.enter_context(ctr.locked())
            path, mounts = container_root(ctr)
            if not path:
                path = taking.enter_context(rootfs.mounted(ctr))
                held.push(taking.pop_all())
            if ctr.config.named_volumes and not path.startswith("/proc/"):
                # A stopped container's volumes, mounted for the copy as podman's cp does.
                from pypod_core.engine import volumes  # lazy: only with volumes (~8 ms)

                mounts += held.enter_context(volumes.mounted_for_copy(ctr))
            fd = open_root(path)
            held.callback(os.close, fd)
            user = resolve_user(path, ctr.config.user)
        yield Side(fd, f"container {ctr.name}", ctr.config.workdir or "/", mounts,
                   (user.uid, user.gid))


@contextmanager
def host_side() -> Iterator[Side]:
    """The host as one end of a copy (relative paths from the current directory)."""
    fd = open_root("/")
    try:
        yield Side(fd, HOST, os.getcwd())
    finally:
        os.close(fd)


# -- the public operations ---------------------------------------------------------------


def copy_in(ctr: Container, source: str | os.PathLike[str] | BinaryIO, dest: str, *,
            archive: bool = True, overwrite: bool = False) -> None:
    """Copy the host path ``source`` (or the tar stream read from a binary file object)
    to ``dest`` in ``ctr`` by podman's rules (see the module docstring)."""
    with ExitStack() as stack:
        dst = stack.enter_context(container_side(ctr))
        owner = dst.owner if archive else None
        if isinstance(source, (str, os.PathLike)):
            src = stack.enter_context(host_side())
            copy_paths(src, os.fspath(source), dst, dest, owner=owner, overwrite=overwrite)
        else:
            copy_tar_in(source, dst, dest, owner=owner, overwrite=overwrite)


def copy_out(ctr: Container, source: str, dest: str | os.PathLike[str] | BinaryIO, *,
             overwrite: bool = False) -> None:
    """Copy ``source`` of ``ctr`` to the host path ``dest`` (or as a tar stream written
    to a binary file object) by podman's rules (see the module docstring)."""
    with ExitStack() as stack:
        src = stack.enter_context(container_side(ctr))
        if isinstance(dest, (str, os.PathLike)):
            dst = stack.enter_context(host_side())
            copy_paths(src, source, dst, os.fspath(dest),
                       owner=(os.geteuid(), os.getegid()), overwrite=overwrite,
                       devices=False)
        else:
            copy_tar_out(src, source, dest)


def copy_between(src_ctr: Container, source: str, dst_ctr: Container, dest: str, *,
                 archive: bool = True, overwrite: bool = False) -> None:
    """Copy ``source`` of ``src_ctr`` to ``dest`` of ``dst_ctr`` (``cp A:/x B:/y``)."""
    with container_side(src_ctr) as src, container_side(dst_ctr) as dst:
        copy_paths(src, source, dst, dest, owner=dst.owner if archive else None,
                   overwrite=overwrite)


# -- paths to paths and tar streams ------------------------------------------------------


def copy_paths(src_side: Side, source: str, dst_side: Side, dest: str, *,
               owner: tuple[int, int] | None, overwrite: bool, devices: bool = True) -> None:
    """Copy the tree at ``source`` of one side to ``dest`` of the other by podman's rules;
    ``owner``, ``overwrite``, ``devices``: see :class:`~pypod_core.host.copy.TreeWriter`."""
    with ExitStack() as stack:
        src = _source(stack, src_side, source)
        name = _top_name(src_side, src)
        dst = _locate(stack, dst_side, dest)
        if dst.read_only:
            raise CopyError(f'"{dest}" is on a read-only bind mount of {dst_side.where}')
        target_fd, shown, name = _plan(stack, src, name, dst, dst_side)
        writer = TreeWriter(target_fd, shown=shown, where=dst_side.where, owner=owner,
                            overwrite=overwrite, devices=devices)
        try:
            for entry in walk(src.place, name, skip=_skip(src_side, src),
                              where=src_side.where):
                writer.add(entry)
        finally:
            writer.close()


def copy_tar_in(stream: BinaryIO, dst_side: Side, dest: str, *,
                owner: tuple[int, int] | None, overwrite: bool) -> None:
    """Extract the tar ``stream`` into the directory ``dest`` of a side."""
    from pypod_core.host.copy_tar import read_tar  # lazy: only a copy in (copy_tar ~5.5 ms)

    with ExitStack() as stack:
        dst = _locate(stack, dst_side, dest)
        if not dst.place.is_dir:
            raise CopyError(f'destination "{dest}" on {dst_side.where} must be a directory '
                            f"when copying a tar stream")
        if dst.read_only:
            raise CopyError(f'"{dest}" is on a read-only bind mount of {dst_side.where}')
        target_fd = _keep(stack, _open_dir(dst, dst_side))
        writer = TreeWriter(target_fd, shown=dst.shown, where=dst_side.where, owner=owner,
                            overwrite=overwrite)
        try:
            for entry in read_tar(stream, where=f"copying to {dst_side.where}"):
                writer.add(entry)
        finally:
            writer.close()


def copy_tar_out(src_side: Side, source: str, out: BinaryIO) -> None:
    """Write ``source`` of a side to ``out`` as a tar stream (named as a copy would be:
    a directory's contents for ``dir/.`` and ``/``)."""
    from pypod_core.host.copy_tar import TarWriter  # lazy: only a copy out (copy_tar ~5.5 ms)

    with ExitStack() as stack:
        src = _source(stack, src_side, source)
        name = _top_name(src_side, src)
        writer = TarWriter(out, where=src_side.where)
        for entry in walk(src.place, name, skip=_skip(src_side, src), where=src_side.where):
            writer.add(entry)
        writer.close()


# -- resolving and the rules ---------------------------------------------------------------


def _locate(stack: ExitStack, side: Side, given: str) -> _Spot:
    """``given`` resolved on ``side`` (its last symlink followed); NoSuchFileError where a
    directory on the way is missing or is not one."""
    path = given if given.startswith("/") else posixpath.join(side.workdir, given)
    if side.is_container and escapes(path):
        raise PathEscapeError(f'"{given}" climbs out of the root of {side.where} (..)')
    root_fd, inner, base, read_only = side.root_fd, path, "/", False
    mount = _bind_mount(side.mounts, path)
    if mount is not None:
        root_fd, inner, base = _mount_root(stack, mount, path, side)
        read_only = mount.read_only
    try:
        place = resolve(root_fd, inner)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NoSuchFileError(f'"{given}" could not be found on {side.where}: '
                              f"{exc.strerror.lower() if exc.strerror else exc}") from None
    except OSError as exc:
        raise CopyError(f'"{given}" on {side.where}: {exc.strerror or exc}') from None
    stack.callback(place.close)
    if base.endswith("/") or mount is None:  # a directory's tree: paths below it
        shown = posixpath.normpath(posixpath.join(base, place.path.lstrip("/")))
    else:  # a file mounted alone: the place is that file
        shown = base
    return _Spot(place, given, shown, read_only)


def _bind_mount(mounts: tuple[Mount, ...], path: str) -> Mount | None:
    """The bind mount whose destination holds ``path`` (the longest, as podman's)."""
    clean = posixpath.normpath(path)
    best = None
    for mount in mounts:
        dest = posixpath.normpath(mount.destination)
        if clean == dest or clean.startswith(dest.rstrip("/") + "/"):
            if best is None or len(dest) > len(posixpath.normpath(best.destination)):
                best = mount
    return best


def _mount_root(stack: ExitStack, mount: Mount, path: str,
                side: Side) -> tuple[int, str, str]:
    """Where a path inside a stopped container's bind mount resolves: the mount's source
    as the root (its directory, for a file mounted alone), the rest of the path, and what
    the container sees there: the destination, ending in ``/`` for a directory's tree.
    The source is the host's, resolved as the host's (as runc mounts it)."""
    dest = posixpath.normpath(mount.destination)
    rest = posixpath.normpath(path)[len(dest):]
    source = os.path.realpath(mount.source)
    try:
        if os.path.isdir(source):
            fd = open_root(source)
            inner, base = rest or "/", dest.rstrip("/") + "/"
        else:
            fd = open_root(os.path.dirname(source))
            inner, base = os.path.basename(source) + rest, dest
    except OSError as exc:
        raise CopyError(f"the bind mount {source}:{mount.destination} of {side.where}: "
                        f"{exc.strerror or exc}") from None
    stack.callback(os.close, fd)
    return fd, inner, base


def _source(stack: ExitStack, side: Side, given: str) -> _Spot:
    """The source ``given``: it must exist, and be a directory if it ends in ``/``."""
    src = _locate(stack, side, given)
    if not src.place.exists:
        raise NoSuchFileError(f'"{given}" could not be found on {side.where}: no such file '
                              f"or directory")
    if given.endswith(("/", "/.")) and not src.place.is_dir:
        raise NoSuchFileError(f'"{given}" could not be found on {side.where}: not a '
                              f"directory")
    return src


def _top_name(side: Side, src: _Spot) -> str | None:
    """The name the source is copied as, or None for a directory's contents (``dir/.``,
    ``.``, a container's ``/``)."""
    given = src.given.rstrip("/")
    if src.place.is_dir and (src.given.endswith("/.") or given in (".", "")
                             or (side.is_container and src.shown == "/")):
        return None
    name = posixpath.basename(given)
    if side.is_container or name in ("", ".", ".."):
        name = posixpath.basename(src.shown) or src.place.name
    return name


def _skip(side: Side, src: _Spot) -> tuple[str, ...]:
    return _ROOT_SKIP if side.is_container and src.shown == "/" else ()


def _plan(stack: ExitStack, src: _Spot, name: str | None, dst: _Spot,
          dst_side: Side) -> tuple[int, str, str | None]:
    """Where the copy goes by podman's rules: the target directory (a descriptor), its
    path for messages, and the name the source gets there (None: its contents)."""
    given = dst.given
    if dst.place.is_dir:
        return _keep(stack, _open_dir(dst, dst_side)), dst.shown, name
    if dst.place.exists:
        if src.place.is_dir:
            raise CopyError(f'destination "{given}" on {dst_side.where} must be a directory '
                            f"when copying a directory")
        if given.endswith(("/", "/.")):
            raise NoSuchFileError(f'"{given}" could not be found on {dst_side.where}: not '
                                  f"a directory")
    elif given.endswith(("/", "/.")):
        raise NoSuchFileError(f'"{given}" could not be found on {dst_side.where}: no such '
                              f"file or directory")
    return dst.place.dir_fd, posixpath.dirname(dst.shown), dst.place.name


def _open_dir(spot: _Spot, side: Side) -> int:
    try:
        return spot.place.open_dir()
    except OSError as exc:
        raise CopyError(f'"{spot.given}" on {side.where}: {exc.strerror or exc}') from None


def _keep(stack: ExitStack, fd: int) -> int:
    stack.callback(os.close, fd)
    return fd
