"""A container's root filesystem through its graph driver: made at create, mounted at
init, unmounted when the container stops, removed with it (libpod's storage service).

Every container's rootfs goes through :class:`~pypod_core.plugin.graph_driver.GraphDriver`:

==============  =====================================  ==================================
container       driver (``ContainerConfig.graph_driver``)   the driver's "layer"
==============  =====================================  ==================================
``--rootfs``    ``dir``                                the directory, used in place
``DIR:O``       ``dir-overlay``                        the directory, an overlay's lower
from an image   the runtime's image driver (overlay,   the image's top layer
                vfs)
older record    "" (made before graph drivers)          none: ``config.rootfs`` in place
==============  =====================================  ==================================

The life of one rootfs, and who calls what:

- :func:`create` when the container's record is stored (``create_container``); if it
  fails the record goes again, so no rootfs exists without a container;
- :func:`mount` at init, giving the OCI ``root.path``; the mount point is kept in the
  container's state (libpod's ``Mountpoint``) for exec and inspect;
- :func:`umount` in the container's clean-up (its exit noticed by any process, conmon's
  exit command, ``--rm``, a failed init), and at the reboot refresh;
- :func:`remove` at ``rm``.

``pypod mount`` holds the rootfs mounted beyond the run (:func:`user_mount`, counted in
``ctr.state.user_mounts``): :func:`umount` leaves it mounted while that count is above 0,
and :func:`user_umount` takes it away after the last one once no run holds it.

A record stored by a process killed before it made the rootfs is completed at mount.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pypod_core.errors import NoSuchRootfsError, PypodError

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import ContainerConfig, Image
    from pypod_core.plugin.graph_driver import GraphDriver

#: The driver of every ``--rootfs`` container, whatever ``graph_driver`` says.
DIR_DRIVER = "dir"
#: The driver of a ``--rootfs DIR:O`` container (an overlay over DIR).
DIR_OVERLAY_DRIVER = "dir-overlay"
#: The drivers whose "layer" is the container's ``--rootfs`` directory.
ROOTFS_DRIVERS = frozenset({DIR_DRIVER, DIR_OVERLAY_DRIVER})


def driver_named(runtime: Runtime, name: str) -> GraphDriver:
    """The graph driver ``name``, built once per runtime: the runtime's image driver when
    it is that one, else the backend of that name (``dir`` is the core's)."""
    drivers = runtime.rootfs_drivers
    driver = drivers.get(name)
    if driver is None:
        # Only if this process built it already (a create from an image): building the
        # image driver checks that overlay mounts, which a container made with it did.
        image_driver = vars(runtime).get("graph_driver")
        if image_driver is not None and image_driver.name == name:
            driver = image_driver
        else:
            driver = runtime.plugins.build("graph_driver", name, runtime)
        drivers[name] = driver
    return driver


def _driver(ctr: Container) -> GraphDriver | None:
    """The container's driver; None for a record made before graph drivers."""
    name = ctr.config.graph_driver
    return driver_named(ctr.runtime, name) if name else None


def _layer(config: ContainerConfig, runtime: Runtime) -> str | None:
    """What the container's rootfs stands on: its directory (``dir``) or its image's top
    layer (None: an image without layers)."""
    if config.graph_driver in ROOTFS_DRIVERS:
        return config.rootfs
    return runtime.get_image(config.image_id).top_layer


def create(runtime: Runtime, config: ContainerConfig, image: Image | None = None) -> None:
    """Make the new container's rootfs in its driver (nothing is mounted): over
    ``image``'s top layer, or the image the config names."""
    if not config.graph_driver:
        return
    driver = driver_named(runtime, config.graph_driver)
    layer = image.top_layer if image is not None else _layer(config, runtime)
    driver.create_rootfs(config.id, layer)


def mount(ctr: Container) -> str:
    """Mount the container's rootfs; its path (the OCI ``root.path``), also kept in
    ``ctr.state.mount_point`` (the caller saves the state)."""
    driver = _driver(ctr)
    if driver is None:
        path = ctr.config.rootfs
    else:
        try:
            path = driver.mount(ctr.id)
        except NoSuchRootfsError:  # its creator was killed between record and rootfs
            create(ctr.runtime, ctr.config)
            path = driver.mount(ctr.id)
    ctr.state.mount_point = path
    return path


def umount(ctr: Container) -> None:
    """Unmount the container's rootfs (its files stay); not mounted, or no rootfs at all,
    is fine.  ``ctr.state.mount_point`` is cleared (the caller saves the state).  While
    ``pypod mount`` holds it (``ctr.state.user_mounts``), it stays mounted."""
    if ctr.state.user_mounts > 0:
        return
    driver = _driver(ctr)
    ctr.state.mount_point = ""
    if driver is not None:
        try:
            driver.umount(ctr.id)
        except NoSuchRootfsError:
            pass


def remove(ctr: Container) -> None:
    """Unmount and delete the container's rootfs (a ``--rootfs`` directory's files are
    the user's: only the driver's record of it goes)."""
    driver = _driver(ctr)
    ctr.state.mount_point = ""
    ctr.state.user_mounts = 0
    if driver is not None:
        driver.remove_rootfs(ctr.id)


def user_mount(ctr: Container) -> str:
    """Mount the container's rootfs for ``pypod mount`` (once more) and return its path;
    the caller holds the container's lock and saves the state."""
    path = mount(ctr)
    ctr.state.user_mounts += 1
    return path


def user_umount(ctr: Container, force: bool, running: bool) -> None:
    """Count one ``pypod mount`` off (``force``: all of them); after the last, unmount
    unless the container's run still holds the rootfs (``running``: its clean-up will).
    The caller holds the container's lock and saves the state."""
    if ctr.state.user_mounts <= 0:
        return
    ctr.state.user_mounts = 0 if force else ctr.state.user_mounts - 1
    if ctr.state.user_mounts == 0 and not running:
        umount(ctr)


@contextmanager
def mounted(ctr: Container) -> Iterator[str]:
    """The container's rootfs mounted for a moment (a copy into a stopped container), its
    path; unmounted after.  The caller holds the container's lock and saves nothing."""
    path = mount(ctr)
    try:
        yield path
    finally:
        umount(ctr)


def readable_path(ctr: Container) -> str:
    """Where the container's files can be read now, without mounting anything: its
    mount point, or its directory for a ``--rootfs`` container; "" if neither (an image
    container that is not mounted)."""
    if ctr.state.mount_point:
        return ctr.state.mount_point
    if ctr.config.graph_driver in ("", DIR_DRIVER):
        return ctr.config.rootfs
    return ""


def refresh(ctr: Container) -> None:
    """After a reboot: nothing of the container stays marked mounted (a driver that
    marks mounts in files, as vfs, forgets them).  A failure is warned about."""
    ctr.state.user_mounts = 0
    try:
        umount(ctr)
    except PypodError as exc:
        import logging  # lazy: only a failure (~3 ms)

        logging.getLogger("pypod.rootfs").warning(
            "cannot unmount the rootfs of container %s: %s", ctr.name, exc)
