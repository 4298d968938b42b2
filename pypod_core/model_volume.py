"""The volume records (:mod:`pypod_core.model`'s, imported from there on first use):
a volume's configuration, its state, and the record the state store keeps of both."""

from __future__ import annotations

import time

import attrs


@attrs.frozen(kw_only=True)
class VolumeConfig:
    """A volume's immutable configuration (libpod's ``VolumeConfig``)."""

    name: str
    #: The volume driver that holds it (``local``, or a plugin's).
    driver: str = "local"
    labels: dict[str, str] = attrs.field(factory=dict)
    #: The driver's options (``volume create -o K=V``), as the driver accepted them.
    options: dict[str, str] = attrs.field(factory=dict)
    #: Made for one container (``-v /path``): ``rm -v`` of that container removes it.
    anonymous: bool = False
    #: Where the volume's files are on the host (the driver's answer at create).
    mount_point: str = ""
    #: The owner the driver gave the volume's directory (``-o o=uid=,gid=``).
    uid: int = 0
    gid: int = 0
    created: float = attrs.field(factory=time.time)


@attrs.define(kw_only=True)
class VolumeState:
    """A volume's mutable state (libpod's ``VolumeState``)."""

    #: The containers that have it mounted: the driver mounts it for the first and
    #: unmounts it after the last (a set, so that a repeated mount or unmount is
    #: harmless).
    mounted_by: tuple[str, ...] = ()
    #: Where the driver mounted it, while mounted ("" if it never said).
    mount_point: str = ""
    #: The next container that mounts it over a directory of its root file system
    #: copies that directory's files in first, once (podman's copy-up).
    needs_copy_up: bool = True
    #: The next container that mounts it gives the volume's directory to its user
    #: (podman's ``NeedsChown``), once; off for a volume created with uid= or gid=.
    needs_chown: bool = True

    def reset_after_reboot(self) -> None:
        """After a reboot nothing is mounted: forget who had it mounted."""
        self.mounted_by = ()
        self.mount_point = ""


@attrs.frozen
class Volume:
    """A volume as the state store keeps it and the runtime hands it out: its config
    and its state, as they were when it was read."""

    config: VolumeConfig
    state: VolumeState

    @property
    def name(self) -> str:
        """The volume's name."""
        return self.config.name

    @property
    def driver(self) -> str:
        """The name of the volume driver that holds it."""
        return self.config.driver

    @property
    def mount_point(self) -> str:
        """Where its files are on the host: where the driver mounted it, or the path
        the driver gave at create."""
        return self.state.mount_point or self.config.mount_point

    @property
    def anonymous(self) -> bool:
        """Whether it was made for one container (``-v /path``)."""
        return self.config.anonymous

    @property
    def mount_count(self) -> int:
        """How many containers have it mounted now (podman's ``MountCount``)."""
        return len(self.state.mounted_by)
