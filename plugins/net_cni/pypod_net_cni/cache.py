"""The attachment cache: what DEL needs, kept on disk from before ADD until after DEL.

Like libcni's ``/var/lib/cni/results`` (but under pypod's graph root, which survives a
reboot): one JSON file per container and network, holding the config list used, the
interface, the ``CNI_ARGS`` and capability arguments, and (once ADD succeeded) the
result.  The entry is written *before* ADD, so that a crash in the middle of ADD still
leaves DEL enough to undo it, and deleted only after a successful DEL.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import attrs

from pypod_core.host.private import private_dir

KIND = "pypod/cniCacheV1"


@attrs.define(kw_only=True)
class CacheEntry:
    """One container's attachment to one network."""

    container_id: str
    network: str
    ifname: str
    netns: str
    config: dict[str, Any]
    cni_args: str = ""
    capability_args: dict[str, Any] = attrs.field(factory=dict)
    result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"kind": KIND, **attrs.asdict(self)}


class ResultCache:
    """Cache entries under ``directory/<container id>/<ifname>.json``."""

    def __init__(self, directory: str):
        self.directory = directory

    def _dir(self, container_id: str) -> str:
        return os.path.join(self.directory, container_id)

    def save(self, entry: CacheEntry) -> None:
        """Write (or replace) an entry, atomically."""
        directory = self._dir(entry.container_id)
        private_dir(directory)
        path = os.path.join(directory, f"{entry.ifname}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(entry.to_json(), f)
        os.replace(tmp, path)

    def entries(self, container_id: str) -> list[CacheEntry]:
        """The container's entries, by interface name (eth0, eth1, ...); unreadable
        files (a crash while writing) are skipped."""
        directory = self._dir(container_id)
        try:
            names = [n for n in os.listdir(directory) if n.endswith(".json")]
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            try:
                with open(os.path.join(directory, name)) as f:
                    data = json.load(f)
                data.pop("kind", None)
                found.append(CacheEntry(**data))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(found, key=lambda e: (len(e.ifname), e.ifname))

    def remove(self, entry: CacheEntry) -> None:
        """Delete an entry, and the container's directory once it is empty."""
        directory = self._dir(entry.container_id)
        try:
            os.unlink(os.path.join(directory, f"{entry.ifname}.json"))
            os.rmdir(directory)
        except (FileNotFoundError, OSError):
            pass

    def containers(self) -> list[str]:
        """Ids of the containers that have entries."""
        try:
            return sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []

    def clear(self, container_id: str) -> None:
        """Drop every entry of a container."""
        shutil.rmtree(self._dir(container_id), ignore_errors=True)
