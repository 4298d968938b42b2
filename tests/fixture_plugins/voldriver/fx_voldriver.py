"""A third-party volume driver 'fxbind': each volume's files in a store directory,
bind-mounted at a mount directory of its own while containers use it."""

from __future__ import annotations

import os
import shutil
import subprocess

from pypod_core.errors import InvalidArgError, NoSuchVolumeError, VolumeDriverError
from pypod_core.host import mounts
from pypod_core.plugin import (
    VolumeDriver,
    VolumeDriverBackend,
    VolumeInfo,
    check_volume_name,
    hookimpl,
)


class BindDriver(VolumeDriver):
    """Volumes under ``home/store``, seen through bind mounts under ``home/mnt``."""

    name = "fxbind"

    def __init__(self, home):
        self.home = home

    def _paths(self, name):
        check_volume_name(name)
        return os.path.join(self.home, "store", name), os.path.join(self.home, "mnt", name)

    def _existing(self, name):
        store, mnt = self._paths(name)
        if not os.path.isdir(store):
            raise NoSuchVolumeError(f"fxbind has no volume {name}")
        return store, mnt

    def validate_options(self, options):
        for key in options:
            if key != "note":
                raise InvalidArgError(f"invalid option {key!r} for volume driver 'fxbind'")
        return dict(options)

    def create(self, name, options):
        store, mnt = self._paths(name)
        os.makedirs(store, exist_ok=True)
        os.makedirs(mnt, exist_ok=True)
        return VolumeInfo(path=mnt)

    def mount(self, name, options):
        store, mnt = self._existing(name)
        if not mounts.is_mount_point(mnt):
            result = subprocess.run(["mount", "--bind", store, mnt], capture_output=True,
                                    text=True)
            if result.returncode:
                raise VolumeDriverError(f"fxbind: {result.stderr.strip()}")
        return mnt

    def unmount(self, name, options):
        _, mnt = self._existing(name)
        if mounts.is_mount_point(mnt):
            mounts.umount(mnt)

    def remove(self, name, options):
        store, mnt = self._existing(name)
        self.unmount(name, options)
        if mounts.mounts_under(mnt) or mounts.mounts_under(store):
            raise VolumeDriverError(f"fxbind: volume {name} is still mounted")
        shutil.rmtree(store)
        shutil.rmtree(mnt, ignore_errors=True)

    def volumes(self):
        try:
            return sorted(os.listdir(os.path.join(self.home, "store")))
        except FileNotFoundError:
            return []

    def status(self, name):
        store, _ = self._existing(name)
        return {"store": store}


def make(runtime):
    return BindDriver(os.path.join(runtime.config.graph_root, "fxbind"))


@hookimpl
def pypod_volume_drivers():
    yield VolumeDriverBackend(name="fxbind", factory=make,
                              description="bind-mounted store directories (test)")
