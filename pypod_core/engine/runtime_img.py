"""Image operations of the Runtime (libpod's image runtime, on the image store).

:class:`ImageOps` is a mixin of :class:`pypod_core.engine.runtime.Runtime`: pull, list,
look up, tag, untag, remove, import, commit, export, prune images, their history and
the disk usage (:mod:`pypod_core.engine.image_build`, :mod:`~.image_usage`).  The store itself is
:mod:`pypod_core.engine.image_store`; pulls are :mod:`pypod_core.engine.pull`'s.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from pypod_core.engine.runtime_half import RuntimeHalf
from pypod_core.errors import (
    BackendNotFoundError,
    GraphDriverNotSupportedError,
    ImageHasTagsError,
    ImageInUseError,
    InvalidArgError,
    NoSuchImageError,
)

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.fs_changes import Change
    from pypod_core.engine.image_store import ImageStore
    from pypod_core.engine.image_transfer import LoadResult, PushResult, SaveResult
    from pypod_core.engine.image_usage import DiskUsage, HistoryRow
    from pypod_core.model import Image, PullEvent
    from pypod_core.model_image import ImageRemoval
    from pypod_core.plugin.graph_driver import GraphDriver
    from pypod_core.plugin.image_transport import Platform

#: The graph driver used for images where the configured overlay cannot mount.
FALLBACK_DRIVER = "vfs"


class ImageOps(RuntimeHalf):
    """The image part of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    @functools.cached_property
    def graph_driver(self) -> GraphDriver:
        """The graph driver holding images' layers and their containers' root file
        systems: config ``graph_driver``; where that is the default ``overlay`` and
        overlayfs does not mount, ``vfs``.  (``--rootfs`` containers use ``dir``.)"""
        name = self.config.graph_driver
        explicit = "graph_driver" in self.config.explicit
        if name in ("dir", "dir-overlay"):
            raise InvalidArgError(f'the graph driver "{name}" stores no images (it serves '
                                  '--rootfs): set graph_driver to "overlay" or "vfs"')
        try:
            driver: GraphDriver = self.plugins.build("graph_driver", name, self)
            driver.check()
        except (GraphDriverNotSupportedError, BackendNotFoundError):
            if explicit or name == FALLBACK_DRIVER:
                raise
            driver = self.plugins.build("graph_driver", FALLBACK_DRIVER, self)
            driver.check()
        return driver

    @functools.cached_property
    def image_store(self) -> ImageStore:
        """The image records and blobs under ``graph_root/images`` (the graph driver is
        made when layers are first needed: listing and looking up images need none)."""
        from pypod_core.engine.image_store import ImageStore  # lazy: only image commands (~4 ms)

        return ImageStore(os.path.join(self.config.graph_root, "images"),
                          lambda: self.graph_driver)

    # -- reading ---------------------------------------------------------------------------

    def images(self) -> list[Image]:
        """Every image in the store, newest first."""
        self.check_valid()
        return self.image_store.images()

    def get_image(self, ref: str) -> Image:
        """The image ``ref`` names (an id, a unique id prefix, a name, a short name,
        ``name@digest``); NoSuchImageError (``REF: image not known``) if none."""
        self.check_valid()
        return self.image_store.get(ref)

    def image_exists(self, ref: str) -> bool:
        """Whether an image ``ref`` names is in the store."""
        self.check_valid()
        return self.image_store.exists(ref)

    def image_containers(self, image: Image) -> list[str]:
        """The ids of the containers made from ``image`` or mounting it (``--mount
        type=image``), in this runtime's namespace."""
        from pypod_core.engine.image_volumes import users  # lazy: only rmi (~1 ms)

        made = [r.config.id for r in self.state.all_containers()
                if r.config.image_id == image.id]
        return [*made, *(i for i in users(self._runtime, image) if i not in made)]

    # -- pulling ---------------------------------------------------------------------------

    def pull_image(self, ref: str, *, platform: Platform | str | None = None,
                   tls_verify: bool | None = None, authfile: str = "", creds: str = "",
                   policy: str = "always", progress: Callable[[PullEvent], None] | None = None,
                   tty: bool = False, choose: Callable[[Sequence[str]], str] | None = None,
                   signature_policy: str = "", cert_dir: str = "") -> Image:
        """Pull the image ``ref`` (``[docker://]NAME[:TAG|@DIGEST]``, a short name
        resolved through registries.conf) into the image store and return its record,
        as ``podman pull``.

        - ``platform``: a :class:`~pypod_core.plugin.image_transport.Platform` or
          ``"os/arch[/variant]"`` to choose from an index (None: the host's);
        - ``tls_verify``: None as registries.conf says, True/False as ``--tls-verify``;
        - ``authfile``, ``creds`` (``USER[:PASSWORD]``): as ``--authfile``/``--creds``;
        - ``policy``: ``"always"`` pulls; ``"missing"`` returns the local image if there
          is one; ``"newer"`` pulls only if the registry's manifest digest is not the
          local image's (and returns the local image if the registry cannot be asked);
          ``"never"`` returns the local image or raises NoSuchImageError.  With a
          ``platform``, ``"missing"`` acts as ``"newer"`` (podman's rule);
        - ``progress``: called with each :class:`~pypod_core.model.PullEvent` (one call
          at a time, possibly from the pull's download threads; an exception it
          raises ends the pull);
        - ``tty``/``choose``: in ``enforcing`` short-name mode with several candidates,
          ``tty=True`` lets ``choose(candidates)`` pick one (the command line's prompt);
        - ``signature_policy``: a policy.json for this pull (empty: config
          ``signature_policy``, else the default search);
        - ``cert_dir``: a certs.d directory for the registry (``*.crt`` CAs,
          ``*.cert``/``*.key`` client certificates; empty: ``/etc/containers/certs.d/HOST``),
          as ``--cert-dir``.

        Typed errors: NoSuchImageError, RegistryError, RegistryAuthError,
        BlobDigestError, ImageFormatError, ShortNameError, PolicyError (all
        ImageError); a short name whose every candidate failed raises one naming
        each.  The ``pypod_image_pulled`` event fires after a pull that stored."""
        # lazy: only a pull (~3 ms, the image contract ~17 ms)
        from pypod_core.engine.pull import pull_image

        self.check_valid()
        return pull_image(self._runtime, ref, platform=platform, tls_verify=tls_verify,
                          authfile=authfile, creds=creds, policy=policy, progress=progress,
                          tty=tty, choose=choose, signature_policy=signature_policy,
                          cert_dir=cert_dir)

    # -- moving images: push, save, load ---------------------------------------------------

    def push_image(self, ref: str, dest: str | None = None, *, tls_verify: bool | None = None,
                   authfile: str = "", creds: str = "", format: str = "",
                   compression: str = "", remove_signatures: bool = False,
                   progress: Callable[[PullEvent], None] | None = None,
                   cert_dir: str = "") -> PushResult:
        """Copy the stored image ``ref`` to ``dest`` (``TRANSPORT:REF``: ``docker://``,
        ``oci:DIR[:REF]``, ``oci-archive:FILE[:REF]``, ``docker-archive:FILE[:REF]``,
        ``dir:DIR``; a reference without a transport is ``docker``'s; None: ``docker://``
        and the name ``ref`` asked for), as ``podman push``.

        - ``tls_verify``, ``authfile``, ``creds``, ``cert_dir``: as for :meth:`pull_image`;
        - ``format``: ``"oci"`` or ``"v2s2"`` converts the manifest; ``""`` keeps the
          stored one where the destination takes it (then the digests are the
          source's);
        - ``compression``: ``"gzip"`` (default) or ``"zstd"`` for layers stored
          uncompressed;
        - ``remove_signatures``: accepted for podman's flag: pypod stores no
          signatures, so none are copied either way;
        - ``progress``: called with PullEvents as a pull's (SOURCE, BLOB..., CONFIG,
          MANIFEST, DONE).

        Returns a :class:`~pypod_core.engine.image_transfer.PushResult` (the manifest
        digest written).  Typed errors: NoSuchImageError, ImageStoreError (a blob
        missing from the store), UnsupportedTransportError (a read-only transport),
        RegistryError..., InvalidArgError."""
        # lazy: only push (the transfer code ~30 ms)
        from pypod_core.engine.image_transfer import push_image
        from pypod_core.plugin.image_transport import PushOptions

        self.check_valid()
        _check_push_args(ref, dest, tls_verify, authfile, creds, format, compression,
                         progress, cert_dir)
        options = PushOptions(tls_verify=tls_verify, authfile=authfile, creds=creds,
                              format=format, compression=compression, cert_dir=cert_dir)
        return push_image(self._runtime, ref, dest, options=options, progress=progress)

    def save_images(self, refs: Sequence[str], path: str, *, format: str = "docker-archive",
                    tags: Sequence[str] = (),
                    progress: Callable[[PullEvent], None] | None = None,
                    compress: bool = False, uncompressed: bool = False) -> SaveResult:
        """Write the stored images ``refs`` to ``path``, as ``podman save``:
        ``format`` is ``docker-archive`` (the default; several images, each with its
        RepoTags, plus ``tags`` for a single one), ``oci-archive``, ``oci-dir`` or
        ``docker-dir`` (one image each).  An archive is written to a temporary file
        renamed over ``path`` when complete.  Layers go as stored (a pull's compressed
        blobs; commit's and import's uncompressed ones), except that the OCI formats
        gzip uncompressed ones unless ``uncompressed`` (``--uncompressed``) and
        docker-dir gzips them with ``compress`` (``--compress``, docker-dir only; an
        InvalidArgError otherwise, podman's words)."""
        # lazy: only save (the transfer code ~30 ms)
        from pypod_core.engine.image_transfer import save_images

        self.check_valid()
        if isinstance(refs, str) or not all(isinstance(r, str) for r in refs):
            raise InvalidArgError(f"save: refs must be a list of image names, not {refs!r}")
        return save_images(self._runtime, list(refs), path, format=format, tags=tags,
                           progress=progress, compress=bool(compress),
                           uncompressed=bool(uncompressed))

    def load_images(self, path: str, *, progress: Callable[[PullEvent], None] | None = None,
                    signature_policy: str = "") -> LoadResult:
        """Store every image of the archive or layout ``path`` (an OCI layout
        directory, an OCI archive, a docker archive of one or several images, a
        ``dir:`` directory: sniffed), as ``podman load``; names as a pull from that
        transport gives them.  ImageFormatError (one line, nothing stored) for a
        foreign or truncated archive."""
        # lazy: only load (the transfer code ~30 ms)
        from pypod_core.engine.image_transfer import load_images

        self.check_valid()
        return load_images(self._runtime, path, progress=progress,
                           signature_policy=signature_policy)

    # -- names -----------------------------------------------------------------------------

    def tag_image(self, ref: str, *names: str) -> Image:
        """Give the image ``ref`` the ``names`` too (a short name goes under
        ``localhost/``, ``:latest`` is assumed); a name another image had moves here."""
        # lazy: only tag (image_store ~4 ms)
        from pypod_core.engine.image_store import normalize_name

        self.check_valid()
        if not names:
            raise InvalidArgError("tag: at least one new name is required")
        new = [normalize_name(name) for name in names]
        image = self.image_store.get(ref)
        return self.image_store.set_names(image.id, [*new, *image.names])

    def untag_image(self, ref: str, *names: str) -> Image:
        """Take ``names`` (all of them if none is given) from the image ``ref``; it stays
        in the store.  NoSuchImageError for a name the image does not have."""
        # lazy: only untag (image_store ~4 ms)
        from pypod_core.engine.image_store import normalize_name

        self.check_valid()
        image = self.image_store.get(ref)
        drop = [normalize_name(name) for name in names] or list(image.names)
        for name in drop:
            if name not in image.names:
                raise NoSuchImageError(f"{name}: tag not known")
        return self.image_store.set_names(
            image.id, [n for n in image.names if n not in drop])

    # -- removal ---------------------------------------------------------------------------

    def remove_image(self, ref: str, *, force: bool = False,
                     every_name: bool = False) -> ImageRemoval:
        """Remove the image ``ref`` names, as podman's ``rmi``:

        - by one of several names, only that name goes (``untagged``);
        - by id with several names, ImageHasTagsError unless ``force`` or
          ``every_name`` (``rmi --all``: every image goes with all its names);
        - used by containers, ImageInUseError (exit 2) unless ``force``, which removes
          those containers first;
        - else the record goes, then the layers and blobs no other image uses, and the
          ``pypod_image_removed`` event fires."""
        from pypod_core.model_image import ImageRemoval  # lazy: only rmi (~0.3 ms)

        self.check_valid()
        image = self.image_store.get(ref)
        by_id = _by_id(image, ref)
        if not by_id and len(image.names) > 1:
            name = self._matched_name(image, ref)
            self.image_store.set_names(image.id, [n for n in image.names if n != name])
            return ImageRemoval(image, untagged=(name,))
        if by_id and len(image.names) > 1 and not (force or every_name):
            oldest_first = " ".join(reversed(image.names))  # as podman lists them
            raise ImageHasTagsError(
                f'unable to delete image "{image.id}" by ID with more than one tag '
                f"([{oldest_first}]): please force removal")
        removed = self._remove_users(image, force)
        self.image_store.delete(image.id)
        self.plugins.hook.pypod_image_removed(runtime=self, image=image)
        return ImageRemoval(image, untagged=image.names, deleted=True,
                            removed_containers=tuple(removed))

    def _matched_name(self, image: Image, ref: str) -> str:
        """Which of the image's names ``ref`` (a name, short or partial) matched."""
        # lazy: only rmi (image_store ~4 ms)
        from pypod_core.engine.image_store import normalize_name

        with contextlib.suppress(InvalidArgError):
            if normalize_name(ref) in image.names:
                return normalize_name(ref)
        for name in image.names:
            if name.endswith("/" + ref) or name.endswith("/" + ref + ":latest"):
                return name
        return image.names[0]

    def _remove_users(self, image: Image, force: bool) -> list[str]:
        """Remove the containers made from ``image`` (``force``), or refuse."""
        users = self.image_containers(image)
        if users and not force:
            raise ImageInUseError(
                f"image used by {users[0]}: image is in use by a container: consider "
                f"listing external containers and force-removing image")
        for ctr_id in users:
            self._runtime.remove_container(self._runtime.get_container(ctr_id), force=True)
        return users

    # -- import ----------------------------------------------------------------------------

    def import_image(self, layers: Sequence[str], config: Mapping[str, Any] | None = None,
                     names: Sequence[str] = (), *, changes: Sequence[str] = (),
                     message: str = "", os: str = "", arch: str = "",
                     variant: str = "") -> Image:
        """Store an image made of the tarballs ``layers`` (bottom first; plain, gzip,
        bzip2, xz or zstd; each stored uncompressed, its digest its diff id), as
        ``podman import``: ``config`` is the OCI image config (its ``config`` section:
        Entrypoint, Cmd, Env...; ``architecture``, ``os`` and ``created`` default to
        the host's and now; ``rootfs`` is filled in); ``changes`` are ``--change``
        instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME,
        WORKDIR) applied to it; each layer gets podman's history entry (``ADD
        file:<digest> in /``, ``message`` its comment) unless ``config`` has a
        ``history`` of its own; ``os``/``arch``/``variant`` override the
        platform; ``names`` are normalised as :meth:`tag_image`'s.  A tar naming paths
        outside its root (``../``, absolute) writes nothing outside the layer.
        InvalidArgError (a bad change or name), ImageFormatError (not decompressable),
        InvalidLayerError (a broken tar): nothing is stored."""
        # lazy: only import (image_build ~7 ms, image_store ~4 ms)
        from pypod_core.engine.image_build import import_layers
        from pypod_core.engine.image_store import normalize_name

        self.check_valid()
        for name in names:
            normalize_name(name)  # a bad name before any work
        return import_layers(self._runtime, layers, dict(config or {}), names, changes,
                             message, {"os": os, "architecture": arch, "variant": variant})

    # -- commit, export ----------------------------------------------------------------

    def commit_container(self, ctr: Container | str, name: str = "", *,
                         changes: Sequence[str] = (), pause: bool = False,
                         message: str = "", author: str = "", format: str = "oci") -> Image:
        """A new image of the container's changes over its image, as ``podman commit``:
        one layer more (overlay: the upper dir, whiteouts as OCI ``.wh.`` entries; vfs:
        the copy against the image's top layer), the config the container ran with
        (entrypoint, command, environment, ports, labels, user, working directory)
        and then ``changes`` (``--change``: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
        STOPSIGNAL, USER, VOLUME, WORKDIR), a history entry (``author``), named
        ``name`` (a short one under ``localhost/``; none: a dangling image).
        ``pause``: a running container is paused while its files are read.
        ``format``: ``oci`` or ``docker`` manifest and config; ``message`` needs
        ``docker`` (podman's rule).  InvalidArgError for a ``--rootfs`` container, a
        bad change or name; nothing is stored when it fails."""
        from pypod_core.engine.image_build import commit  # lazy: only commit (image_build ~7 ms)

        self.check_valid()
        if isinstance(ctr, str):
            ctr = self._runtime.lookup_container(ctr)
        return commit(self._runtime, ctr, name, changes, pause, message, author, format)

    def diff(self, target: str, base: str = "",
             kinds: Sequence[str] = ("image", "container")) -> list[Change]:
        """What changed in the file system of ``target`` (an image or a container, as
        ``kinds`` allow; images first, as podman) over ``base`` (another one; by default
        its parent: an image's next layer down, a container's image), as ``podman
        diff``: :class:`~pypod_core.engine.fs_changes.Change` rows (``A``, ``C``,
        ``D`` and the path), sorted by path.  NoSuchImageError or NoSuchCtrError in
        podman's words for an unknown one."""
        from pypod_core.engine.fs_changes import changes  # lazy: only diff (~1 ms)

        self.check_valid()
        return changes(self._runtime, target, base, kinds)

    def image_tree(self, ref: str, *, whatrequires: bool = False) -> str:
        """The stored image's layers drawn as ``podman image tree`` draws them (with
        ``whatrequires``: the layers over its top layer and the images they top);
        NoSuchImageError for an unknown one."""
        from pypod_core.engine.image_tree import image_tree  # lazy: only tree (~1 ms)

        self.check_valid()
        return image_tree(self._runtime, ref, whatrequires)

    def export_container(self, ctr: Container | str, out: BinaryIO) -> None:
        """Write the container's whole file system (not its volumes) as a tar on
        ``out``, as ``podman export``; a stopped container is mounted meanwhile.  Like
        podman's, an export is logged as the container's ``mount`` event."""
        # lazy: only export (image_build ~7 ms, events ~1.8 ms)
        from pypod_core.engine.events import container_event, write_event
        from pypod_core.engine.image_build import export

        self.check_valid()
        if isinstance(ctr, str):
            ctr = self._runtime.lookup_container(ctr)
        export(ctr, out)
        write_event(self.config, container_event(ctr.config, "mount"))

    # -- history, prune, disk usage ------------------------------------------------------

    def image_history(self, ref: str) -> list[HistoryRow]:
        """The image's history, newest first, as ``podman history`` lists it."""
        # lazy: only history (image_usage ~3.7 ms)
        from pypod_core.engine.image_usage import history

        self.check_valid()
        return history(self._runtime, self.image_store.get(ref))

    def prune_images(self, all: bool = False,
                     select: Callable[[Image], bool] | None = None) -> list[Image]:
        """Remove the images without names (``all``: also every image no container
        uses) that ``select`` accepts (None: each), as ``podman image prune``; the
        images removed.  The ``pypod_image_removed`` event fires for each."""
        # lazy: only image prune (image_usage ~3.7 ms)
        from pypod_core.engine.image_usage import prunable

        self.check_valid()
        removed = []
        for image in prunable(self._runtime, all, select):
            try:
                self.image_store.delete(image.id)
            except NoSuchImageError:
                continue  # removed meanwhile
            self.plugins.hook.pypod_image_removed(runtime=self, image=image)
            removed.append(image)
        return removed

    def disk_usage(self) -> DiskUsage:
        """What ``podman system df`` shows: each image's size (shared and unique), each
        container's writable layer, each volume's size and users."""
        # lazy: only system df (image_usage ~3.7 ms)
        from pypod_core.engine.image_usage import disk_usage

        self.check_valid()
        return disk_usage(self._runtime)


