"""Storing the layers of an image being pulled, bottom up, by chain id.

The layers the graph driver has already are reported as skipped and not fetched.  The
others' blobs are downloaded on a few threads, bottom layer first; each download is
verified against the blob's digest and, decompressed as it arrives, against the
config's diff id, writing the blob into the store (renamed into place once verified)
and the uncompressed tar beside it.  Meanwhile the calling thread applies each layer as
soon as its tar and the layer below are there, and deletes the tar.  So decompression
and hashing (zlib and hashlib let go of the GIL) run beside the extraction, and the
driver only ever sees a verified tar: a digest or diff id mismatch raises
BlobDigestError naming the blob and leaves neither blob nor layer.

A killed pull leaves at most ``<blob>.partial-<pid>-...`` files, which the next pull
removes (:func:`remove_stale_partials`), whole blobs, which it reuses (checked again
while applied), and whole layers.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from pypod_core.errors import BlobDigestError, ImageFormatError, ImageStoreError
from pypod_core.host.processes import pid_alive
from pypod_core.model import ImageLayer, PullStep

if TYPE_CHECKING:
    from pypod_core.engine.image_store import ImageStore
    from pypod_core.plugin.graph_driver import GraphDriver
    from pypod_core.plugin.image_transport import BlobDescriptor, ImageSource

#: Bytes read from the registry and written at a time (small: a few threads each hold
#: a couple of buffers, and a pull should stay within tens of MB).
CHUNK = 256 << 10
#: Downloads at once.  The registry is rarely the bottleneck here: decompression and
#: hashing are, and a couple of threads keep them beside the extraction; more threads
#: only delay the bottom layer the extraction waits for.
PARALLEL = 2

Report = Callable[..., None]


@attrs.frozen
class LayerPlan:
    """An image's layers as its manifest and config name them, their chain ids, and
    how many of the bottom ones the driver has (a stored layer's parents are stored:
    the driver refuses to remove a parent)."""

    descriptors: tuple[BlobDescriptor, ...]
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    present: int


def plan_layers(driver: GraphDriver, descriptors: Sequence[BlobDescriptor],
                diff_ids: Sequence[str]) -> LayerPlan:
    """The :class:`LayerPlan` of an image, asking ``driver`` what it has."""
    from pypod_core.plugin.graph_driver import chain_id

    chains: list[str] = []
    parent = None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        chains.append(parent)
    present = next((i + 1 for i in reversed(range(len(chains)))
                    if driver.has_layer(chains[i])), 0)
    return LayerPlan(tuple(descriptors), tuple(diff_ids), tuple(chains), present)


def store_layers(source: ImageSource, plan: LayerPlan, store: ImageStore,
                 driver: GraphDriver, report: Report, *, retries: int = 3,
                 parallel: int = PARALLEL) -> list[ImageLayer]:
    """Store the layers of ``plan`` not stored yet; all the image's layers, bottom
    first.  ``report(step, **fields)`` is told of each blob (PullEvent fields)."""
    result = []
    for i in range(plan.present):
        desc = plan.descriptors[i]
        report(PullStep.BLOB, digest=desc.digest, total=desc.size, skipped=True)
        result.append(_layer(plan, i, driver.layer(plan.chain_ids[i]).diff_size))
        report(PullStep.BLOB_DONE, digest=desc.digest, total=desc.size, skipped=True)
    todo = range(plan.present, len(plan.descriptors))
    stored = {i for i in todo if os.path.exists(store.blob_path(plan.descriptors[i].digest))}
    fetch = [i for i in todo if i not in stored]
    with _Fetcher(source, plan, fetch, store, report, retries, parallel) as fetcher:
        for i in todo:
            desc = plan.descriptors[i]
            if i in stored:
                report(PullStep.BLOB, digest=desc.digest, total=desc.size)
                size = _apply_stored(source, plan, i, store, driver, retries)
            else:
                size = _apply_tar(plan, i, driver, fetcher.wait(i))
            result.append(_layer(plan, i, size))
            report(PullStep.BLOB_DONE, digest=desc.digest, total=desc.size)
    return result


def remove_stale_partials(store: ImageStore) -> None:
    """Delete the partial downloads of pulls whose process is gone (killed)."""
    directory = os.path.join(store.blob_dir, "sha256")
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return
    for entry in entries:
        _, sep, rest = entry.partition(".partial-")
        pid = rest.partition("-")[0]
        if sep and pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))


def _layer(plan: LayerPlan, i: int, diff_size: int) -> ImageLayer:
    desc = plan.descriptors[i]
    return ImageLayer(digest=desc.digest, size=desc.size, media_type=desc.media_type,
                      diff_id=plan.diff_ids[i], chain_id=plan.chain_ids[i],
                      diff_size=diff_size)


def _diff_what(desc: BlobDescriptor) -> str:
    return f"layer {desc.digest}: diff ID"


# -- applying ------------------------------------------------------------------------


@attrs.frozen
class _Tar:
    """A downloaded layer, verified: the file holding its uncompressed tar, and
    whether that file is a temporary one to delete once applied."""

    path: str
    temporary: bool


def _apply_tar(plan: LayerPlan, i: int, driver: GraphDriver, tar: _Tar) -> int:
    """Apply layer ``i`` from its verified tar; the layer's uncompressed size."""
    parent = plan.chain_ids[i - 1] if i else None
    try:
        with open(tar.path, "rb") as stream:
            return driver.apply_layer(plan.chain_ids[i], parent, stream).diff_size
    finally:
        if tar.temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tar.path)


