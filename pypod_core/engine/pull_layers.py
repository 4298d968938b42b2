"""Storing the layers of an image being pulled, bottom up, by chain id.

The layers the graph driver has already are reported as skipped and not fetched.  The
others' blobs are downloaded on a few threads, bottom layer first, each verified
against its digest while it is written into the store (renamed into place once
verified).  Meanwhile the calling thread applies each layer as soon as its blob and the
layer below are there: the blob is read back, decompressed and checked against the
config's diff id as the driver extracts it.  So the download of the next layers runs
beside the decompression and extraction of this one (zlib, hashlib and the file writes
let go of the GIL; the extraction is a process of its own), and each layer is
decompressed once, into the driver: no uncompressed copy is written anywhere else.  A
diff id mismatch, found at the stream's end, fails the apply, so the driver keeps
nothing of the layer; the blob just fetched is deleted too: BlobDigestError naming the
blob, and neither blob nor layer stored.

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

from pypod_core.errors import (
    BlobDigestError,
    ImageFormatError,
    ImageStoreError,
    NoSuchLayerError,
)
from pypod_core.host.processes import pid_alive
from pypod_core.model import ImageLayer, PullStep
from pypod_core.plugin.graph_driver import chain_id

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
                fetcher.wait(i)
                size = _apply_fetched(plan, i, store, driver)
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


def _open_blob(path: str) -> BinaryIO:
    """The stored blob at ``path``; NoSuchLayerError if a concurrent removal took it
    (the pull then plans its layers again, and fetches it again)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise NoSuchLayerError(f"blob {os.path.basename(path)}: removed while it was "
                               f"being applied") from None


def _apply_blob(plan: LayerPlan, i: int, driver: GraphDriver, raw: Any) -> int:
    """Apply layer ``i`` from its blob's reader ``raw``, decompressed and checked
    against the layer's diff id as the driver reads it; the layer's uncompressed
    size."""
    # lazy: only a pull (the image contract ~17 ms)
    from pypod_core.plugin.image_transport import VerifiedReader, decompress

    desc = plan.descriptors[i]
    parent = plan.chain_ids[i - 1] if i else None
    with raw:
        tar = VerifiedReader(decompress(raw, desc.compression, what=f"layer {desc.digest}"),
                             plan.diff_ids[i], what=_diff_what(desc))
        with tar:
            return driver.apply_layer(plan.chain_ids[i], parent,
                                      tar).diff_size  # type: ignore[arg-type]


def _apply_fetched(plan: LayerPlan, i: int, store: ImageStore, driver: GraphDriver) -> int:
    """Apply layer ``i`` from the blob this pull has just downloaded and verified; if
    the layer is not what the config says (its diff id) or not valid compressed data,
    the blob goes too: an image that lies about a layer leaves nothing."""
    desc = plan.descriptors[i]
    # Not checked against its digest again: it was, as it was written (~1 ms a MB).
    path = store.blob_path(desc.digest)
    try:
        return _apply_blob(plan, i, driver, _open_blob(path))
    except (BlobDigestError, ImageFormatError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


def _apply_stored(source: ImageSource, plan: LayerPlan, i: int, store: ImageStore,
                  driver: GraphDriver, retries: int) -> int:
    """Apply layer ``i`` from a blob the store has already (a killed pull's, or
    another image's), checked again while it is read: a damaged one is fetched
    afresh."""
    # lazy: only a pull (the image contract ~17 ms)
    from pypod_core.plugin.image_transport import VerifiedReader

    desc = plan.descriptors[i]
    path = store.blob_path(desc.digest)
    raw = VerifiedReader(_open_blob(path), desc.digest, desc.size, what="stored blob")
    try:
        return _apply_blob(plan, i, driver, raw)
    except (BlobDigestError, ImageFormatError):
        if raw.verified:
            raise  # the blob is what its digest says: the image itself is wrong
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    _download(source, desc, path, retries, None)
    return _apply_fetched(plan, i, store, driver)


# -- downloading ---------------------------------------------------------------------


class _Cancelled(Exception):
    """Ends a download early: the pull failed elsewhere."""


class _Fetcher:
    """Downloads the blobs of the layers ``indexes`` of ``plan`` on background
    threads, in order, while the caller applies those that arrived.  :meth:`wait`
    returns once a layer's blob is stored, or raises the first download error; leaving
    the ``with`` block stops the downloads still running and waits for their threads
    (the blobs they stored stay: whole and verified, the next pull reuses them)."""

    def __init__(self, source: ImageSource, plan: LayerPlan, indexes: Sequence[int],
                 store: ImageStore, report: Report, retries: int, parallel: int):
        self._source = source
        self._plan = plan
        self._store = store
        self._report = report
        self._retries = retries
        self._todo = iter(list(indexes))
        self._done: set[int] = set()
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

    def wait(self, i: int) -> None:
        """Return once layer ``i``'s blob is stored; the first download error if any
        came."""
        with self._cond:
            while i not in self._done and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error

    def _work(self) -> None:
        while True:
            with self._cond:
                i = None if self._cancelled else next(self._todo, None)
            if i is None:
                return
            try:
                self._fetch(i)
            except BaseException as exc:  # handed to the waiting caller
                with self._cond:
                    if self._error is None and not isinstance(exc, _Cancelled):
                        self._error = exc
                    self._cancelled = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._done.add(i)
                self._cond.notify_all()

    def _fetch(self, i: int) -> None:
        desc = self._plan.descriptors[i]
        self._report(PullStep.BLOB, digest=desc.digest, total=desc.size)

        def progress(done: int) -> None:
            if self._cancelled:
                raise _Cancelled()
            self._report(PullStep.BLOB_PROGRESS, digest=desc.digest, total=desc.size,
                         done=done)

        _download(self._source, desc, self._store.blob_path(desc.digest), self._retries,
                  progress)


def _download(source: ImageSource, desc: BlobDescriptor, path: str, retries: int,
              progress: Callable[[int], None] | None) -> None:
    """Download the blob ``desc`` to ``path``, checked against its digest as it is
    written and renamed into place once verified; ``progress(bytes so far)`` after
    each piece.  A transient failure is tried again ``retries`` times."""
    partial = f"{path}.partial-{os.getpid()}-{threading.get_ident()}"
    for attempt in range(retries + 1):
        try:
            with _Out(partial) as out, source.open_blob(desc) as blob:
                done = 0
                while chunk := blob.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
            _Out.rename(partial, path)
            return
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
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
