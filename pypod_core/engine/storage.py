"""Container storage: where each container's own files live.

Containers run from a root filesystem directory given by the user (``--rootfs``), used
in place; the storage holds each container's bundle directory (the OCI ``config.json``)
and its logs under ``graph_root/containers/<id>``.
"""

from __future__ import annotations

import os
import shutil

from pypod_core.host.private import private_dir
from pypod_core.plugin.storage import Storage


class DirStorage(Storage):
    """Per-container directories under a graph root."""

    def __init__(self, graph_root: str):
        self.graph_root = graph_root
        self.containers_dir = os.path.join(graph_root, "containers")

    def container_dir(self, ctr_id: str) -> str:
        """The container's directory (its OCI bundle); made if missing."""
        path = os.path.join(self.containers_dir, ctr_id, "userdata")
        private_dir(path)
        return path

    def remove_container_dir(self, ctr_id: str) -> None:
        """Delete the container's directory and everything in it, if it exists."""
        shutil.rmtree(os.path.join(self.containers_dir, ctr_id), ignore_errors=True)

    def count(self) -> int:
        """How many container directories exist."""
        try:
            return len(os.listdir(self.containers_dir))
        except FileNotFoundError:
            return 0
