"""The ``docker`` transport's write side: an image pushed to a repository of a registry,
as the OCI distribution spec's push.

- ``has_blob``: ``HEAD /v2/NAME/blobs/DIGEST``; when the repository lacks the blob and
  another repository of the same registry is known to have it (the blob locations that
  pulls and pushes record), a cross-repository mount (``POST
  /v2/NAME/blobs/uploads/?mount=DIGEST&from=OTHER``; 201 is done, 202 means the registry
  would not, and its upload session is cancelled).
- ``put_blob``: ``POST /v2/NAME/blobs/uploads/`` for a session, then either one ``PUT
  LOCATION?digest=`` with the whole blob (monolithic), or, for a large blob or one of
  unknown size, ``PATCH`` chunks with ``Content-Range`` and a ``PUT ?digest=`` without
  a body (chunked).  A chunk whose request fails transiently is resumed from the offset
  the registry reports (``GET`` of the session's ``Range``); a monolithic upload that
  fails transiently starts again in a new session (a session that took half a body
  cannot be trusted with the body again).  The bytes are hashed as they are sent and a
  blob whose content is not its digest is refused before it is committed.
- ``put_manifest``: ``PUT /v2/NAME/manifests/TAG`` (or ``/DIGEST`` for a reference by
  digest), last, so that an interrupted push leaves the registry without the image
  (blobs it took are kept: the next push skips them) and never a manifest whose blobs
  are missing.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from pypod_core.errors import BlobDigestError, ImageFormatError, PypodError, RegistryError
from pypod_core.host.reference import ImageReference
from pypod_core.plugin.image_transport import (
    BlobDescriptor,
    ImageDestination,
    Manifest,
    VerifiedReader,
    hasher,
)
from pypod_image_registry.blob_locations import BlobLocations
from pypod_image_registry.client import RegistryClient, TransientRegistryError

#: Blobs larger than this (or of unknown size) are uploaded in chunks of CHUNK_SIZE.
CHUNKED_ABOVE = 32 << 20
CHUNK_SIZE = 16 << 20


class RegistryDestination(ImageDestination):
    """One repository and tag (or digest) of a registry, written to."""

    transport = "docker"

    def __init__(self, ref: ImageReference, client: RegistryClient,
                 locations: BlobLocations, retries: int = 3):
        self.ref = ref
        self.reference = str(ref)
        self.client = client
        self.locations = locations
        self.retries = retries
        self.chunked_above = CHUNKED_ABOVE
        self.chunk_size = CHUNK_SIZE
        #: The digest of the manifest pushed (set by :meth:`put_manifest`).
        self.manifest_digest = ""
        #: How each blob got there: "present", "mounted", "monolithic" or "chunked".
        self.outcomes: dict[str, str] = {}

    # -- scopes and paths ----------------------------------------------------------------

    def _scope(self, *mount_from: str) -> str:
        return " ".join([f"repository:{self.ref.repository}:pull,push",
                         *(f"repository:{other}:pull" for other in mount_from)])

    def _uploads(self) -> str:
        return f"/v2/{self.ref.repository}/blobs/uploads/"

    # -- blobs -----------------------------------------------------------------------------

    def has_blob(self, descriptor: BlobDescriptor) -> bool:
        """Whether the repository has the blob, or now has it by a mount from another
        repository of the registry known to have it."""
        digest = descriptor.digest
        response = self.client.request(
            "HEAD", f"/v2/{self.ref.repository}/blobs/{digest}", scope=self._scope(),
            what=f"checking whether blob {digest} exists in {self.ref.name}",
            accept=(404,))
        response.read()
        length = response.getheader("Content-Length", "")
        if response.status != 404 and (descriptor.size < 0 or not length.isdigit()
                                       or int(length) == descriptor.size):
            self._done(digest, "present")
            return True
        for other in self.locations.repositories(digest, self.ref.registry):
            if other != self.ref.repository and self._mount(digest, other):
                self._done(digest, "mounted")
                return True
        return False

    def _mount(self, digest: str, other: str) -> bool:
        """Ask the registry to mount ``digest`` from the repository ``other``."""
        query = urllib.parse.urlencode({"mount": digest, "from": other})
        try:
            response = self.client.request(
                "POST", f"{self._uploads()}?{query}", {"Content-Length": "0"},
                body=b"", scope=self._scope(other),
                what=f"mounting blob {digest} from {other} into {self.ref.name}")
            response.read()
        except RegistryError:
            return False  # a mount is a shortcut: the upload will say what is wrong
        if response.status == 201:
            return True
        self._cancel(response.getheader("Location", ""))
        return False

    def put_blob(self, descriptor: BlobDescriptor, stream: BinaryIO, *,
                 progress: Callable[[int], None] | None = None) -> None:
        """Upload the blob read from ``stream`` (monolithic, or chunked when large or
        of unknown size), verified against its digest and size.  A transient failure
        is retried (from the registry's offset for a chunked upload; from the start,
        which needs a seekable stream, for a monolithic one)."""
        hasher(descriptor.digest)  # an unsupported algorithm fails before any request
        chunked = descriptor.size < 0 or descriptor.size > self.chunked_above
        start = _tell(stream)
        for attempt in range(self.retries + 1):
            location = ""
            try:
                location = self._start_upload(descriptor.digest)
                if chunked:
                    self._upload_chunked(descriptor, stream, location, progress)
                else:
                    self._upload_monolithic(descriptor, stream, start, location, progress)
                self._done(descriptor.digest, "chunked" if chunked else "monolithic")
                return
            except TransientRegistryError as exc:
                self._cancel(location)
                if attempt == self.retries or start is None:
                    raise RegistryError(f"{exc} (tried {attempt + 1} times)") from None
                stream.seek(start)
            except BaseException:
                self._cancel(location)
                raise

    def _start_upload(self, digest: str) -> str:
        response = self.client.request("POST", self._uploads(), {"Content-Length": "0"},
                                       body=b"", scope=self._scope(),
                                       what=f"starting the upload of blob {digest} to "
                                            f"{self.ref.name}")
        response.read()
        location = response.getheader("Location", "")
        if response.status != 202 or not location:
            raise RegistryError(f"{self.client.host}: starting the upload of blob {digest}"
                                f": HTTP {response.status} without an upload Location")
        return location

    def _upload_monolithic(self, descriptor: BlobDescriptor, stream: BinaryIO,
                           start: int | None, location: str,
                           progress: Callable[[int], None] | None) -> None:
        """One PUT with the whole blob; the registry and the reader check the digest."""
        sent = [False]

        def body() -> BinaryIO:
            if sent[0]:
                if start is None:
                    raise RegistryError(f"blob {descriptor.digest}: the upload must be "
                                        "sent again and its stream cannot rewind")
                stream.seek(start)
            sent[0] = True
            # Borrowed: a VerifiedReader closes its stream when it is collected, and
            # the caller's stream is the caller's (a retry reads it again).
            reader = VerifiedReader(_Borrowed(stream), descriptor.digest,  # type: ignore[arg-type]
                                    descriptor.size)
            return _Progress(reader, progress)  # type: ignore[return-value]

        response = self.client.request(
            "PUT", _with_query(location, digest=descriptor.digest),
            {"Content-Type": "application/octet-stream",
             "Content-Length": str(descriptor.size)}, body=body, scope=self._scope(),
            what=f"uploading blob {descriptor.digest} to {self.ref.name}", retries=0)
        response.read()

    def _upload_chunked(self, descriptor: BlobDescriptor, stream: BinaryIO,
                        location: str, progress: Callable[[int], None] | None) -> None:
        """PATCH chunks, then PUT the digest; a chunk that fails transiently is sent
        again from the offset the registry has."""
        digest = hasher(descriptor.digest)
        offset = 0
        pending = b""  # a chunk read but not yet acknowledged
        while True:
            if not pending:
                pending = stream.read(self.chunk_size)
                if not pending:
                    break
                digest.update(pending)
            for attempt in range(self.retries + 1):
                try:
                    location = self._patch(location, pending, offset, descriptor.digest)
                    break
                except TransientRegistryError as exc:
                    if attempt == self.retries:
                        raise RegistryError(f"{exc} (tried {attempt + 1} times)") \
                            from None
                    have = self._upload_offset(location)
                    if have == offset + len(pending):
                        break  # it arrived; only the answer was lost
                    if have != offset:
                        raise  # a part of a chunk: start the whole upload again
            offset += len(pending)
            pending = b""
            if progress is not None:
                progress(offset)
        got = f"{descriptor.digest.partition(':')[0]}:{digest.hexdigest()}"
        if got != descriptor.digest or 0 <= descriptor.size != offset:
            raise BlobDigestError(f"blob {descriptor.digest}: the content sent is {got} "
                                  f"({offset} bytes): refused")
        response = self.client.request(
            "PUT", _with_query(location, digest=descriptor.digest),
            {"Content-Length": "0"}, body=b"", scope=self._scope(),
            what=f"completing the upload of blob {descriptor.digest} to {self.ref.name}")
        response.read()

    def _patch(self, location: str, chunk: bytes, offset: int, digest: str) -> str:
        """One chunk; the session's next Location."""
        response = self.client.request(
            "PATCH", location, {"Content-Type": "application/octet-stream",
                                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                                "Content-Length": str(len(chunk))},
            body=chunk, scope=self._scope(), retries=0,
            what=f"uploading blob {digest} to {self.ref.name} (at byte {offset})")
        response.read()
        return response.getheader("Location", "") or location

    def _upload_offset(self, location: str) -> int:
        """How many bytes the upload session has (its ``Range: 0-END``)."""
        response = self.client.request("GET", location, scope=self._scope(),
                                       what=f"the upload status in {self.ref.name}")
        response.read()
        end = response.getheader("Range", "").rpartition("-")[2]
        # docker-registry says "0-0" for an empty session as for one byte: take it as
        # empty (a one-byte chunk is then refused, and the upload starts again).
        return int(end) + 1 if end.isdigit() and int(end) > 0 else 0

    def _cancel(self, location: str) -> None:
        """Drop an upload session (best effort: the registry expires them anyway)."""
        if not location:
            return
        try:
            response = self.client.request("DELETE", location, scope=self._scope(),
                                           what="cancelling an upload", accept=(404,),
                                           retries=0)
            response.read()
        except (PypodError, OSError, http.client.HTTPException):
            pass

    def _done(self, digest: str, how: str) -> None:
        self.outcomes[digest] = how
        self.locations.note(digest, self.ref.registry, self.ref.repository)

    # -- the manifest ----------------------------------------------------------------------

    def put_manifest(self, manifest: Manifest, *, names: Sequence[str] = ()) -> None:
        """PUT the manifest under the reference's tag, or its digest (which must be
        the manifest's).  ``names`` are not used: a registry names by its reference."""
        if self.ref.digest and self.ref.digest != manifest.digest:
            raise ImageFormatError(f"pushing to {self.reference}: the manifest's digest "
                                   f"is {manifest.digest}")
        target = self.ref.digest or self.ref.tag or "latest"
        response = self.client.request(
            "PUT", f"/v2/{self.ref.repository}/manifests/{target}",
            {"Content-Type": manifest.media_type}, body=manifest.raw, scope=self._scope(),
            what=f"writing manifest {target} to {self.ref.name}")
        response.read()
        said = response.getheader("Docker-Content-Digest", "")
        if said.startswith("sha256:") and manifest.digest.startswith("sha256:") \
                and said != manifest.digest:
            raise RegistryError(f"{self.client.host}: the registry stored manifest "
                                f"{target} as {said}, not {manifest.digest}")
        self.manifest_digest = manifest.digest

    def commit(self) -> None:
        """Nothing to make visible (the manifest PUT did); the locations are saved."""
        self.locations.flush()

    def close(self) -> None:
        self.locations.flush()
        self.client.close()


class _Progress:
    """A reader that tells ``progress`` the bytes read so far."""

    def __init__(self, raw: Any, progress: Callable[[int], None] | None):
        self._raw = raw
        self._progress = progress
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        if data and self._progress is not None:
            self._done += len(data)
            self._progress(self._done)
        return data


class _Borrowed:
    """A stream's reads, without its close."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def close(self) -> None:
        pass


def _tell(stream: BinaryIO) -> int | None:
    """Where a seekable stream is (to rewind to for a retry), or None."""
    try:
        return stream.tell() if stream.seekable() else None
    except (OSError, AttributeError, ValueError):
        return None


def _with_query(location: str, **params: str) -> str:
    """``location`` with ``params`` added to its query (it may have one: ``_state``)."""
    url = urllib.parse.urlsplit(location)
    query = "&".join(q for q in (url.query, urllib.parse.urlencode(params)) if q)
    return urllib.parse.urlunsplit((url.scheme, url.netloc, url.path, query, ""))

