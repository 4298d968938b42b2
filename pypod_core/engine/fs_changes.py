"""What changed in a container's or an image's file system (``podman diff``, ``container
diff``, ``image diff``): ``A`` added, ``C`` changed, ``D`` deleted paths, as podman
4.3.1 lists them.

Two trees are compared, each read where the graph driver keeps it: an image's is its
top layer's, mounted for the moment as a rootfs of its own (overlay: a read-only view
of the layers; the rootfs is removed after); a container's is its own rootfs.  Without
a second argument the base is the object's parent: an image's next layer down, a
container's image.  The rules are containers/storage's: a path in the new tree only is
``A`` (with everything under it), one in the old tree only is ``D`` (only the topmost of
a deleted subtree), one that differs in type, mode, owner, size, mtime, device or link
target is ``C``; a directory that is the same is not listed unless something in it was
added or deleted.  Paths the runtime itself writes into every container (``/etc/hosts``,
``/run/.containerenv``...) are left out, as podman leaves its own out.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from pypod_core.errors import NoSuchCtrError, NoSuchImageError, PypodError

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime

#: What ``diff`` looks at: images, containers, or both (podman's ``DiffType``).
KINDS = ("image", "container")
#: Paths a runtime puts in every container, never listed (podman's ``initInodes``).
INIT_PATHS = frozenset({
    "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/run",
    "/run/notify", "/run/.containerenv", "/run/secrets", "/sys", "/etc/mtab",
    "/.containerenv", "/run/podman-init",
})


class Change(NamedTuple):
    """One changed path: ``kind`` is ``A``, ``C`` or ``D``; ``path`` absolute."""

    kind: str
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


class _Meta(NamedTuple):
    """What containers/storage compares of an entry."""

    fmt: int
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    rdev: int
    link: str


def changes(runtime: Runtime, target: str, base: str = "",
            kinds: Sequence[str] = KINDS) -> list[Change]:
    """``runtime.diff``: the changes of ``target`` (an image or a container, looked up
    as ``kinds`` allow, images first) over ``base`` (another, or its parent), sorted
    by path.  NoSuchImageError / NoSuchCtrError in podman's words if one is unknown."""
    with contextlib.ExitStack() as stack:
        new, parent = stack.enter_context(_tree(runtime, target, kinds, parent=True))
        old = stack.enter_context(_tree(runtime, base, kinds))[0] if base else parent
        result = compare(_listing(old) if old else {}, _listing(new))
    return [c for c in result if c.path not in INIT_PATHS]


@contextlib.contextmanager
def _tree(runtime: Runtime, ref: str, kinds: Sequence[str], parent: bool = False
          ) -> Iterator[tuple[str, str]]:
    """The path of ``ref``'s tree and, with ``parent``, of its parent's ("" for none)."""
    error: PypodError | None = None
    if "image" in kinds:
        try:
            image = runtime.get_image(ref)
        except NoSuchImageError as exc:
            error = exc
        else:
            layers = [x.chain_id for x in image.layers]
            with contextlib.ExitStack() as stack:
                top = stack.enter_context(_layer_tree(runtime, layers[-1] if layers else None))
                below = ""
                if parent and len(layers) > 1:
                    below = stack.enter_context(_layer_tree(runtime, layers[-2]))
                yield top, below
            return
    if "container" in kinds:
        try:
            ctr = runtime.lookup_container(ref)
        except NoSuchCtrError as exc:
            error = exc
        else:
            with contextlib.ExitStack() as stack:
                below = ""
                if parent and ctr.config.image_id:
                    image = runtime.get_image(ctr.config.image_id)
                    below = stack.enter_context(_layer_tree(runtime, image.top_layer))
                yield stack.enter_context(_ctr_tree(ctr)), below
            return
    raise _not_found(ref, kinds, error)


def _not_found(ref: str, kinds: Sequence[str], error: PypodError | None) -> PypodError:
    """podman's words: the last lookup's error after ``REF not found:``."""
    if list(kinds) == ["image"]:
        return NoSuchImageError(f"{ref} not found: {ref}: image not known")
    if list(kinds) == ["container"]:
        return NoSuchCtrError(f"{ref} not found: container not known")
    return NoSuchImageError(f"{ref} not found: layer not known") if error else \
        NoSuchImageError(f"{ref} not found")


@contextlib.contextmanager
def _layer_tree(runtime: Runtime, layer: str | None) -> Iterator[str]:
    """The layer's files (with its parents') as a tree: a rootfs of its own on the
    layer, mounted while the block runs, removed after ("" for no layer: nothing)."""
    if layer is None:
        yield ""
        return
    driver = runtime.graph_driver
    rootfs_id = f"pypod-diff-{os.urandom(8).hex()}"
    driver.create_rootfs(rootfs_id, layer)
    try:
        yield driver.mount(rootfs_id)
    finally:
        driver.remove_rootfs(rootfs_id)


@contextlib.contextmanager
def _ctr_tree(ctr: Container) -> Iterator[str]:
    """The container's rootfs: where it is readable now, or mounted for the moment."""
    from pypod_core.engine import rootfs  # lazy: only a container's diff (~1 ms)

    with ctr.locked():
        path = rootfs.readable_path(ctr)
        if path:
            yield path
            return
        with rootfs.mounted(ctr) as mounted:
            yield mounted


def _listing(root: str) -> dict[str, _Meta]:
    """Every entry under ``root`` by its absolute path in the tree."""
    found: dict[str, _Meta] = {}
    if not root:
        return found

    def walk(directory: str, prefix: str) -> None:
        with os.scandir(directory) as it:
            entries = list(it)
        for entry in entries:
            path = f"{prefix}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            link = os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else ""
            found[path] = _Meta(stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                st.st_uid, st.st_gid,
                                0 if stat.S_ISDIR(st.st_mode) else st.st_size,
                                st.st_mtime_ns, st.st_rdev, link)
            if stat.S_ISDIR(st.st_mode):
                walk(entry.path, path)

    walk(root, "")
    return found


def _same_time(a: int, b: int) -> bool:
    """containers/storage's ``sameFsTime`` (equal, or equal seconds where one side has
    no sub-second part: a tar of whole seconds), and equal to the microsecond: a PAX
    tar written by Python's tarfile keeps no more (a committed layer's files)."""
    if abs(a - b) < 1000:
        return True
    return a // 10**9 == b // 10**9 and (a % 10**9 == 0 or b % 10**9 == 0)


def _differs(old: _Meta, new: _Meta) -> bool:
    return (old._replace(mtime_ns=0) != new._replace(mtime_ns=0)
            or not _same_time(old.mtime_ns, new.mtime_ns))


def compare(old: dict[str, _Meta], new: dict[str, _Meta]) -> list[Change]:
    """The changes from the listing ``old`` to ``new`` (see the module docstring),
    sorted by path."""
    found: dict[str, str] = {}
    for path, meta in new.items():
        before = old.get(path)
        if before is None:
            found[path] = "A"
        elif _differs(before, meta):
            found[path] = "C"
    for path in old:  # only the top of a deleted subtree
        parent = os.path.dirname(path)
        if path not in new and (parent == "/" or parent in new):
            found[path] = "D"
    for path, kind in list(found.items()):
        parent = os.path.dirname(path)
        if kind in "AD" and parent != "/" and parent not in found:
            found[parent] = "C"
    return [Change(kind, path) for path, kind in sorted(found.items())]
