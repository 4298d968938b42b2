"""The SecretDriver interface: where secrets keep their data (podman's secret drivers,
``secret create --driver DRIVER``).

The engine keeps each secret's record (its name, id, labels, driver and the driver's
options) in the secrets database under the graph root, and calls the secret's driver
for the data alone, by the secret's id:

    validate_options(opts) -> opts   (``secret create``, before anything is stored)
    store(id, data, opts)            (``secret create``)
    lookup(id, opts) -> data         (``run --secret``: copied into the container)
    delete(id, opts)                 (``secret rm``)
    list(opts) -> ids

The options a driver accepted at create are passed back with every call, so a driver
keeps nothing of its own beside the data.  The engine calls a driver under the secrets
database's lock: calls for one host never overlap.

What every implementation must do (the kit, :class:`pypod_core.testing.SecretDriverTests`,
checks it):

- keep each secret's bytes exactly (any byte, up to :data:`MAX_SECRET_SIZE`), and apart
  from the others, across new driver objects (another process);
- refuse a second ``store`` of one id (SecretExistsError) and ``lookup`` or ``delete``
  of an id it does not hold (NoSuchSecretError), changing nothing;
- never put a secret's data in an error's text, a log line or a file others can read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from pypod_core.errors import InvalidArgError

#: podman's limit: a secret holds more than 0 and less than this many bytes.
MAX_SECRET_SIZE = 512000
#: The length of a secret's id (hex digits), as podman's.
SECRET_ID_LENGTH = 25


class SecretDriver(ABC):
    """Holds secrets' data by id: stores, reads, deletes and lists it."""

    #: The driver's name, as ``secret create --driver`` and config ``secret_driver``
    #: name it.
    name: str

    def validate_options(self, options: Mapping[str, str]) -> dict[str, str]:
        """The options (``--driver-opts K=V``) as the driver wants them back with every
        call (defaults filled in); InvalidArgError naming the first it does not take.
        Called before ``store``, so a bad option changes nothing.  The default takes
        none."""
        for key in options:
            raise InvalidArgError(f"invalid driver option {key!r} for secret driver "
                                  f"{self.name!r}: it takes no options")
        return {}

    @abstractmethod
    def store(self, secret_id: str, data: bytes, options: Mapping[str, str]) -> None:
        """Keep ``data`` as the secret ``secret_id``.  SecretExistsError if the driver
        holds that id already; SecretDriverError if it cannot be kept."""

    @abstractmethod
    def lookup(self, secret_id: str, options: Mapping[str, str]) -> bytes:
        """The secret's data; NoSuchSecretError if the driver holds no such id."""

    @abstractmethod
    def delete(self, secret_id: str, options: Mapping[str, str]) -> None:
        """Forget the secret's data; NoSuchSecretError if the driver holds no such id."""

    @abstractmethod
    def list(self, options: Mapping[str, str]) -> list[str]:
        """The ids of the secrets the driver holds (with these options), sorted."""
