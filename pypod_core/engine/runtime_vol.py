"""Volume operations of the Runtime (libpod's ``runtime_volume*.go``).

:class:`VolumeOps` is a mixin of :class:`pypod_core.engine.runtime.Runtime`: create, look
up, list, remove and prune named volumes, export and import their files.  The records
are the state store's; the files are the volume driver's (a ``volume_driver`` plugin:
``local`` by default).  What containers do with volumes (mounting them at start,
copy-up, ``inspect``'s ``Mounts``) is :mod:`pypod_core.engine.volumes`'.

Locking: each volume has a lock (``vol-NAME`` in the lock dir).  Creating and removing a
volume, mounting and unmounting it, and adding a container that uses it happen under
that lock; a volume lock is always taken after a container's lock, never before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from pypod_core.engine.runtime_half import RuntimeHalf
from pypod_core.errors import (
    InvalidArgError,
    NoSuchCtrError,
    NoSuchVolumeError,
    PypodError,
    VolumeExistsError,
    VolumeInUseError,
)
from pypod_core.model import new_id

if TYPE_CHECKING:
    from pypod_core.host.locks import FileLock
    from pypod_core.model import Volume
    from pypod_core.plugin.volume import VolumeDriver


def _warn(message: str, *args: Any) -> None:
    """Log a warning on ``pypod.volumes``; logging is imported only by a failure that
    needs it (~5 ms every command would pay otherwise)."""
    import logging  # lazy: only a failure (~5 ms)

    logging.getLogger("pypod.volumes").warning(message, *args)


#: How often ``remove_volume(force=True)`` removes the containers that use a volume,
#: when other processes keep adding new ones, before giving up.
FORCE_ROUNDS = 5


def _check_strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError(f"{what}: expected a dict of strings to strings, not "
                        f"{type(value).__name__}")
    return dict(value)


class VolumeOps(RuntimeHalf):
    """The volume part of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    # -- drivers and locks -----------------------------------------------------------

    def volume_driver(self, name: str | None = None) -> VolumeDriver:
        """The volume driver ``name`` (default: config ``volume_driver``), built once
        per runtime; BackendNotFoundError lists the installed ones."""
        name = name or self.config.volume_driver
        built: dict[str, VolumeDriver] = self.__dict__.setdefault("_volume_drivers", {})
        if name not in built:
            built[name] = self.plugins.build("volume_driver", name, self)
        return built[name]

    def volume_lock(self, name: str) -> FileLock:
        """The volume's lock (``vol-NAME.lock`` in the lock dir), reentrant within this
        process."""
        return self.locks.get(f"vol-{name}")

    @contextmanager
    def volumes_locked(self, names: list[str]) -> Iterator[None]:
        """Hold the locks of ``names`` (in sorted order, each once)."""
        held: list[FileLock] = []
        try:
            for name in sorted(set(names)):
                lock = self.volume_lock(name)
                lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in reversed(held):
                lock.release()

    # -- create and find ---------------------------------------------------------------

    def create_volume(self, name: str | None = None, driver: str | None = None,
                      options: Mapping[str, str] | None = None,
                      labels: Mapping[str, str] | None = None, *,
                      anonymous: bool = False) -> Volume:
        """Create a volume (``volume create``): ``name`` (a new 64-hex one if None),
        held by ``driver`` (default: config ``volume_driver``) with the driver's
        ``options`` (``-o``), and ``labels``.  VolumeExistsError if the name is taken
        (of two processes creating one name, one wins); InvalidArgError for a bad name
        or option, before anything is made."""
        # lazy: only volume create, the records (~3.6 ms) and the name rule (~1.2 ms)
        from pypod_core.model_volume import Volume, VolumeConfig, VolumeState
        from pypod_core.plugin.volume import check_volume_name

        self.check_valid()
        if name is not None:
            check_volume_name(name)
        if driver is not None and not isinstance(driver, str):
            raise TypeError(f"driver: expected a string, not {type(driver).__name__}")
        options, labels = _check_strings(options, "options"), _check_strings(labels, "labels")
        name = name if name is not None else new_id()
        driver_name = driver or self.config.volume_driver
        backend = self.volume_driver(driver_name)
        accepted = backend.validate_options(options)
        with self.volume_lock(name):
            if self.state.has_volume(name):
                raise VolumeExistsError(f"volume with name {name} already exists")
            info = backend.create(name, accepted)
            volume = Volume(
                VolumeConfig(name=name, driver=driver_name, labels=labels, options=accepted,
                             anonymous=anonymous, mount_point=info.path, uid=info.uid,
                             gid=info.gid),
                VolumeState(needs_chown=info.may_chown))
            try:
                self.state.add_volume(volume)
            except BaseException:
                self._delete_volume_files(volume)
                raise
        try:
            self.plugins.hook.pypod_volume_created(runtime=self, volume=volume)
        except BaseException:
            # Only with PYPOD_STRICT_PLUGINS=1 does a listener fail the operation.
            self.remove_volume(name, force=True)
            raise
        return volume

    def volumes(self) -> list[Volume]:
        """Every volume, oldest first."""
        self.check_valid()
        return self.state.all_volumes()

    def get_volume(self, name: str) -> Volume:
        """The volume with this name; NoSuchVolumeError if none."""
        self.check_valid()
        return self.state.volume(name)

    def lookup_volume(self, name_or_prefix: str) -> Volume:
        """The volume with this name, or the only one whose name starts with it."""
        self.check_valid()
        return self.state.lookup_volume(name_or_prefix)

    def has_volume(self, name: str) -> bool:
        """Whether a volume with this name exists (``volume exists``)."""
        self.check_valid()
        return self.state.has_volume(name)

    def volume_users(self, name: str) -> list[str]:
        """Ids of the containers that use the volume."""
        self.check_valid()
        return self.state.volume_in_use(name)

    def inspect_volume(self, volume: Volume) -> dict[str, Any]:
        """``volume inspect``: podman's keys (``Name``, ``Driver``, ``Mountpoint``,
        ``CreatedAt``, ``Labels``, ``Scope``, ``Options``, ``MountCount``...), those podman
        leaves out when empty left out too; ``Status`` is the driver's."""
        from pypod_core.engine.inspect import go_time  # lazy: only inspect (~8.5 ms)

        c, st = volume.config, volume.state
        doc: dict[str, Any] = {"Name": c.name, "Driver": c.driver,
                               "Mountpoint": volume.mount_point,
                               "CreatedAt": go_time(c.created)}
        try:
            status = self.volume_driver(c.driver).status(c.name)
        except PypodError:
            status = {}  # a driver no longer installed: the record still shows
        if status:
            doc["Status"] = status
        doc.update({"Labels": dict(c.labels), "Scope": "local", "Options": dict(c.options)})
        for key, value in (("UID", c.uid), ("GID", c.gid), ("Anonymous", c.anonymous)):
            if value:
                doc[key] = value
        doc["MountCount"] = volume.mount_count
        for key, value in (("NeedsCopyUp", st.needs_copy_up), ("NeedsChown", st.needs_chown)):
            if value:
                doc[key] = value
        return doc

    # -- remove ------------------------------------------------------------------------

    def remove_volume(self, volume: Volume | str, force: bool = False,
                      timeout: int | None = None) -> Volume:
        """Remove a volume and its files; return its record as it was.  A volume that
        containers use is refused (VolumeInUseError naming them) unless ``force``,
        which removes those containers first (stopping them after ``timeout``
        seconds, default their stop timeout)."""
        self.check_valid()
        name = volume if isinstance(volume, str) else volume.name
        for _ in range(FORCE_ROUNDS):
            users = self.state.volume_in_use(name)
            if not users:
                break
            if not force:
                raise VolumeInUseError(f"volume {name} is being used by the following "
                                       f"container(s): {', '.join(users)}")
            self._remove_volume_users(users, timeout)
        with self.volume_lock(name):
            record = self.state.volume(name)
            users = self.state.volume_in_use(name)
            if users:  # added since, by another process
                raise VolumeInUseError(f"volume {name} is being used by the following "
                                       f"container(s): {', '.join(users)}")
            # The files first: a driver that cannot delete them (a mount it cannot undo)
            # leaves the volume as it was, for the user to try again.
            self._delete_volume_files(record)
            self.state.remove_volume(name)
            self.locks.forget(f"vol-{name}")
        self.plugins.hook.pypod_volume_removed(runtime=self, volume=record)
        return record

    def _remove_volume_users(self, users: list[str], timeout: int | None) -> None:
        for ctr_id in users:
            try:
                ctr = self._runtime.get_container(ctr_id)
            except NoSuchCtrError:
                continue
            self._runtime.remove_container(ctr, force=True, timeout=timeout)

    def _delete_volume_files(self, volume: Volume) -> None:
        try:
            self.volume_driver(volume.driver).remove(volume.name, volume.config.options)
        except NoSuchVolumeError:
            pass  # the driver has no files of it (removed by hand): nothing to delete

    def prune_volumes(self) -> list[Volume]:
        """Remove every volume that no container uses (``volume prune``); return what
        was removed.  One that a container starts using meanwhile is kept."""
        self.check_valid()
        removed = []
        for volume in self.state.all_volumes():
            if self.state.volume_in_use(volume.name):
                continue
            try:
                removed.append(self.remove_volume(volume.name))
            except (VolumeInUseError, NoSuchVolumeError):
                continue
        return removed

    def remove_anonymous_volumes(self, names: list[str]) -> None:
        """``rm -v``: remove the anonymous ones of ``names`` (a removed container's);
        one another container still uses (``--volumes-from``) is kept."""
        for name in names:
            try:
                volume = self.state.volume(name)
                if volume.anonymous:
                    self.remove_volume(volume.name)
            except (NoSuchVolumeError, VolumeInUseError):
                continue
            except PypodError as exc:
                _warn("cannot remove volume %s: %s", name, exc)

    # -- files -------------------------------------------------------------------------

    @contextmanager
    def _volume_mounted(self, name: str) -> Iterator[str]:
        """The volume mounted for pypod itself (export, import), as containers mount it."""
        from pypod_core.engine import volumes  # lazy: only export, import (~8 ms)

        holder = f"pypod-{new_id()[:16]}"
        path = volumes.mount_volume(self._runtime, name, holder)
        try:
            yield path
        finally:
            volumes.unmount_volume(self._runtime, name, holder)

    def export_volume(self, name: str, out: BinaryIO) -> None:
        """Write the volume's files to ``out`` as a tar stream (``volume export``)."""
        import tarfile  # lazy: only export (~3.6 ms)

        self.check_valid()
        with self._volume_mounted(name) as path, \
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(path)):
                tar.add(os.path.join(path, entry), arcname=entry)

    def import_volume(self, name: str, source: BinaryIO) -> None:
        """Extract the tar stream ``source`` into the volume (``volume import``); no
        member can land outside it."""
        from pypod_core.host.layers import LayerError, extract_layer  # lazy: only import (~14 ms)

        self.check_valid()
        with self._volume_mounted(name) as path:
            try:
                extract_layer(source, path, whiteouts="vfs")
            except LayerError as exc:
                raise InvalidArgError(f"importing into volume {name}: {exc}") from None

    # -- after a reboot ----------------------------------------------------------------

    def refresh_volumes(self) -> None:
        """After a reboot (the state already reset): have each volume's driver unmount
        it, so that nothing mounted before the reboot (a simulated one) survives."""
        for volume in self.state.all_volumes():
            try:
                self.volume_driver(volume.driver).unmount(volume.name, volume.config.options)
            except PypodError as exc:
                _warn("cannot unmount volume %s after a reboot: %s", volume.name, exc)