def _apply_stored(source: ImageSource, plan: LayerPlan, i: int, store: ImageStore,
                  driver: GraphDriver, retries: int) -> int:
    """Apply layer ``i`` from a blob the store has already (a killed pull's, or
    another image's), checked again while it is read: a damaged one is fetched
    afresh."""
    from pypod_core.plugin.image_transport import VerifiedReader, decompress

    desc = plan.descriptors[i]
    path = store.blob_path(desc.digest)
    parent = plan.chain_ids[i - 1] if i else None
    raw = VerifiedReader(open(path, "rb"), desc.digest, desc.size, what="stored blob")
    try:
        tar = VerifiedReader(decompress(raw, desc.compression,  # type: ignore[arg-type]
                                        what=f"layer {desc.digest}"),
                             plan.diff_ids[i], what=_diff_what(desc))
        with tar:
            return driver.apply_layer(plan.chain_ids[i], parent,
                                      tar).diff_size  # type: ignore[arg-type]
    except (BlobDigestError, ImageFormatError):
        if raw.verified:
            raise  # the blob is what its digest says: the image itself is wrong
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return _apply_tar(plan, i, driver, _download(source, desc, plan.diff_ids[i], path,
                                                 retries, None))


# -- downloading ---------------------------------------------------------------------


class _Cancelled(Exception):
    """Ends a download early: the pull failed elsewhere."""


class _Fetcher:
    """Downloads the layers ``indexes`` of ``plan`` on background threads, in order,
    while the caller applies those that arrived.  :meth:`wait` returns a layer's tar
    when it is there, or raises the first download error; leaving the ``with`` block
    stops the downloads still running, waits for their threads and deletes the tars
    not applied."""

    def __init__(self, source: ImageSource, plan: LayerPlan, indexes: Sequence[int],
                 store: ImageStore, report: Report, retries: int, parallel: int):
        self._source = source
        self._plan = plan
        self._store = store
        self._report = report
        self._retries = retries
        self._todo = iter(list(indexes))
        self._done: dict[int, _Tar] = {}
        self._error: BaseException | None = None
        self._cancelled = False
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name="pypod-pull-fetch")
                         for _ in range(min(parallel, len(indexes)))]

    def __enter__(self) -> _Fetcher:
        if self._threads:
            directory = os.path.join(self._store.blob_dir, "sha256")
            try:
                os.makedirs(directory, 0o700, exist_ok=True)
            except OSError as exc:
                raise _store_error(directory, exc) from None
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._cancelled = True
        for thread in self._threads:
            thread.join()
        for tar in self._done.values():  # fetched, never applied (an error came first)
            if tar.temporary:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tar.path)

    def wait(self, i: int) -> _Tar:
        """Layer ``i``'s verified tar (the caller now owns it); the first download
        error if any came."""
        with self._cond:
            while i not in self._done and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return self._done.pop(i)

    def _work(self) -> None:
        while True:
            with self._cond:
                i = None if self._cancelled else next(self._todo, None)
            if i is None:
                return
            try:
                tar = self._fetch(i)
            except BaseException as exc:  # handed to the waiting caller
                with self._cond:
                    if self._error is None and not isinstance(exc, _Cancelled):
                        self._error = exc
                    self._cancelled = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._done[i] = tar
                self._cond.notify_all()

    def _fetch(self, i: int) -> _Tar:
        desc = self._plan.descriptors[i]
        self._report(PullStep.BLOB, digest=desc.digest, total=desc.size)

        def progress(done: int) -> None:
            if self._cancelled:
                raise _Cancelled()
            self._report(PullStep.BLOB_PROGRESS, digest=desc.digest, total=desc.size,
                         done=done)

        return _download(self._source, desc, self._plan.diff_ids[i],
                         self._store.blob_path(desc.digest), self._retries, progress)


