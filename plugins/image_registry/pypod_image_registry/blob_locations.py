"""Where blobs were seen: which repositories of which registries have each blob
(containers/image's blob info cache, its "known locations"), so that a push to a
repository of the same registry mounts a blob from another instead of uploading it.

The record is one JSON file, ``{"version": 1, "blobs": {DIGEST: ["HOST/REPO", ...]}}``,
most recent first, a few locations per blob and a bounded number of blobs.  Pulls and
pushes note what they saw in memory and :meth:`BlobLocations.flush` merges it into the
file under a lock, replacing it atomically: a lost or corrupt file only costs uploads.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading

from pypod_core.host.locks import FileLock

#: Locations kept per blob, and blobs kept in all (the oldest noted go first).
MAX_LOCATIONS = 8
MAX_BLOBS = 20000


class BlobLocations:
    """The known locations of blobs, read from and merged into ``path`` ("" keeps
    them in memory only)."""

    def __init__(self, path: str = ""):
        self.path = path
        self._noted: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._read: dict[str, list[str]] | None = None

    def note(self, digest: str, registry: str, repository: str) -> None:
        """Remember that ``registry/repository`` has the blob ``digest``."""
        where = f"{registry}/{repository}"
        with self._lock:
            places = self._noted.setdefault(digest, [])
            if where in places:
                places.remove(where)
            places.insert(0, where)

    def repositories(self, digest: str, registry: str) -> list[str]:
        """The repositories of ``registry`` known to have ``digest``, most recent
        first."""
        with self._lock:
            if self._read is None:
                self._read = self._load()
            places = [*self._noted.get(digest, ()), *self._read.get(digest, ())]
        prefix = registry + "/"
        return list(dict.fromkeys(p[len(prefix):] for p in places if p.startswith(prefix)))

    def _load(self) -> dict[str, list[str]]:
        if not self.path:
            return {}
        try:
            with open(self.path, "rb") as f:
                data = json.load(f)
            blobs = data.get("blobs", {}) if data.get("version") == 1 else {}
        except (OSError, ValueError, AttributeError):
            return {}  # only a cache: start again
        return {k: [p for p in v if isinstance(p, str)] for k, v in blobs.items()
                if isinstance(k, str) and isinstance(v, list)}

    def flush(self) -> None:
        """Merge what was noted into the file (nothing noted: nothing written).  An
        error writing is ignored: the record is only a cache."""
        with self._lock:
            noted, self._noted = self._noted, {}
        if not noted or not self.path:
            return
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            with FileLock(self.path + ".lock"):
                merged = self._load()
                for digest, places in noted.items():
                    old = [p for p in merged.pop(digest, []) if p not in places]
                    merged[digest] = [*places, *old][:MAX_LOCATIONS]  # newest last
                while len(merged) > MAX_BLOBS:
                    del merged[next(iter(merged))]
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path),
                                           prefix=".blob-locations.")
                try:
                    with os.fdopen(fd, "w") as f:
                        json.dump({"version": 1, "blobs": merged}, f)
                    os.replace(tmp, self.path)
                except BaseException:
                    os.unlink(tmp)  # a full disk: no temporary file left behind
                    raise
        except OSError:
            pass
