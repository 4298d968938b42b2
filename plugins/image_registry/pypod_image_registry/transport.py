"""The ``docker`` transport: images in registries, named as registries.conf resolves them.

``DockerTransport.open_source(reference, options)`` parses the reference, finds where to
pull it from (mirrors first, then the registry, with ``location`` rewrites) and returns a
:class:`RegistrySource` that has fetched nothing yet; its manifest is fetched on first
use, from the first endpoint that has it.  ``open_destination(reference, options)``
returns a :class:`~pypod_image_registry.destination.RegistryDestination` (pushes go to
the registry named, never to a mirror or a ``location`` rewrite, as podman's);
``check_auth`` is ``login``'s check of credentials.  Both sides note which repositories
have which blobs (:mod:`pypod_image_registry.blob_locations`), so a push can mount a
blob from another repository of the registry.
"""

from __future__ import annotations

import hashlib
import http.client
from typing import BinaryIO

from pypod_core.errors import (
    ImageFormatError,
    InvalidArgError,
    NoSuchImageError,
    RegistryError,
)
from pypod_core.host import auth
from pypod_core.host.reference import DOCKER_HUB, ImageReference, parse_reference
from pypod_core.host.registries import (
    Endpoint,
    RegistriesConf,
    Resolution,
    load_registries,
    registries_conf_path,
    resolve_short_name,
)
from pypod_core.plugin.image_transport import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
    BlobDescriptor,
    ImageDestination,
    ImageSource,
    ImageTransport,
    Manifest,
    PullOptions,
    PushOptions,
    VerifiedReader,
    choose_platform,
    parse_index,
    sniff_media_type,
    verified_bytes,
)
from pypod_image_registry.blob_locations import BlobLocations
from pypod_image_registry.client import (
    TRANSIENT_ERRORS,
    RegistryClient,
    TransientRegistryError,
    abandon,
)

_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, *MANIFEST_TYPES[1:], *INDEX_TYPES[1:]))


class DockerTransport(ImageTransport):
    """Registries (``docker://``): the OCI distribution spec over http(s)."""

    name = "docker"

    def __init__(self, registries_conf: str = "", blob_locations: str = ""):
        self.registries_conf = registries_conf
        #: The file recording which repositories have which blobs ("": memory only).
        self.blob_locations = blob_locations
        self._locations: BlobLocations | None = None

    def locations(self) -> BlobLocations:
        """The transport's record of blob locations (one per transport object)."""
        if self._locations is None:
            self._locations = BlobLocations(self.blob_locations)
        return self._locations

    def registries(self, options: PullOptions | PushOptions) -> RegistriesConf:
        """The registries.conf that applies (the options', else the transport's)."""
        return load_registries(registries_conf_path(
            options.registries_conf or self.registries_conf))

    def candidates(self, reference: str, options: PullOptions, *,
                   tty: bool = False) -> Resolution:
        """Short names resolved through registries.conf (aliases, search registries,
        short-name-mode); a fully qualified name is itself, with ``latest`` added."""
        return resolve_short_name(reference, self.registries(options), tty=tty)

    def _open(self, reference: str, options: PullOptions) -> RegistrySource:
        ref = parse_reference(reference)
        if not ref.qualified:
            raise InvalidArgError(
                f"{reference!r} is a short name: resolve it with candidates() first")
        ref = ref.with_default_tag()
        conf = self.registries(options)
        endpoints = conf.endpoints(ref)
        creds = auth.parse_creds(options.creds) if options.creds else None
        return RegistrySource(ref, endpoints, options, creds, self.locations())

    def open_destination(self, reference: str, options: PushOptions
                         ) -> ImageDestination:
        """The repository ``reference`` names (a short name is Docker Hub's, as the
        docker transport's references are; ``latest`` when it has no tag), with
        registries.conf's ``insecure`` and ``blocked`` and the push scope."""
        # lazy: only push (the upload code ~4 ms)
        from pypod_image_registry.destination import RegistryDestination

        ref = parse_reference(reference)
        if not ref.qualified:
            ref = ref.on_registry(DOCKER_HUB)
        ref = ref.with_default_tag()
        conf = self.registries(options)
        registry = conf.registry_for(ref)
        if registry is not None and registry.blocked:
            raise RegistryError(f"registry {ref.registry} is blocked in "
                                f"{conf.path or 'registries.conf'}")
        insecure = (bool(registry and registry.insecure) if options.tls_verify is None
                    else not options.tls_verify)
        creds = (auth.parse_creds(options.creds) if options.creds
                 else auth.lookup(ref.name, options.authfile))
        client = RegistryClient(ref.registry, insecure=insecure, credentials=creds,
                                retries=options.retries, cert_dir=options.cert_dir)
        return RegistryDestination(ref, client, self.locations(), options.retries)

    def check_auth(self, registry: str, credentials: auth.Credentials | None, *,
                   tls_verify: bool | None = None, registries_conf: str = "",
                   cert_dir: str = "") -> None:
        """``GET /v2/`` of ``registry`` (a host) with ``credentials``, through its
        authentication challenge (Basic, or a token from the realm); returns when the
        registry accepts them (or wants none).  RegistryUnauthorizedError when it
        refuses them, RegistryError when it cannot be reached."""
        conf = self.registries(PullOptions(registries_conf=registries_conf))
        insecure = conf.insecure(registry) if tls_verify is None else not tls_verify
        client = RegistryClient(registry, insecure=insecure, credentials=credentials,
                                cert_dir=cert_dir)
        try:
            client.get("/v2/", what=f"pinging container registry {registry}").read()
        finally:
            client.close()


