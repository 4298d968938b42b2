"""The ``local`` volume driver: podman's local volumes, ``<volume_path>/<name>/_data``.

A volume without options is a plain directory.  With podman's options it is mounted,
by the ``mount`` program, when its first container starts and unmounted after the last
one stopped; the options are ``mount(8)``'s:

- ``type=TYPE``: ``mount -t TYPE`` (``tmpfs``, ``ext4``, ``nfs``...; ``bind`` is
  ``mount -o bind``);
- ``device=WHAT``: what is mounted (default: the type, as a tmpfs needs no device); a
  bind's device must exist;
- ``o=OPT,OPT``: ``mount -o``; ``uid=N`` and ``gid=N`` also give the volume's directory
  to that owner at create (for a tmpfs they stay mount options: the tmpfs's root gets
  the owner; for other types they are not passed to mount);
- ``size=SIZE`` (``10m``, ``1g``): a tmpfs's size (``o=size=`` works as well).  pypod
  sets no disk quotas, so a size for any other volume is refused, as is ``inodes``;
  ``noquota`` is accepted (there is nothing to turn off);
- ``copy`` / ``nocopy``: whether a container copies the files of the directory it
  mounts the volume over into it, on first use (the engine reads these).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from pypod_core.errors import InvalidArgError, NoSuchVolumeError, VolumeDriverError
from pypod_core.host import mounts
from pypod_core.plugin import VolumeDriver, VolumeInfo, check_volume_name

#: The option keys the local driver takes (podman's, less uid/gid/inodes on their own).
KEYS = ("type", "device", "o", "size", "copy", "nocopy", "noquota")
#: Where the mount program is looked for after $PATH.
_MOUNT_PROGRAMS = ("/usr/bin/mount", "/bin/mount", "/usr/sbin/mount", "/sbin/mount")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, what: str) -> int:
    """Bytes of a human size (``512``, ``64k``, ``10m``, ``1g``, ``10MB``, ``2GiB``)."""
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = value, ""
    if value and value[-1] in _UNITS:
        number, unit = value[:-1], value[-1]
    try:
        size = int(float(number) * _UNITS[unit])
    except ValueError:
        raise InvalidArgError(f"invalid {what} {text!r}: expected a size such as 64m "
                              "or 1g") from None
    if size <= 0:
        raise InvalidArgError(f"invalid {what} {text!r}: must be more than 0")
    return size


def _owner(entry: str, key: str) -> int:
    value = entry.partition("=")[2]
    if not value.isdigit():
        raise InvalidArgError(f"invalid volume option o={entry}: {key} must be a number")
    return int(value)


class LocalOptions:
    """A volume's options, parsed: what to mount and how, and its owner."""

    def __init__(self, options: Mapping[str, str]):
        for key in options:
            if key not in KEYS:
                hint = ("; give it in o: -o o=uid=1000" if key in ("uid", "gid") else "")
                raise InvalidArgError(f"invalid mount option {key} for driver 'local'{hint}")
        self.type = options.get("type", "")
        self.device = options.get("device", "")
        self.uid: int | None = None
        self.gid: int | None = None
        self.mount_options: list[str] = []
        for entry in filter(None, options.get("o", "").split(",")):
            key = entry.partition("=")[0].lower()
            if key == "uid":
                self.uid = _owner(entry, "uid")
            elif key == "gid":
                self.gid = _owner(entry, "gid")
            elif key in ("size", "inodes") and self.type != "tmpfs":
                raise InvalidArgError(f"volume option o={entry}: pypod sets no disk quotas; "
                                      "a size is for type=tmpfs volumes")
            if key not in ("uid", "gid") or self.type == "tmpfs":
                self.mount_options.append(entry)
        if "size" in options:
            if self.type != "tmpfs":
                raise InvalidArgError("volume option size: pypod sets no disk quotas; a "
                                      "size is for type=tmpfs volumes")
            self.mount_options.append(f"size={parse_size(options['size'], 'volume size')}")
        if self.mount_options and not (self.type or self.device):
            raise InvalidArgError(f"volume option o={options['o']}: mount options need "
                                  "type= (and device=, unless it is a tmpfs)")
        if self.type == "bind" or "bind" in self.mount_options:
            if not self.device:
                raise InvalidArgError("a bind volume needs device=PATH")
            if not os.path.exists(self.device):
                raise InvalidArgError(f"invalid volume option device for driver 'local': "
                                      f"{self.device}: no such file or directory")

    @property
    def mounts(self) -> bool:
        """Whether the volume is mounted (a type or a device was given)."""
        return bool(self.type or self.device)

    def mount_args(self, target: str) -> list[str]:
        """The mount program's arguments, as podman builds them."""
        args = []
        if self.type == "bind":
            args += ["-o", "bind"]
        elif self.type:
            args += ["-t", self.type]
        if self.mount_options:
            args += ["-o", ",".join(self.mount_options)]
        return [*args, self.device or self.type, target]


