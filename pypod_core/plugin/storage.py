"""The Storage interface: where each container's own files live (libpod's storage
service, the ``make_storage`` stage's product).

The default, :class:`pypod_core.engine.storage.DirStorage`, keeps a directory per
container under the graph root; the image issues add the image store and graph drivers
behind it.  A replacement (``pypod_make_storage``) implements these methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Storage(ABC):
    """Per-container directories under a graph root."""

    #: The directory everything of this storage lives under.
    graph_root: str

    @abstractmethod
    def container_dir(self, ctr_id: str) -> str:
        """The container's own directory (its OCI bundle), made if missing (0700)."""

    @abstractmethod
    def remove_container_dir(self, ctr_id: str) -> None:
        """Delete the container's directory and everything in it, if it exists."""

    @abstractmethod
    def count(self) -> int:
        """How many containers have a directory (``info``)."""