class RegistrySource(ImageSource):
    """One image in a registry (or one of its mirrors)."""

    transport = "docker"

    def __init__(self, ref: ImageReference, endpoints: list[Endpoint], options: PullOptions,
                 creds: auth.Credentials | None, locations: BlobLocations | None = None):
        self.ref = ref
        self.reference = str(ref)
        self._endpoints = endpoints
        self._options = options
        self._creds = creds
        self._clients: dict[str, RegistryClient] = {}
        self._served: tuple[RegistryClient, ImageReference] | None = None
        self._manifest: Manifest | None = None
        self._index: Manifest | None = None
        self._locations = locations or BlobLocations()

    def _client(self, endpoint: Endpoint) -> RegistryClient:
        host = endpoint.reference.registry
        if host not in self._clients:
            tls_verify = self._options.tls_verify
            insecure = endpoint.insecure if tls_verify is None else not tls_verify
            creds = self._creds or auth.lookup(endpoint.reference.name,
                                               self._options.authfile)
            self._clients[host] = RegistryClient(
                host, insecure=insecure, credentials=creds, retries=self._options.retries,
                cert_dir=self._options.cert_dir)
        return self._clients[host]

    # -- manifests -------------------------------------------------------------------

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._resolve()
        return self._manifest

    def index(self) -> Manifest | None:
        self.manifest()
        return self._index

    def _resolve(self) -> Manifest:
        """The top manifest from the first endpoint that has it, then the platform's."""
        errors: list[str] = []
        top: Manifest | None = None
        for endpoint in self._endpoints:
            client = self._client(endpoint)
            ref = endpoint.reference
            try:
                top = self._fetch_manifest(client, ref, ref.digest or ref.tag)
            except (RegistryError, NoSuchImageError) as exc:
                if not endpoint.mirror:
                    if errors:
                        raise type(exc)(f"{exc} (mirrors: {'; '.join(errors)})") from None
                    raise
                errors.append(str(exc))
                continue
            self._served = (client, ref)
            break
        assert top is not None and self._served is not None
        if top.media_type in INDEX_TYPES:
            self._index = top
            entry = choose_platform(parse_index(top), self._options.platform,
                                    f"docker://{self.reference}")
            top = self._fetch_manifest(self._served[0], self._served[1], entry.digest)
            if top.media_type in INDEX_TYPES:
                raise ImageFormatError(f"{self.reference}: an index inside an index")
        return top

    def _fetch_manifest(self, client: RegistryClient, ref: ImageReference,
                        tag_or_digest: str) -> Manifest:
        what = f"reading manifest {tag_or_digest} in {ref.name}"
        response = client.get(f"/v2/{ref.repository}/manifests/{tag_or_digest}",
                              {"Accept": _ACCEPT}, scope=_scope(ref), what=what)
        raw = _read_limited(response, MAX_MANIFEST_SIZE, what)
        media_type = sniff_media_type(raw, response.getheader("Content-Type", ""))
        if tag_or_digest.startswith(("sha256:", "sha512:")):
            digest = tag_or_digest
            verified_bytes(raw, digest, f"manifest of {ref}")
        else:
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            header = response.getheader("Docker-Content-Digest", "")
            if header.startswith("sha256:") and header != digest:
                raise ImageFormatError(f"{what}: the registry says its digest is {header}, "
                                       f"its content's is {digest}")
        return Manifest(raw, media_type, digest)

    # -- blobs -----------------------------------------------------------------------

    def open_blob(self, descriptor: BlobDescriptor) -> BinaryIO:
        self.manifest()
        assert self._served is not None
        client, ref = self._served
        response = client.get(f"/v2/{ref.repository}/blobs/{descriptor.digest}",
                              scope=_scope(ref), what=f"fetching blob {descriptor.digest}")
        # The registry has it there: a push to another of its repositories may mount it.
        self._locations.note(descriptor.digest, ref.registry, ref.repository)
        raw: BinaryIO = _ReadErrors(response, client.host)  # type: ignore[assignment]
        return VerifiedReader(raw, descriptor.digest,
                              descriptor.size)  # type: ignore[return-value]

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, (TransientRegistryError, *TRANSIENT_ERRORS))

    def close(self) -> None:
        self._locations.flush()
        for client in self._clients.values():
            client.close()


_READ_ERRORS: tuple[type[Exception], ...] = (OSError, *TRANSIENT_ERRORS)


class _ReadErrors:
    """A response whose read errors become TransientRegistryError (so a blob whose
    download broke off is fetched again)."""

    def __init__(self, response: http.client.HTTPResponse, host: str):
        self._response = response
        self._host = host

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._response.read(size)
        except _READ_ERRORS as exc:
            raise TransientRegistryError(f"{self._host}: reading a blob: {exc}") from exc
        # http.client ends a body cut short by the server as if it were complete.
        if not data and size != 0 and (self._response.length or 0) > 0:
            raise TransientRegistryError(f"{self._host}: the connection closed "
                                         f"{self._response.length} bytes before the blob's end")
        return data

    def close(self) -> None:
        abandon(self._response)


def _scope(ref: ImageReference) -> str:
    return f"repository:{ref.repository}:pull"


def _read_limited(response: http.client.HTTPResponse, limit: int, what: str) -> bytes:
    raw = response.read(limit + 1)
    if len(raw) > limit:
        abandon(response)
        raise ImageFormatError(f"{what}: manifest larger than {limit} bytes")
    return raw