def _download(source: ImageSource, desc: BlobDescriptor, diff_id: str, path: str,
              retries: int, progress: Callable[[int], None] | None) -> _Tar:
    """Download the layer blob ``desc`` to ``path`` (renamed into place once
    verified) and, unless it is uncompressed, its tar beside it; check the tar against
    ``diff_id``.  A transient failure is tried again ``retries`` times."""
    from pypod_core.plugin.image_transport import VerifiedReader, decompress

    partial = f"{path}.partial-{os.getpid()}-{threading.get_ident()}"
    plain = desc.compression == "none"
    tar_path = path if plain else f"{partial}-tar"
    for attempt in range(retries + 1):
        try:
            with _Out(f"{partial}-blob") as blob_out, \
                    (contextlib.nullcontext() if plain else _Out(tar_path)) as tar_out:
                tee = _Tee(source.open_blob(desc), blob_out, progress)
                tar = VerifiedReader(decompress(tee, desc.compression,  # type: ignore[arg-type]
                                                what=f"layer {desc.digest}"),
                                     diff_id, what=_diff_what(desc))
                with tar:
                    while chunk := tar.read(CHUNK):
                        if tar_out is not None:
                            tar_out.write(chunk)
            _Out.rename(f"{partial}-blob", path)
            return _Tar(tar_path, temporary=not plain)
        except BaseException as exc:
            for leftover in (f"{partial}-blob", f"{partial}-tar"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
            if attempt == retries or not source.is_transient(exc):
                raise
    raise AssertionError("unreachable")


class _Out:
    """A file being written into the store; its errors (a full or read-only file
    system) are ImageStoreError naming it."""

    def __init__(self, path: str):
        self._path = path
        try:
            self._file = open(path, "wb")
        except OSError as exc:
            raise _store_error(path, exc) from None

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise _store_error(self._path, exc) from None

    def __enter__(self) -> _Out:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._file.close()
        except OSError as error:
            raise _store_error(self._path, error) from None

    @staticmethod
    def rename(path: str, target: str) -> None:
        try:
            os.replace(path, target)
        except OSError as exc:
            raise _store_error(target, exc) from None


def _store_error(path: str, exc: OSError) -> ImageStoreError:
    return ImageStoreError(f"image store: writing {path}: {exc.strerror or exc}")


class _Tee:
    """Reads a blob's (verifying) stream, at most CHUNK bytes a call, writing what it
    reads to ``out`` and telling ``progress`` how many bytes came so far."""

    def __init__(self, stream: BinaryIO, out: _Out,
                 progress: Callable[[int], None] | None):
        self._stream = stream
        self._out = out
        self._progress = progress
        self._count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if 0 < size <= CHUNK else CHUNK)
        if data:
            self._out.write(data)
            self._count += len(data)
            if self._progress is not None:
                self._progress(self._count)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()

    @property
    def closed(self) -> bool:
        return bool(getattr(self._stream, "closed", False))
