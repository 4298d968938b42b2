"""Secret operations of the Runtime (podman's ``secret`` commands over containers/common's
secrets manager).

:class:`SecretOps` is a mixin of :class:`pypod_core.engine.runtime.Runtime`: create, look
up, list and remove secrets, and read a secret's data for a container.  The records are
:mod:`pypod_core.engine.secrets`' database; the data is the secret driver's (a
``secret_driver`` plugin: ``file`` by default).  What containers do with secrets
(``--secret``) is :mod:`pypod_core.engine.ctr_secrets`'.

A secret's data never goes into an error, a log line or a record: only its name and id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pypod_core.engine.runtime_half import RuntimeHalf
from pypod_core.errors import InvalidArgError, NoSuchSecretError

if TYPE_CHECKING:
    from pypod_core.engine.secrets import Secret, SecretsDB
    from pypod_core.plugin.secret import SecretDriver

#: podman's secret drivers that pypod does not build: refused by name.
UNSUPPORTED_DRIVERS = ("pass", "shell")


def _strings(value: Mapping[str, str] | None, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError(f"{what}: expected a dict of strings to strings")
    return dict(value)


class SecretOps(RuntimeHalf):
    """The secret part of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    @property
    def secrets_db(self) -> SecretsDB:
        """The secrets' records, in ``graph_root/secrets`` (podman's place)."""
        # lazy: only secret commands and --secret (datetime, the records: ~6 ms)
        from pypod_core.engine.secrets import SecretsDB

        return SecretsDB(os.path.join(self.config.graph_root, "secrets"))

    def secret_driver(self, name: str | None = None) -> SecretDriver:
        """The secret driver ``name`` (default: config ``secret_driver``), built once per
        runtime; podman's ``pass`` and ``shell`` are refused by name, another name not
        installed is BackendNotFoundError listing the installed ones."""
        name = name or self.config.secret_driver
        if name in UNSUPPORTED_DRIVERS:
            raise InvalidArgError(f"secret driver {name!r} is not supported by pypod")
        built: dict[str, SecretDriver] = self.__dict__.setdefault("_secret_drivers", {})
        if name not in built:
            built[name] = self.plugins.build("secret_driver", name, self)
        return built[name]

    def create_secret(self, name: str, data: bytes, *, driver: str | None = None,
                      driver_options: Mapping[str, str] | None = None,
                      labels: Mapping[str, str] | None = None) -> Secret:
        """Store a new secret (``secret create``): ``data`` (1 to 511999 bytes) kept by
        ``driver`` (default: config ``secret_driver``) with its ``driver_options``.
        InvalidArgError for a bad name, size or option and SecretExistsError for a name
        in use, before anything is stored."""
        # lazy: only secret create (datetime, the records: ~6 ms)
        from pypod_core.engine.secrets import Secret, check_secret_name, now_rfc3339
        from pypod_core.plugin.secret import MAX_SECRET_SIZE

        self.check_valid()
        check_secret_name(name)
        if not isinstance(data, bytes):
            raise TypeError(f"data: expected bytes, not {type(data).__name__}")
        if not 0 < len(data) < MAX_SECRET_SIZE:
            raise InvalidArgError(f"secret data must be larger than 0 and less than "
                                  f"{MAX_SECRET_SIZE} bytes")
        labels = _strings(labels, "labels")
        driver_name = driver or self.config.secret_driver
        backend = self.secret_driver(driver_name)
        options = backend.validate_options(_strings(driver_options, "driver_options"))
        db = self.secrets_db
        with db.locked():
            records = db.load()
            db.check_free(records, name)
            secret_id = _new_secret_id(records)
            secret = Secret(id=secret_id, name=name, driver=driver_name,
                            driver_options=options, labels=labels, created_at=now_rfc3339())
            backend.store(secret_id, data, options)
            records[secret_id] = secret
            try:
                db.save(records)
            except BaseException:
                backend.delete(secret_id, options)
                raise
        return secret

    def lookup_secret(self, name_or_id: str) -> Secret:
        """The secret by name, id or unique id prefix; NoSuchSecretError in podman's
        words (``no secret with name or id "X": no such secret``)."""
        from pypod_core.engine.secrets import no_such_secret  # lazy: as secrets_db

        self.check_valid()
        if not isinstance(name_or_id, str) or not name_or_id:
            raise no_such_secret(str(name_or_id))
        db = self.secrets_db
        with db.locked():
            return db.find(db.load(), name_or_id)

    def has_secret(self, name_or_id: str) -> bool:
        """Whether a secret has this name, id or unique id prefix."""
        try:
            self.lookup_secret(name_or_id)
        except NoSuchSecretError:
            return False
        return True

    def secrets(self) -> list[Secret]:
        """Every secret, oldest first."""
        self.check_valid()
        db = self.secrets_db
        with db.locked():
            return sorted(db.load().values(), key=lambda s: (s.created_at, s.name))

    def remove_secret(self, name_or_id: str) -> Secret:
        """Remove a secret, its record and its data; the removed record.  Containers
        made with it keep their copy (podman's: ``secret rm`` of a secret in use is
        safe).  NoSuchSecretError if there is none."""
        self.check_valid()
        db = self.secrets_db
        with db.locked():
            records = db.load()
            secret = db.find(records, name_or_id)
            try:
                self.secret_driver(secret.driver).delete(secret.id, secret.driver_options)
            except NoSuchSecretError:
                pass  # its data went already (a removal killed between the two steps)
            del records[secret.id]
            db.save(records)
        return secret

    def secret_data(self, name_or_id: str) -> tuple[Secret, bytes]:
        """The secret's record and its data, from its driver."""
        self.check_valid()
        db = self.secrets_db
        with db.locked():
            secret = db.find(db.load(), name_or_id)
            data = self.secret_driver(secret.driver).lookup(secret.id, secret.driver_options)
        return secret, data

    def inspect_secret(self, secret: Secret) -> dict[str, Any]:
        """podman's ``secret inspect`` document (never the data)."""
        return {"ID": secret.id, "CreatedAt": secret.created_at,
                "UpdatedAt": secret.created_at,
                "Spec": {"Name": secret.name,
                         "Driver": {"Name": secret.driver,
                                    "Options": dict(secret.driver_options)},
                         "Labels": dict(secret.labels)}}


def _new_secret_id(records: Mapping[str, Secret]) -> str:
    """A fresh id (25 hex digits, podman's length), no prefix of another's."""
    from pypod_core.plugin.secret import SECRET_ID_LENGTH  # lazy: as secrets_db

    while True:
        secret_id = os.urandom(16).hex()[:SECRET_ID_LENGTH]
        if not any(sid.startswith(secret_id) or secret_id.startswith(sid) for sid in records):
            return secret_id
