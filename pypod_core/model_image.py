"""The image records (:mod:`pypod_core.model`'s, imported from there on first use): an
image in the local store, its layers, the steps a pull reports, and what a removal
did."""

from __future__ import annotations

import enum

import attrs


@attrs.frozen(kw_only=True)
class ImageLayer:
    """One layer of an image: the blob the manifest names and the layer it became."""

    #: The blob's digest as the manifest names it (compressed), and its size.
    digest: str
    size: int
    media_type: str
    #: The digest of the uncompressed tar (the config's ``rootfs.diff_ids`` entry).
    diff_id: str
    #: The graph driver's layer id: this layer over all the ones before it.
    chain_id: str
    #: The uncompressed size in bytes.
    diff_size: int = 0


@attrs.frozen(kw_only=True, eq=False)
class Image:
    """An image in the local store (containers/storage's image record)."""

    #: The config's sha256 digest, as hex without the ``sha256:`` (podman's ``Id``).
    id: str
    #: Fully qualified names (``docker.io/library/busybox:latest``), newest first.
    names: tuple[str, ...] = ()
    #: The digest of the manifest stored (``sha256:...``), and every manifest digest the
    #: image was pulled by (an index's too): podman's ``Digest`` and ``RepoDigests``.
    digest: str = ""
    digests: tuple[str, ...] = ()
    manifest_type: str = ""
    layers: tuple[ImageLayer, ...] = ()
    #: The OCI image configuration, parsed (``architecture``, ``os``, ``config``...).
    config: dict = attrs.field(factory=dict)
    #: When the image was built (the config's ``created``, RFC 3339; "" if it has none).
    created: str = ""
    #: The sum of the layers' uncompressed sizes.
    size: int = 0
    #: When this store got the image (seconds since the epoch).
    added: float = 0.0

    @property
    def top_layer(self) -> str | None:
        """The chain id of the image's last layer (None for an image without layers)."""
        return self.layers[-1].chain_id if self.layers else None

    @property
    def run_config(self) -> dict:
        """The config's ``config`` section: Entrypoint, Cmd, Env, WorkingDir, User,
        StopSignal, Labels, ExposedPorts, Volumes (empty if the image has none)."""
        return self.config.get("config") or {}

    @property
    def short_id(self) -> str:
        """The first 12 characters of the id, as podman prints it."""
        return self.id[:12]


class PullStep(enum.StrEnum):
    """The steps of a pull, in order, as :class:`PullEvent` reports them (podman prints a
    line for each: ``Trying to pull REF...``, ``Getting image source signatures``,
    ``Copying blob DIGEST``, ``Copying config DIGEST``, ``Writing manifest to image
    destination``)."""

    TRYING = "trying"        #: a candidate reference is tried (``reference``)
    SOURCE = "source"        #: the image is found; its blobs come next
    BLOB = "blob"            #: a layer blob starts (``digest``, ``total``); ``skipped``
                             #: when the store has its layer already
    BLOB_PROGRESS = "blob-progress"  #: ``done`` of ``total`` bytes of ``digest`` arrived
    BLOB_DONE = "blob-done"  #: the blob is fetched, verified (and applied)
    CONFIG = "config"        #: the config blob (``digest``)
    MANIFEST = "manifest"    #: the record is being written
    DONE = "done"            #: the image is stored (``image_id``)


@attrs.frozen(kw_only=True)
class PullEvent:
    """One step of a pull, given to ``pull_image(progress=...)``'s callable."""

    step: PullStep
    reference: str = ""
    digest: str = ""
    total: int = 0
    done: int = 0
    skipped: bool = False
    image_id: str = ""


@attrs.frozen
class ImageRemoval:
    """What :meth:`~pypod_core.engine.runtime_img.ImageOps.remove_image` did: the names
    it untagged, whether it deleted the image (and its id), and the containers it
    removed first (``force``)."""

    image: Image
    untagged: tuple[str, ...] = ()
    deleted: bool = False
    removed_containers: tuple[str, ...] = ()
