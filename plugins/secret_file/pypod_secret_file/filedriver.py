"""The ``file`` secret driver: podman's file driver layout, unencrypted.

Every secret's data is one entry of ``<path>/secretsdata.json``: the secret's id to its
bytes in base64 (as Go writes a ``[]byte``).  The directory is 0700 and the file 0600,
whatever the umask; the file is replaced whole on every change (written beside it, then
renamed), under ``<path>/secretsdata.lock``.

The one option is podman's ``path``: the directory (absolute; default: the driver's own
under the graph root).  The engine records it with the secret, so a secret stored under
another ``path`` is read back from there.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping

from pypod_core.errors import (
    InvalidArgError,
    NoSuchSecretError,
    SecretDriverError,
    SecretExistsError,
)
from pypod_core.host.locks import FileLock
from pypod_core.host.private import private_dir, replace_private
from pypod_core.plugin import SecretDriver

#: The data file and its lock, in the driver's directory (podman's names).
DATA_FILE, LOCK_FILE = "secretsdata.json", "secretsdata.lock"


class FileDriver(SecretDriver):
    """Secrets' data in one private JSON file (``path`` option: its directory)."""

    name = "file"

    def __init__(self, default_path: str):
        self.default_path = default_path

    def validate_options(self, options: Mapping[str, str]) -> dict[str, str]:
        """Only ``path`` (an absolute directory); the default is filled in, so that the
        secret's record says where its data is."""
        for key in options:
            if key != "path":
                raise InvalidArgError(f"invalid driver option {key!r} for secret driver "
                                      "'file': it takes only path=DIR")
        path = options.get("path", self.default_path)
        if not os.path.isabs(path):
            raise InvalidArgError(f"invalid driver option path={path!r} for secret driver "
                                  "'file': the path must be absolute")
        return {"path": os.path.normpath(path)}

    def _path(self, options: Mapping[str, str]) -> str:
        return options.get("path") or self.default_path

    def _read(self, directory: str) -> dict[str, str]:
        try:
            with open(os.path.join(directory, DATA_FILE)) as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # The error names the file, never its contents.
            raise SecretDriverError(f"reading {os.path.join(directory, DATA_FILE)}: "
                                    f"{type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise SecretDriverError(f"{os.path.join(directory, DATA_FILE)}: not a JSON object")
        return data

    def _write(self, directory: str, data: dict[str, str]) -> None:
        try:
            replace_private(os.path.join(directory, DATA_FILE), json.dumps(data, indent=2))
        except OSError as exc:
            raise SecretDriverError(f"writing {os.path.join(directory, DATA_FILE)}: "
                                    f"{exc.strerror}") from None

    def _lock(self, directory: str) -> FileLock:
        try:
            private_dir(directory)
        except OSError as exc:
            raise SecretDriverError(f"making {directory}: {exc.strerror}") from None
        return FileLock(os.path.join(directory, LOCK_FILE))

    def store(self, secret_id: str, data: bytes, options: Mapping[str, str]) -> None:
        """Add the secret's data; SecretExistsError if the id is there already."""
        directory = self._path(options)
        with self._lock(directory):
            held = self._read(directory)
            if secret_id in held:
                raise SecretExistsError(f"{secret_id}: secret data with ID already exists")
            held[secret_id] = base64.b64encode(data).decode("ascii")
            self._write(directory, held)

    def lookup(self, secret_id: str, options: Mapping[str, str]) -> bytes:
        """The secret's bytes; NoSuchSecretError if the file has no such id."""
        directory = self._path(options)
        with self._lock(directory):
            held = self._read(directory)
        if secret_id not in held:
            raise NoSuchSecretError(f"{secret_id}: no secret data with ID")
        try:
            return base64.b64decode(held[secret_id], validate=True)
        except (binascii.Error, TypeError):
            raise SecretDriverError(f"{secret_id}: the secret's data is not base64 in "
                                    f"{os.path.join(directory, DATA_FILE)}") from None

    def delete(self, secret_id: str, options: Mapping[str, str]) -> None:
        """Drop the secret's data; NoSuchSecretError if the file has no such id."""
        directory = self._path(options)
        with self._lock(directory):
            held = self._read(directory)
            if held.pop(secret_id, None) is None:
                raise NoSuchSecretError(f"{secret_id}: no secret data with ID")
            self._write(directory, held)

    def list(self, options: Mapping[str, str]) -> list[str]:
        """The ids in the data file, sorted."""
        directory = self._path(options)
        with self._lock(directory):
            return sorted(self._read(directory))
