"""The ``oci:DIR[:REF]`` and ``oci-archive:FILE[:REF]`` transports: an OCI image
layout in a directory, or in a tar archive of one.

Names, as podman 4.3 gives them: an image pulled from ``oci:DIR`` is
``localhost/DIR:latest`` (whatever the ``REF``); one from ``oci-archive:`` is named by
its ``org.opencontainers.image.ref.name`` annotation (``podman save`` writes the full
name there), and has no name without one.  Writing ``oci:DIR`` adds the image to the
layout there (an entry of the same ``REF`` is replaced); writing ``oci-archive:FILE``
makes a new archive, renamed over ``FILE`` when complete.
"""

from __future__ import annotations

import os
from typing import Any

from pypod_core.errors import ImageFormatError, NoSuchImageError
from pypod_core.plugin.image_transport import (
    ImageDestination,
    ImageSource,
    ImageTransport,
    PullOptions,
    PushOptions,
)
from pypod_image_archive.files import DirFiles, DirWriter
from pypod_image_archive.layout import (
    LAYOUT_FILE,
    REF_NAME,
    LayoutDestination,
    LayoutSource,
    local_name,
    read_index,
    split_reference,
)
from pypod_image_archive.tarstream import TarIndex, TarWriter, TruncatedArchiveError


class OCILayoutTransport(ImageTransport):
    """``oci:DIR[:REF]``: an OCI image layout directory."""

    name = "oci"

    def _open(self, reference: str, options: PullOptions) -> ImageSource:
        path, ref = split_reference(reference, self.name)
        if not os.path.isdir(path):
            raise NoSuchImageError(f"oci:{reference}: {path}: no such directory")
        return LayoutSource(DirFiles(path, "OCI layout"), self.name, reference, ref,
                            options, lambda _entry: (local_name(path),))

    def policy_scope(self, source: ImageSource) -> str:
        """The layout's absolute path (policy.json scopes ``oci`` by path)."""
        return os.path.abspath(split_reference(source.reference, self.name)[0])

    def recognizes(self, path: str) -> bool:
        """A directory with an ``oci-layout`` file."""
        return os.path.isfile(os.path.join(path, LAYOUT_FILE))

    def open_destination(self, reference: str, options: PushOptions) -> ImageDestination:
        """The layout at ``DIR`` (made if missing), the image added to its index."""
        path, ref = split_reference(reference, self.name)
        files = DirFiles(path, "OCI layout")
        index = None
        if os.path.isdir(path) and os.listdir(path):
            index = read_index(files, "OCI layout")  # a directory of something else: refused
        return LayoutDestination(DirWriter(path, "OCI layout"), self.name, reference, ref,
                                 index, files.has)


class OCIArchiveTransport(ImageTransport):
    """``oci-archive:FILE[:REF]``: a tar archive of an OCI image layout."""

    name = "oci-archive"

    def _open(self, reference: str, options: PullOptions) -> ImageSource:
        path, ref = split_reference(reference, self.name)
        if not os.path.exists(path):
            raise NoSuchImageError(f"oci-archive:{reference}: {path}: no such file")
        return LayoutSource(TarIndex(path, "OCI archive"), self.name, reference, ref,
                            options, _annotated_name)

    def policy_scope(self, source: ImageSource) -> str:
        """The archive's absolute path."""
        return os.path.abspath(split_reference(source.reference, self.name)[0])

    def recognizes(self, path: str) -> bool:
        """A tar file with an ``oci-layout`` member."""
        if not os.path.isfile(path):
            return False
        try:
            return TarIndex(path, "archive").has(LAYOUT_FILE)
        except TruncatedArchiveError:
            raise  # a tar, cut off: say so rather than "not a known format"
        except ImageFormatError:
            return False

    def open_destination(self, reference: str, options: PushOptions) -> ImageDestination:
        """A new archive at ``FILE`` holding the one image."""
        path, ref = split_reference(reference, self.name)
        return LayoutDestination(TarWriter(path, "OCI archive"), self.name, reference, ref)


def _annotated_name(entry: dict[str, Any]) -> tuple[str, ...]:
    name = (entry.get("annotations") or {}).get(REF_NAME)
    return (name,) if isinstance(name, str) and name else ()
