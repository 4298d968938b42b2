"""A state kept in one JSON file: the in-memory state, loaded before and saved after
every call, under a file lock so that several processes can share it."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from filelock import FileLock
from pypod_state_memory.store import MemoryState

from pypod_core.model import ContainerRecord, PodRecord, Volume
from pypod_core.plugin import DBConfig
from pypod_core.serialize import from_dict, to_dict

#: State methods that change the store: saved after they run.
MUTATING = (
    "refresh", "validate_db_config", "add_container", "remove_container",
    "rename_container", "save_container_networks", "save_container_state", "add_pod",
    "remove_pod", "remove_pod_containers",
    "add_container_to_pod", "remove_container_from_pod", "save_pod_state",
    "add_volume", "remove_volume", "save_volume_state",
)
#: State methods that only read.
READING = (
    "get_db_config", "container", "lookup_container", "has_container", "container_state",
    "container_in_use", "all_containers", "pod", "lookup_pod", "has_pod",
    "pod_has_container", "pod_containers_by_id", "pod_containers", "pod_state", "all_pods",
    "volume", "lookup_volume", "has_volume", "volume_state", "volume_in_use", "all_volumes",
)


class JsonFileState(MemoryState):
    """MemoryState whose dictionaries live in a JSON file between calls."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.lock = FileLock(path + ".lock")

    def _load(self) -> None:
        try:
            with open(self.path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        self._ctrs = {k: from_dict(v, ContainerRecord) for k, v in data["containers"].items()}
        self._pods = {k: from_dict(v, PodRecord) for k, v in data["pods"].items()}
        self._vols = {k: from_dict(v, Volume) for k, v in data.get("volumes", {}).items()}
        self._names = data["names"]
        db = data["db_config"]
        self._db_config = from_dict(db, DBConfig) if db else None

    def _save(self) -> None:
        data = {
            "containers": {k: to_dict(v) for k, v in self._ctrs.items()},
            "pods": {k: to_dict(v) for k, v in self._pods.items()},
            "volumes": {k: to_dict(v) for k, v in self._vols.items()},
            "names": self._names,
            "db_config": to_dict(self._db_config) if self._db_config else None,
        }
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)  # never half a file


def _wrap(name: str, save: bool) -> Any:
    method = getattr(MemoryState, name)

    @functools.wraps(method)
    def wrapper(self: JsonFileState, *args: Any, **kwargs: Any) -> Any:
        self._open()
        with self.lock:
            self._load()
            result = method(self, *args, **kwargs)
            if save:
                self._save()
            return result

    return wrapper


for _name in MUTATING:
    setattr(JsonFileState, _name, _wrap(_name, save=True))
for _name in READING:
    setattr(JsonFileState, _name, _wrap(_name, save=False))