def _check_push_args(ref: Any, dest: Any, tls_verify: Any, authfile: Any, creds: Any,
                     fmt: Any, compression: Any, progress: Any, cert_dir: Any) -> None:
    """InvalidArgError naming the first argument of push of the wrong type or value."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgError("push: an image name or id is required")
    if dest is not None and not isinstance(dest, str):
        raise InvalidArgError(f"push: dest must be a string, not {dest!r}")
    if tls_verify is not None and not isinstance(tls_verify, bool):
        raise InvalidArgError(f"push: tls_verify must be True, False or None, not "
                              f"{tls_verify!r}")
    if fmt not in ("", "oci", "v2s2"):
        raise InvalidArgError(f"push: unsupported manifest format {fmt!r} (oci or v2s2)")
    if compression not in ("", "gzip", "zstd"):
        raise InvalidArgError(f"push: unsupported compression format {compression!r} "
                              "(gzip or zstd)")
    for name, value in (("authfile", authfile), ("creds", creds), ("cert_dir", cert_dir)):
        if not isinstance(value, str):
            raise InvalidArgError(f"push: {name} must be a string, not {value!r}")
    if authfile and not os.path.exists(authfile):
        raise InvalidArgError(f"credential file is not accessible: stat {authfile}: no such "
                              f"file or directory")
    if progress is not None and not callable(progress):
        raise InvalidArgError(f"push: progress must be callable, not {progress!r}")


def _by_id(image: Image, ref: str) -> bool:
    """Whether ``ref`` found ``image`` by its id, not by a name that happens to look like
    hex (``a``, ``beef``: a name is looked up before an id prefix)."""
    from pypod_core.engine.image_store import find_image  # lazy: only rmi (image_store ~4 ms)

    if not _is_hex(ref) or not image.id.startswith(ref.removeprefix("sha256:")):
        return False
    return find_image([attrs.evolve(image, id="")], ref) is None


def _is_hex(ref: str) -> bool:
    bare = ref.removeprefix("sha256:")
    return bool(bare) and all(c in "0123456789abcdef" for c in bare)