def _mount_program() -> str:
    found = shutil.which("mount")
    if found:
        return found
    for path in _MOUNT_PROGRAMS:
        if os.path.exists(path):
            return path
    raise VolumeDriverError("the mount program (util-linux) is not installed")


class LocalDriver(VolumeDriver):
    """Volumes as directories under ``home`` (config ``volume_path``)."""

    name = "local"

    def __init__(self, home: str):
        self.home = home

    def _dir(self, name: str) -> str:
        return os.path.join(self.home, check_volume_name(name))

    def data_path(self, name: str) -> str:
        """Where the volume's files are: ``<home>/<name>/_data``."""
        return os.path.join(self._dir(name), "_data")

    def _existing(self, name: str) -> str:
        path = self._dir(name)
        if not os.path.isdir(path):
            raise NoSuchVolumeError(f"no volume with name {name!r} found in driver 'local'")
        return path

    def validate_options(self, options: Mapping[str, str]) -> dict[str, str]:
        LocalOptions(options)
        return dict(options)

    def create(self, name: str, options: Mapping[str, str]) -> VolumeInfo:
        base = self._dir(name)
        parsed = LocalOptions(options)
        uid, gid = parsed.uid or 0, parsed.gid or 0
        data = os.path.join(base, "_data")
        try:
            os.makedirs(self.home, 0o700, exist_ok=True)
            # As podman's: a directory a crash left under this name is taken over.
            os.makedirs(base, 0o700, exist_ok=True)
            os.makedirs(data, 0o755, exist_ok=True)
            for path in (base, data):
                os.chown(path, uid, gid)
        except OSError as exc:
            raise VolumeDriverError(f"creating volume {name}: {exc.strerror}: "
                                    f"{exc.filename}") from exc
        return VolumeInfo(path=data, uid=uid, gid=gid,
                          may_chown=parsed.uid is None and parsed.gid is None)

    def mount(self, name: str, options: Mapping[str, str]) -> str:
        self._existing(name)
        path = self.data_path(name)
        parsed = LocalOptions(options)
        if not parsed.mounts or mounts.is_mount_point(path):
            return path
        argv = [_mount_program(), *parsed.mount_args(path)]
        result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            said = " ".join((result.stderr or result.stdout).split()) or \
                f"exit status {result.returncode}"
            raise VolumeDriverError(f"mounting volume {name} ({' '.join(argv[1:-1])}): {said}")
        return path

    def unmount(self, name: str, options: Mapping[str, str]) -> None:
        self._existing(name)
        path = self.data_path(name)
        try:
            if mounts.is_mount_point(path):
                mounts.umount(path)
        except OSError as exc:
            raise VolumeDriverError(f"unmounting volume {name}: {exc}") from exc

    def remove(self, name: str, options: Mapping[str, str]) -> None:
        base = self._existing(name)
        self.unmount(name, options)
        left = mounts.mounts_under(base)
        if left:
            raise VolumeDriverError(f"volume {name}: {left[0]} is still mounted; nothing "
                                    "was removed (unmount it first)")
        try:
            shutil.rmtree(base)
        except OSError as exc:
            raise VolumeDriverError(f"removing volume {name}: {exc.strerror}: "
                                    f"{exc.filename}") from exc

    def volumes(self) -> list[str]:
        try:
            entries = os.listdir(self.home)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if os.path.isdir(os.path.join(self.home, e)))
