"""The secrets database: each secret's record, in podman's ``secrets.json`` layout.

``<graph_root>/secrets/secrets.json`` (0600, in a 0700 directory) holds
``{"secrets": {ID: record}, "nameToID": {...}, "idToName": {...}}``; a record is the
secret's name, id, labels, creation time, driver and driver options, never its data
(that is the driver's).  Every change replaces the file whole under
``<graph_root>/secrets/secrets.lock``, so that processes see each other's secrets.

Names are podman's: ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, at most 64 characters, not ending
in ``-`` or ``.``.  A secret is found by its name, its id, or a unique prefix of its id.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from pypod_core.errors import (
    AmbiguousIDError,
    InvalidArgError,
    NoSuchSecretError,
    SecretError,
    SecretExistsError,
)
from pypod_core.host.locks import FileLock
from pypod_core.host.private import private_dir, replace_private

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
#: The longest secret name podman takes.
MAX_NAME_LENGTH = 64
DB_FILE, LOCK_FILE = "secrets.json", "secrets.lock"


def check_secret_name(name: str) -> str:
    """``name`` if podman would take it as a secret's, else InvalidArgError in
    podman's words."""
    if (not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME_LENGTH
            or name.endswith(("-", "."))):
        raise InvalidArgError("only 64 [a-zA-Z0-9-_.] characters allowed, and the start "
                              f"and end character must be [a-zA-Z0-9]: {name}: invalid "
                              "secret name")
    return name


def no_such_secret(name_or_id: str) -> NoSuchSecretError:
    """podman's error for a secret that is not there."""
    return NoSuchSecretError(f'no secret with name or id "{name_or_id}": no such secret')


@attrs.frozen(kw_only=True)
class Secret:
    """A secret's record (its data is the driver's): what ``secret inspect`` shows."""

    id: str
    name: str
    driver: str
    driver_options: dict[str, str] = attrs.field(factory=dict)
    labels: dict[str, str] = attrs.field(factory=dict)
    #: RFC 3339 with nanoseconds, as podman writes it (``2024-01-02T15:04:05.123Z``).
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as podman's secrets.json holds it."""
        record: dict[str, Any] = {"name": self.name, "id": self.id}
        if self.labels:
            record["labels"] = dict(self.labels)
        record.update(createdAt=self.created_at, driver=self.driver,
                      driverOptions=dict(self.driver_options))
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Secret:
        """A record read from secrets.json."""
        return cls(id=record["id"], name=record["name"], driver=record.get("driver", ""),
                   driver_options=dict(record.get("driverOptions") or {}),
                   labels=dict(record.get("labels") or {}),
                   created_at=record.get("createdAt", ""))


def now_rfc3339() -> str:
    """This moment in UTC, as Go writes a time in JSON (RFC 3339, the fraction of a
    second without its trailing zeros)."""
    moment = datetime.datetime.now(datetime.UTC)
    fraction = f"{moment.microsecond:06d}000".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


class SecretsDB:
    """The records of every secret, in ``directory`` (``graph_root/secrets``)."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, DB_FILE)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the database's lock (every read and change happens under it)."""
        try:
            private_dir(self.directory)
        except OSError as exc:
            raise SecretError(f"making {self.directory}: {exc.strerror}") from None
        with FileLock(os.path.join(self.directory, LOCK_FILE)):
            yield

    def load(self) -> dict[str, Secret]:
        """Every record, by id (the caller holds the lock)."""
        try:
            with open(self.path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretError(f"reading {self.path}: {type(exc).__name__}") from None
        return {sid: Secret.from_json(r) for sid, r in (data.get("secrets") or {}).items()}

    def save(self, records: dict[str, Secret]) -> None:
        """Write every record (the caller holds the lock)."""
        data = {"secrets": {sid: s.to_json() for sid, s in records.items()},
                "nameToID": {s.name: sid for sid, s in records.items()},
                "idToName": {sid: s.name for sid, s in records.items()}}
        try:
            replace_private(self.path, json.dumps(data, indent=2))
        except OSError as exc:
            raise SecretError(f"writing {self.path}: {exc.strerror}") from None

    @staticmethod
    def find(records: dict[str, Secret], name_or_id: str) -> Secret:
        """The secret named ``name_or_id``, or with that id or id prefix;
        NoSuchSecretError, or AmbiguousIDError for a prefix of two ids."""
        for secret in records.values():
            if secret.name == name_or_id:
                return secret
        if name_or_id in records:
            return records[name_or_id]
        found = [s for sid, s in records.items() if name_or_id and sid.startswith(name_or_id)]
        if len(found) > 1:
            raise AmbiguousIDError(f"more than one result secret with prefix {name_or_id}: "
                                   "secret is ambiguous")
        if not found:
            raise no_such_secret(name_or_id)
        return found[0]

    @staticmethod
    def check_free(records: dict[str, Secret], name: str) -> None:
        """SecretExistsError if a secret has this name already."""
        if any(s.name == name for s in records.values()):
            raise SecretExistsError(f"{name}: secret name in use")
