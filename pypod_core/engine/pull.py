"""The engine's pull: an image from a transport into the image store (libimage's
``Runtime.Pull`` with containers/image's copy into storage).

:func:`pull_image` does, in order:

1. the pull policy (``always``, ``missing``, ``newer``, ``never``), against the local
   image the reference names, as podman's ``--pull`` (a custom platform makes
   ``missing`` ``newer``, since an image's platform may be wrong);
2. the candidates: a short name resolved by the transport (aliases, search registries,
   short-name-mode); each is tried in turn, the next one after a failure, and when all
   fail the error names each (``N errors occurred while pulling: ...``);
3. per candidate: the signature policy (before anything of the image is fetched), the
   manifest (the platform's, from an index), the config and its diff ids;
4. the layers, bottom up, by chain id: a layer the graph driver has already is not
   fetched (``skipped``); the others' blobs are fetched in parallel into the store's
   blobs, each verified against its digest, and applied as soon as it and the layer
   below are there, its uncompressed stream checked against the config's diff id while
   the driver extracts it (a mismatch aborts that layer: nothing of it is stored);
5. the config, manifest and index blobs, then the record, last, under the fully
   qualified name pulled (``registry/repo:tag``; by digest ``registry/repo@digest``),
   with the manifest's digest and the index's in ``digests``.  A layer that vanished
   before the record was written (a concurrent ``rmi``) is applied again.

A pull killed at any point leaves no record; the blobs and layers it stored are whole
(each is renamed into place complete) and the next pull reuses them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.errors import (
    ImageError,
    ImageFormatError,
    ImageStoreError,
    InternalError,
    InvalidArgError,
    NoSuchImageError,
    NoSuchLayerError,
    PolicyError,
    PypodError,
    ShortNameError,
)
from pypod_core.model import Image, ImageLayer, PullEvent, PullStep

if TYPE_CHECKING:
    from pypod_core.engine.image_store import ImageStore
    from pypod_core.engine.runtime import Runtime
    from pypod_core.host.policy import Policy
    from pypod_core.plugin.graph_driver import GraphDriver
    from pypod_core.plugin.image_transport import (
        ImageSource,
        ImageTransport,
        Platform,
        PullOptions,
    )

#: The pull policies: podman's ``--pull`` values.
PULL_POLICIES = ("always", "missing", "newer", "never")
#: How often a record is tried again when a layer it names vanished meanwhile.
_COMMIT_TRIES = 3
_HEX = frozenset("0123456789abcdef")

Progress = Callable[[PullEvent], None]
Chooser = Callable[[Sequence[str]], str]


def pull_image(runtime: Runtime, ref: str, *, platform: Platform | str | None = None,
               tls_verify: bool | None = None, authfile: str = "", creds: str = "",
               policy: str = "always", progress: Progress | None = None, tty: bool = False,
               choose: Chooser | None = None, signature_policy: str = "",
               cert_dir: str = "") -> Image:
    """Pull ``ref`` into ``runtime``'s image store and return its record (see the
    module docstring; :meth:`pypod_core.engine.runtime_img.ImageOps.pull_image` says
    what each argument means)."""
    # lazy: only a pull (the image contract ~17 ms)
    from pypod_core.plugin.image_transport import Platform, PullOptions

    _check_args(ref, platform, tls_verify, authfile, creds, policy, progress, choose,
                signature_policy, cert_dir)
    backend, rest = runtime.plugins.transport_for(ref)
    wanted = platform if isinstance(platform, Platform) else Platform.choose(platform or "")
    custom = bool(platform)
    local = _local_image(runtime.image_store, rest) if backend.name == "docker" else None
    if custom and policy == "missing":
        policy = "newer"  # the local image's platform may be wrong: ask the registry
    if policy == "never" or (policy == "missing" and local is not None):
        if local is None:
            raise NoSuchImageError(f"{rest}: image not known")
        return local
    if local is not None and _is_id_of(rest, local):
        if policy == "always":
            raise InvalidArgError(f"pull policy is always but image has been referred to "
                                  f"by ID ({rest})")
        return local
    target = _local_name(local, rest) if local is not None and not custom else rest
    transport: ImageTransport = runtime.plugins.build("image_transport", backend.name,
                                                      runtime)
    from pypod_core.engine.pull_layers import PARALLEL  # lazy: a local hit needs none

    options = PullOptions(platform=wanted, tls_verify=tls_verify, authfile=authfile,
                          creds=creds, parallel=PARALLEL, cert_dir=cert_dir)
    newer = local if policy == "newer" else None
    try:
        candidates = _candidates(transport, target, options, tty, choose)
    except ImageError:
        if newer is not None:
            return newer
        raise
    # The graph driver (in a fresh store: a probe mount) is made while the registry
    # answers; it is first needed once the manifest and config are there.
    driver = _Background(lambda: runtime.graph_driver)
    try:
        pull = _Pull(runtime, transport, options, _load_policy(runtime, signature_policy),
                     _Reporter(progress), driver)
        errors: list[tuple[str, PypodError]] = []
        for candidate in candidates:
            try:
                image = pull.candidate(candidate, newer)
            except (ImageStoreError, InvalidArgError):
                raise  # local trouble: another registry will not help
            except ImageError as exc:
                errors.append((candidate, exc))
                continue
            if image is None:  # "newer", and the registry has what we have
                continue
            return image
    finally:
        driver.join()
    if newer is not None:
        return newer
    raise _pull_errors(errors)


def _check_args(ref: Any, platform: Any, tls_verify: Any, authfile: Any, creds: Any,
                policy: Any, progress: Any, choose: Any, signature_policy: Any,
                cert_dir: Any = "") -> None:
    """InvalidArgError naming the first argument of the wrong type or value."""
    # lazy: only a pull (the image contract ~17 ms)
    from pypod_core.plugin.image_transport import Platform

    if not isinstance(ref, str) or not ref:
        raise InvalidArgError("pull: an image reference is required")
    if platform is not None and not isinstance(platform, (str, Platform)):
        raise InvalidArgError(f"pull: platform must be a Platform or 'os/arch[/variant]', "
                              f"not {platform!r}")
    if tls_verify is not None and not isinstance(tls_verify, bool):
        raise InvalidArgError(f"pull: tls_verify must be True, False or None, not "
                              f"{tls_verify!r}")
    for name, value in (("authfile", authfile), ("creds", creds),
                        ("signature_policy", signature_policy), ("cert_dir", cert_dir)):
        if not isinstance(value, str):
            raise InvalidArgError(f"pull: {name} must be a string, not {value!r}")
    if policy not in PULL_POLICIES:
        raise InvalidArgError(f"pull: unknown pull policy {policy!r} (one of "
                              f"{', '.join(PULL_POLICIES)})")
    for name, value in (("progress", progress), ("choose", choose)):
        if value is not None and not callable(value):
            raise InvalidArgError(f"pull: {name} must be callable, not {value!r}")
    if authfile and not os.path.exists(authfile):
        raise InvalidArgError(f"credential file is not accessible: stat {authfile}: no such "
                              f"file or directory")


def _local_image(store: ImageStore, ref: str) -> Image | None:
    """The stored image ``ref`` names, or None."""
    try:
        return store.get(ref)
    except NoSuchImageError:
        return None


def _is_id_of(ref: str, image: Image) -> bool:
    bare = ref.removeprefix("sha256:")
    return bool(bare) and set(bare) <= _HEX and image.id.startswith(bare)


def _local_name(image: Image, ref: str) -> str:
    """The fully qualified name of ``image`` that the short name ``ref`` matched (so
    the pull goes where the image came from, as podman's); ``ref`` itself if it is
    qualified or matched none."""
    from pypod_core.host.reference import parse_reference  # lazy: only a pull (~1.1 ms)

    try:
        wanted = parse_reference(ref)
    except InvalidArgError:
        return ref
    if wanted.qualified:
        return ref
    for name in image.names:
        named = parse_reference(name)
        if named.name != wanted.name and not named.name.endswith("/" + wanted.name):
            continue
        if wanted.digest:
            return f"{named.name}@{wanted.digest}"
        if named.tag == (wanted.tag or "latest"):
            return f"{named.name}:{named.tag}"
    return ref


def _candidates(transport: ImageTransport, ref: str, options: PullOptions, tty: bool,
                choose: Chooser | None) -> tuple[str, ...]:
    """The references to try for ``ref``; with several to choose from on a terminal
    (enforcing mode, ``tty``), the one ``choose`` picks."""
    resolution = transport.candidates(ref, options, tty=tty)
    if not resolution.prompt:
        return resolution.candidates
    if choose is None:
        raise ShortNameError(f'short-name resolution enforced: "{ref}" has several '
                             f'candidates ({", ".join(resolution.candidates)}) and no '
                             f"choose= callable was given to pick one")
    chosen = choose(resolution.candidates)
    if chosen not in resolution.candidates:
        raise ShortNameError(f"{chosen!r} is not one of the candidates for {ref!r}")
    return (chosen,)


def _load_policy(runtime: Runtime, override: str) -> Policy:
    from pypod_core.host.policy import load_policy, policy_path  # lazy: only a pull (~1 ms)

    return load_policy(policy_path(override or runtime.config.signature_policy))


def _pull_errors(errors: list[tuple[str, PypodError]]) -> PypodError:
    """One error for the failed candidates: the error itself for one, else podman's
    ``N errors occurred while pulling`` naming each, of the most specific class they
    share (NoSuchImageError when no candidate had the image)."""
    if not errors:
        return InternalError("no image pulled and no error recorded")
    if len(errors) == 1:
        return errors[0][1]
    kind: type[PypodError] = ImageError
    for cls in type(errors[0][1]).__mro__:
        if issubclass(cls, PypodError) and all(isinstance(e, cls) for _, e in errors):
            kind = cls
            break
    listed = "; ".join(f"* {exc}" for _, exc in errors)
    return kind(f"{len(errors)} errors occurred while pulling: {listed}")


class _Reporter:
    """Calls the ``progress`` callable with PullEvents, one call at a time (the pull's
    download threads report too)."""

    def __init__(self, progress: Progress | None):
        self._progress = progress
        self._lock = threading.Lock()

    def __call__(self, step: PullStep, **fields: Any) -> None:
        if self._progress is None:
            return
        event = PullEvent(step=step, **fields)
        with self._lock:
            self._progress(event)


class _Background:
    """A call made on a thread of its own: :meth:`result` waits for it and returns
    what it returned, or raises what it raised."""

    def __init__(self, call: Callable[[], Any]):
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True,
                                        name="pypod-pull-driver")
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._result = call()
        except BaseException as exc:  # raised by result(), in the caller's thread
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


class _Pull:
    """One pull: the transport, options, policy, progress and graph driver shared by
    its candidates."""

    def __init__(self, runtime: Runtime, transport: ImageTransport, options: PullOptions,
                 policy: Policy, report: _Reporter, driver: _Background):
        self.runtime = runtime
        self.transport = transport
        self.options = options
        self.policy = policy
        self.report = report
        self.driver = driver

    def candidate(self, candidate: str, newer: Image | None) -> Image | None:
        """Pull ``candidate``; None if ``newer`` (the local image) has the manifest the
        registry has."""
        # podman says "Trying to pull" for a registry only, not for an archive or layout
        registry = self.transport.name == "docker"
        if newer is None and registry:
            self.report(PullStep.TRYING, reference=candidate)
        with self._open(candidate) as source:
            manifest = self._manifest(source, candidate)
            if newer is not None:
                if manifest.digest in (newer.digest, *newer.digests):
                    return None
                if registry:
                    self.report(PullStep.TRYING, reference=candidate)
            self.report(PullStep.SOURCE, reference=source.reference,
                        digest=manifest.digest)
            return self._store(source)

    def _open(self, candidate: str) -> ImageSource:
        try:
            return self.transport.open_source(candidate, self.options, policy=self.policy)
        except PolicyError:
            raise
        except ImageError as exc:
            raise _initializing(exc, self.transport.name, candidate) from None

    def _manifest(self, source: ImageSource, candidate: str) -> Any:
        try:
            return source.manifest()
        except ImageError as exc:
            raise _initializing(exc, self.transport.name, candidate) from None

    def _store(self, source: ImageSource) -> Image:
        """Store the layers, the blobs and the record of the opened ``source``."""
        from pypod_core.engine.pull_layers import (  # lazy: as PARALLEL above
            plan_layers,
            remove_stale_partials,
            store_layers,
        )

        driver: GraphDriver = self.driver.result()
        store = self.runtime.image_store
        config_bytes = source.config()
        config = _parse_config(config_bytes, source.reference)
        descriptors = tuple(source.layers())
        diff_ids = tuple(source.diff_ids())
        remove_stale_partials(store)
        for attempt in range(_COMMIT_TRIES):
            try:
                plan = plan_layers(driver, descriptors, diff_ids)
                layers = store_layers(source, plan, store, driver, self.report,
                                      retries=self.options.retries,
                                      parallel=self.options.parallel)
                image = self._image(source, config_bytes, config, layers)
                committed = store.commit(image)
            except NoSuchLayerError:
                if attempt == _COMMIT_TRIES - 1:
                    raise
                continue  # a concurrent removal took a layer: apply it again
            self.runtime.plugins.hook.pypod_image_pulled(runtime=self.runtime,
                                                         image=committed)
            self.report(PullStep.DONE, reference=source.reference, image_id=committed.id)
            return committed
        raise AssertionError("unreachable")

    def _image(self, source: ImageSource, config_bytes: bytes, config: dict[str, Any],
               layers: list[ImageLayer]) -> Image:
        """Write the config, manifest and index blobs; the record to commit."""
        store = self.runtime.image_store
        manifest, index = source.manifest(), source.index()
        config_digest = store.write_blob(config_bytes)
        self.report(PullStep.CONFIG, reference=source.reference, digest=config_digest)
        self.report(PullStep.MANIFEST, reference=source.reference, digest=manifest.digest)
        store.write_blob(manifest.raw)
        digests = [manifest.digest]
        if index is not None:
            store.write_blob(index.raw)
            digests.append(index.digest)
        created = config.get("created")
        names = source.names()
        if self.transport.name != "docker":  # an archive's names may be short
            # lazy: only a pull (image_store ~4 ms)
            from pypod_core.engine.image_store import normalize_name

            names = tuple(dict.fromkeys(normalize_name(n) for n in names))
        return Image(
            id=config_digest.removeprefix("sha256:"), names=names,
            digest=manifest.digest, digests=tuple(digests),
            manifest_type=manifest.media_type, layers=tuple(layers), config=config,
            created=created if isinstance(created, str) else "",
            size=sum(layer.diff_size for layer in layers))


def _initializing(exc: ImageError, transport: str, candidate: str) -> ImageError:
    """``exc`` with podman's ``initializing source docker://REF:`` in front."""
    where = f"{transport}://{candidate}" if transport == "docker" else \
        f"{transport}:{candidate}"
    return type(exc)(f"initializing source {where}: {exc}")


def _parse_config(raw: bytes, reference: str) -> dict[str, Any]:
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ImageFormatError(f"{reference}: the image config is not JSON: {exc}") \
            from None
    if not isinstance(config, dict):
        raise ImageFormatError(f"{reference}: the image config is not a JSON object")
    return config
