"""The VolumeDriver interface: where named volumes keep their files (libpod's local
volume code and Docker's volume plugin API; ``volume create -d DRIVER``).

A volume driver holds volumes by name.  The engine keeps each volume's record (its
options, its labels, which containers have it mounted) in the state store and calls the
driver for the files:

    validate_options(opts)  ->  create(name, opts) -> VolumeInfo
    mount(name, opts) -> host path   (the first container that starts with it)
    unmount(name, opts)              (after the last one stopped)
    remove(name, opts)               (``volume rm``; unmounts first)

The engine counts the containers that have a volume mounted and calls ``mount`` for the
first and ``unmount`` after the last, under the volume's lock: a driver need not count.
It passes the options the driver accepted at create with every call, so a driver need
keep nothing of its own beside the files.  After a reboot the engine calls ``unmount``
on every volume once (the mounts a simulated reboot left behind go, and a real reboot
left none).

What every implementation must do (the kit, :class:`pypod_core.testing.VolumeDriverTests`,
checks it):

- refuse a name that is not a volume name (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``) with
  InvalidArgError, before touching anything, and an option it does not know;
- keep volumes apart, and their files across unmount and mount;
- make ``mount`` of a mounted volume return the same path, and ``unmount`` of one not
  mounted do nothing (a process killed between the two leaves them unbalanced once);
- leave no mount behind after ``unmount`` or ``remove``, and never delete through a
  mount: ``remove`` of a volume it cannot unmount fails (VolumeDriverError) and deletes
  nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import attrs

from pypod_core.errors import InvalidArgError
from pypod_core.model import validate_name


@attrs.frozen
class VolumeInfo:
    """What a driver made at ``create``: where the volume's files are on the host when
    it is mounted (inspect's ``Mountpoint``), the owner it gave them, and whether the
    engine may give them to the first container's user (podman's ``NeedsChown``; False
    when the user chose the owner, or the driver manages it)."""

    path: str
    uid: int = 0
    gid: int = 0
    may_chown: bool = False


def check_volume_name(name: str) -> str:
    """``name`` if it is a valid volume name (the names of containers), else
    InvalidArgError: a name never holds a ``/`` or starts with a dot."""
    if not isinstance(name, str):
        raise InvalidArgError(f"invalid volume name {name!r}: not a string")
    try:
        return validate_name(name)
    except InvalidArgError:
        raise InvalidArgError(f"invalid volume name {name!r}: names must match "
                              "[a-zA-Z0-9][a-zA-Z0-9_.-]*") from None


class VolumeDriver(ABC):
    """Holds named volumes' files: creates, mounts, unmounts and removes them."""

    #: The driver's name, as ``volume create -d`` and config ``volume_driver`` name it.
    name: str
    #: The directory the driver keeps its volumes under ("" if they are elsewhere,
    #: a remote service's); the kit checks that no mount is left below it.
    home: str = ""

    def validate_options(self, options: Mapping[str, str]) -> dict[str, str]:
        """The options (``volume create -o K=V``) as the driver will be given them back;
        InvalidArgError naming the first it does not take.  Called before ``create``,
        so a bad option changes nothing.  The default takes none."""
        for key in options:
            raise InvalidArgError(f"invalid option {key!r} for volume driver "
                                  f"{self.name!r}: it takes no options")
        return {}

    @abstractmethod
    def create(self, name: str, options: Mapping[str, str]) -> VolumeInfo:
        """Make the volume ``name`` (empty) and say where its files will be.

        The engine calls it only for a name it has no volume of, under the volume's
        lock; files a crash left under that name may be taken over (the local driver
        does, as podman's) or refused with VolumeExistsError.  InvalidArgError for a bad
        name; VolumeDriverError if the files cannot be made."""

    @abstractmethod
    def remove(self, name: str, options: Mapping[str, str]) -> None:
        """Unmount the volume if it is mounted, then delete it and its files.
        NoSuchVolumeError if the driver has no such volume; VolumeDriverError, with
        nothing deleted, if it stays mounted."""

    @abstractmethod
    def mount(self, name: str, options: Mapping[str, str]) -> str:
        """Make the volume's files usable and return their host path (a bind-mount
        source for containers).  Mounting a mounted volume returns the same path.
        NoSuchVolumeError if there is none; VolumeDriverError if the mount fails."""

    @abstractmethod
    def unmount(self, name: str, options: Mapping[str, str]) -> None:
        """Undo ``mount`` (the files stay).  A volume not mounted is fine;
        NoSuchVolumeError if there is no such volume."""

    @abstractmethod
    def volumes(self) -> list[str]:
        """The names of the volumes the driver holds, sorted."""

    def status(self, name: str) -> dict[str, Any]:
        """What ``volume inspect`` shows as ``Status`` (podman shows it for plugin
        volumes): JSON-able data about the volume, {} for none (the default)."""
        return {}
