"""What containers do with volumes and mounts (libpod's named-volume code in
``runtime_ctr.go`` and ``container_internal*.go``).

- At create (:func:`prepare`, :func:`ensure`): the ``volumes``/``mounts`` a caller gives
  (podman's strings or model values) become the config's ``mounts`` (binds, tmpfs) and
  ``named_volumes``; ``volumes_from`` copies another container's; an anonymous volume
  (``-v /path``) gets a fresh name; a named volume that does not exist is created, as
  podman does.
- At start (:func:`mount_all`): each named volume is mounted by its driver for the
  container (the first user mounts it), filled from the directory it covers once
  (podman's copy-up, unless ``nocopy``), given to the container's user once (podman's
  ``NeedsChown``) or at every start with ``U``; the OCI spec gets a bind of each.
- When it stops (:func:`unmount_all`): the container lets go of each (the last user
  unmounts it).
- ``inspect`` (:func:`inspect_mounts`, :func:`host_config`): podman's ``Mounts`` and
  ``HostConfig.Binds``/``Tmpfs``/``VolumesFrom``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pypod_core.engine import mount_specs
from pypod_core.engine.rootfs import readable_path
from pypod_core.errors import InvalidArgError, NoSuchVolumeError, PypodError, VolumeDriverError
from pypod_core.host.paths import secure_join
from pypod_core.model import ImageVolume, Mount, NamedVolume, new_id
from pypod_core.plugin.volume import check_volume_name

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import ContainerConfig, Volume


def _warn(message: str, *args: Any) -> None:
    """Log a warning on ``pypod.volumes``; logging is imported only by the failure that
    needs it (~3.5 ms inspect and every start would pay otherwise)."""
    import logging  # lazy: only a failure (~3.5 ms)

    logging.getLogger("pypod.volumes").warning(message, *args)


#: The keywords of ``create_container`` that this module turns into config fields.
KEYWORDS = frozenset({"volumes", "mounts", "named_volumes", "image_volumes", "volumes_from"})


# -- at create ---------------------------------------------------------------------------


#: What a caller may give for a mount.
_Wanted = Mount | NamedVolume | ImageVolume


def _from_item(item: Any, parse: Any, where: str) -> _Wanted:
    if isinstance(item, _Wanted):
        return item
    if isinstance(item, str):
        parsed: _Wanted = parse(item)
        return parsed
    raise TypeError(f"{where}: expected a string, a Mount, a NamedVolume or an "
                    f"ImageVolume, not {type(item).__name__} {item!r:.40}")


def _items(fields: dict[str, Any], key: str) -> list[Any]:
    value = fields.pop(key, ())
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{key}: expected a list, not {type(value).__name__}")
    return list(value)


def prepare(runtime: Runtime, fields: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``create_container``'s volume keywords as config fields: ``volumes`` (``-v``
    strings, Mounts, NamedVolumes), ``mounts`` (``--mount`` strings, Mounts,
    NamedVolumes, ImageVolumes), ``named_volumes``, ``image_volumes`` and ``volumes_from``
    (``CTR[:ro|rw|z]``).  Returns the fields (ImageVolumes in ``image_volumes``) and the
    names given to anonymous volumes.  InvalidArgError for two mounts on one path."""
    fields = dict(fields)
    wanted: list[_Wanted] = []
    for i, item in enumerate(_items(fields, "mounts")):
        wanted.append(_from_item(item, mount_specs.parse_mount, f"mounts[{i}]"))
    for i, item in enumerate(_items(fields, "volumes")):
        wanted.append(_from_item(item, mount_specs.parse_volume, f"volumes[{i}]"))
    for i, item in enumerate(_items(fields, "named_volumes")):
        if not isinstance(item, NamedVolume):
            raise TypeError(f"named_volumes[{i}]: expected a NamedVolume, not "
                            f"{type(item).__name__}")
        wanted.append(item)
    for i, item in enumerate(_items(fields, "image_volumes")):
        if not isinstance(item, ImageVolume):
            raise TypeError(f"image_volumes[{i}]: expected an ImageVolume, not "
                            f"{type(item).__name__}")
        wanted.append(item)
    taken = _check_unique(wanted)
    sources = _items(fields, "volumes_from")
    copied, origins = _volumes_from(runtime, sources, taken)
    anonymous: set[str] = set()
    named, mounts, images = [], [], []
    for item in [*wanted, *copied]:
        if isinstance(item, ImageVolume):
            images.append(item)
        elif isinstance(item, NamedVolume):
            if not item.name:
                item = NamedVolume(new_id(), item.destination, item.options)
                anonymous.add(item.name)
            named.append(item)
        else:
            mounts.append(item)
    fields.update(mounts=tuple(mounts), named_volumes=tuple(named),
                  image_volumes=tuple(images), volumes_from=tuple(origins))
    return fields, anonymous


def _check_unique(items: Sequence[_Wanted]) -> set[str]:
    """The destinations; InvalidArgError naming one that two mounts share."""
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, _Wanted):
            raise TypeError(f"expected a Mount, a NamedVolume or an ImageVolume, not "
                            f"{type(item).__name__}")
        if item.destination in seen:
            raise InvalidArgError(f"{item.destination}: duplicate mount destination")
        seen.add(item.destination)
    return seen


def _volumes_from(runtime: Runtime, sources: list[Any], taken: set[str]
                  ) -> tuple[list[Mount | NamedVolume], list[str]]:
    """The named volumes and bind mounts of each ``--volumes-from`` container (its
    options, if given, replace theirs); a destination the caller mounts something on
    keeps the caller's."""
    copied: dict[str, Mount | NamedVolume] = {}
    origins = []
    for i, source in enumerate(sources):
        if not isinstance(source, str):
            raise TypeError(f"volumes_from[{i}]: expected a string, not "
                            f"{type(source).__name__}")
        name, options = mount_specs.parse_volumes_from(source)
        other = runtime.lookup_container(name).config
        origins.append(other.id + (f":{','.join(options)}" if options else ""))
        theirs: list[Mount | NamedVolume] = [*other.named_volumes,
                                             *(m for m in other.mounts if m.type == "bind")]
        for item in theirs:
            if item.destination in taken:
                continue
            if options and isinstance(item, NamedVolume):
                item = NamedVolume(item.name, item.destination, options)
            elif options and isinstance(item, Mount):
                item = Mount(item.source, item.destination, read_only="ro" in options,
                             options=tuple(o for o in options if o not in ("ro", "rw")))
            copied[item.destination] = item
    return list(copied.values()), origins


def check_config(config: ContainerConfig) -> None:
    """The values of a new container's mounts and volumes: absolute destinations, each
    once; bind sources that exist; volume names and options podman takes."""
    _check_unique([*config.mounts, *config.named_volumes, *config.image_volumes])
    for m in config.mounts:
        spec = f"{m.source}:{m.destination}"
        if not m.destination.startswith("/"):
            raise InvalidArgError(f"invalid volume {spec}: container path {m.destination!r} "
                                  "must be absolute")
        if m.type == "tmpfs":
            mount_specs.tmpfs_mount(m.destination, m.options, "tmpfs", m.destination)
            continue
        if m.type == "devpts":
            mount_specs.parse_mount(",".join(["type=devpts", f"target={m.destination}",
                                              *m.options]))
            continue
        if m.type != "bind":
            raise InvalidArgError(f"invalid mount {spec}: type {m.type!r} is not bind, "
                                  "tmpfs or devpts")
        if not m.source.startswith("/"):
            raise InvalidArgError(f"invalid volume {spec}: both paths must be absolute")
        if not os.path.exists(m.source):
            raise InvalidArgError(f"invalid volume {spec}: {m.source}: no such file or "
                                  "directory")
        mount_specs.validate_options(m.options, "volume", spec)
    for v in config.named_volumes:
        check_volume_name(v.name)
        spec = f"{v.name}:{v.destination}"
        mount_specs.check_destination(v.destination, "volume", spec)
        mount_specs.validate_options(v.options, "volume", spec)
    for iv in config.image_volumes:
        if not iv.source:
            raise InvalidArgError(f"invalid image mount {iv.destination}: the image is "
                                  "required")
        mount_specs.check_destination(iv.destination, "mount", f"{iv.source}:{iv.destination}")


def ensure(runtime: Runtime, config: ContainerConfig, anonymous: set[str]) -> list[str]:
    """Create the container's volumes that do not exist yet (anonymous ones marked so),
    with the default driver; return the names created.  The caller holds their locks."""
    created = []
    for name in config.volume_names():
        if runtime.state.has_volume(name):
            continue
        runtime.create_volume(name, anonymous=name in anonymous)
        created.append(name)
    return created


def undo(runtime: Runtime, created: list[str]) -> None:
    """Remove the volumes :func:`ensure` made for a container that was not added."""
    for name in created:
        try:
            runtime.remove_volume(name)
        except PypodError as exc:
            _warn("cannot remove volume %s made for a container not created: %s", name,
                  exc)


# -- mounting ------------------------------------------------------------------------------


def mount_volume(runtime: Runtime, name: str, holder: str) -> str:
    """Mount the volume for ``holder`` (a container's id) and return its host path:
    the driver mounts it for the first holder; the holder is recorded, once."""
    with runtime.volume_lock(name):
        volume = runtime.state.volume(name)
        state = volume.state
        path = runtime.volume_driver(volume.driver).mount(name, volume.config.options)
        if holder not in state.mounted_by or state.mount_point != path:
            state.mounted_by = tuple(sorted({*state.mounted_by, holder}))
            state.mount_point = path
            runtime.state.save_volume_state(name, state)
        return path


def unmount_volume(runtime: Runtime, name: str, holder: str) -> None:
    """Let go of the volume for ``holder``; after the last holder the driver unmounts
    it.  A holder that does not hold it changes nothing."""
    with runtime.volume_lock(name):
        volume = runtime.state.volume(name)
        state = volume.state
        if holder not in state.mounted_by:
            return
        state.mounted_by = tuple(h for h in state.mounted_by if h != holder)
        if not state.mounted_by:
            runtime.volume_driver(volume.driver).unmount(name, volume.config.options)
            state.mount_point = ""
        runtime.state.save_volume_state(name, state)


def mount_all(ctr: Container) -> list[dict[str, Any]]:
    """Mount each of the container's named volumes for it and prepare it (copy-up,
    ownership); the OCI spec's bind mounts of them.  On failure, what was mounted is
    let go again."""
    config = ctr.config
    if not config.named_volumes:
        return []
    mounted, spec = [], []
    try:
        for nv in config.named_volumes:
            path = mount_volume(ctr.runtime, nv.name, ctr.id)
            mounted.append(nv.name)
            _prepare(ctr, nv, path)
            options = mount_specs.process_options(nv.options, False)
            spec.append({"destination": nv.destination, "type": "bind", "source": path,
                         "options": mount_specs.oci_options(options)})
    except BaseException:
        for name in mounted:
            _quietly(unmount_volume, ctr.runtime, name, ctr.id)
        raise
    return spec


def unmount_all(ctr: Container) -> None:
    """Let go of each of the container's named volumes (after it stopped); a volume
    that cannot be unmounted is warned about, the others still let go."""
    for name in ctr.config.volume_names():
        _quietly(unmount_volume, ctr.runtime, name, ctr.id)


@contextmanager
def mounted_for_copy(ctr: Container) -> Iterator[tuple[Mount, ...]]:
    """A stopped container's named volumes mounted for a copy (``pypod cp``), as bind
    mounts of their host paths at their destinations; let go again afterwards."""
    holder = f"cp-{new_id()[:16]}"
    mounted: list[str] = []
    binds: list[Mount] = []
    try:
        for nv in ctr.config.named_volumes:
            path = mount_volume(ctr.runtime, nv.name, holder)
            mounted.append(nv.name)
            binds.append(Mount(path, nv.destination, read_only=nv.read_only))
        yield tuple(binds)
    finally:
        for name in mounted:
            _quietly(unmount_volume, ctr.runtime, name, holder)


def _quietly(action: Any, runtime: Runtime, name: str, holder: str) -> None:
    try:
        action(runtime, name, holder)
    except NoSuchVolumeError:
        pass
    except PypodError as exc:
        _warn("volume %s: %s", name, exc)


def _root(ctr: Container) -> str:
    """The container's root file system as the host sees it: its ``--rootfs``
    directory, or its image rootfs while mounted (at init it is, before the volumes);
    "" if neither: the copy-up and ownership rules then have nothing to read."""
    return readable_path(ctr)


def _exec_owner(ctr: Container) -> tuple[int, int]:
    from pypod_core.engine.bundle import resolve_user  # lazy: only start, not create (~3 ms)

    root = _root(ctr)
    if not root:  # never the /etc/passwd of the current directory
        user, _, group = ctr.config.user.partition(":")
        return (int(user) if user.isdigit() else 0), (int(group) if group.isdigit() else 0)
    resolved = resolve_user(root, ctr.config.user)
    return resolved.uid, resolved.gid


def _prepare(ctr: Container, nv: NamedVolume, path: str) -> None:
    """podman's first-use work on a mounted volume, under its lock: copy-up, then the
    ownership (once, or at every start with ``U``)."""
    runtime = ctr.runtime
    with runtime.volume_lock(nv.name):
        volume = runtime.state.volume(nv.name)
        state = volume.state
        changed = False
        if state.needs_copy_up and not _no_copy(nv, volume):
            changed = _copy_up(ctr, nv.destination, path, volume.name)
            state.needs_copy_up = not changed
        if state.needs_chown:
            _chown_new(ctr, nv.destination, path)
            state.needs_chown, changed = False, True
        if changed:
            runtime.state.save_volume_state(nv.name, state)
    if "U" in nv.options:
        uid, gid = _exec_owner(ctr)
        _chown_tree(path, uid, gid)


def _no_copy(nv: NamedVolume, volume: Volume) -> bool:
    return "nocopy" in nv.options or "nocopy" in volume.config.options


def _copy_up(ctr: Container, destination: str, path: str, name: str) -> bool:
    """Copy the files of the directory the volume covers in the container's root file
    system into the volume, if that directory has some and the volume is empty (as
    podman: a volume changed from outside is left alone).  Whether it copied."""
    if not _root(ctr):
        return False
    source = secure_join(_root(ctr), destination)
    if not os.path.isdir(source) or os.path.islink(source) or not os.listdir(source):
        return False
    if os.listdir(path):
        return False
    import subprocess  # lazy: only a copy up (~1.5 ms)

    # cp -a keeps owners, modes, times, hardlinks, symlinks (as links), devices, xattrs.
    result = subprocess.run(["cp", "-a", "--", f"{source}/.", f"{path}/"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise VolumeDriverError(f"copying {destination} of container {ctr.name} into "
                                f"volume {name}: {' '.join(result.stderr.split())}")
    return True


def _chown_new(ctr: Container, destination: str, path: str) -> None:
    """Give a new volume's directory to the container's user, then the owner and mode of
    the directory it covers, if the root file system has one (podman's
    ``fixVolumePermissions``)."""
    uid, gid = _exec_owner(ctr)
    os.lchown(path, uid, gid)
    if not _root(ctr):
        return
    covered = secure_join(_root(ctr), destination)
    try:
        st = os.lstat(covered)
    except OSError:
        return
    if os.path.isdir(covered) and not os.path.islink(covered):
        os.lchown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)


def _chown_tree(path: str, uid: int, gid: int) -> None:
    """``U``: everything under ``path`` (symlinks themselves, not followed) to uid:gid."""
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for entry in (*dirs, *files):
            os.lchown(os.path.join(root, entry), uid, gid)


def bind_and_tmpfs_mounts(ctr_config: ContainerConfig, uid: int = 0,
                          gid: int = 0) -> list[dict[str, Any]]:
    """The OCI spec's mounts of the container's binds and tmpfs (podman's option lists);
    a bind's source must exist.  ``U`` chowns a bind's source to ``uid:gid`` (the
    container's user) and gives a tmpfs to them."""
    result = []
    for m in ctr_config.mounts:
        if m.type == "devpts":  # podman gives the kernel the options as they are
            result.append({"destination": m.destination, "type": "devpts",
                           "source": "devpts", "options": list(m.options)})
            continue
        if m.type == "tmpfs":
            options = list(m.options)
            if "U" in options:
                options += [f"uid={uid}", f"gid={gid}"]
            final = mount_specs.process_options(options, m.read_only, tmpfs=True)
            result.append({"destination": m.destination, "type": "tmpfs", "source": "tmpfs",
                           "options": mount_specs.oci_options(final)})
            continue
        if not os.path.exists(m.source):
            raise InvalidArgError(f"bind mount source {m.source}: no such file or directory")
        if not os.path.isabs(m.destination):
            raise InvalidArgError(f"bind mount destination {m.destination} is not absolute")
        if "U" in m.options:
            _chown_tree(m.source, uid, gid)
        final = mount_specs.process_options(m.options, m.read_only, source=m.source)
        result.append({"destination": m.destination, "type": "bind",
                       "source": os.path.abspath(m.source),
                       "options": mount_specs.oci_options(final)})
    return result


# -- inspect -------------------------------------------------------------------------------


def _inspect_options(options: Iterable[str]) -> dict[str, Any]:
    """podman's ``parseMountOptionsForInspect``: RW, Propagation, Mode (z/Z), Options."""
    rw, propagation, mode, rest = True, "", "", []
    for option in options:
        if option == "ro":
            rw = False
        elif option == "rw":
            continue
        elif option in mount_specs.PROPAGATIONS:
            propagation = option
        elif option in ("z", "Z"):
            mode = option
        else:
            rest.append(option)
    return {"Mode": mode, "Options": rest, "RW": rw, "Propagation": propagation}


def inspect_mounts(ctr: Container) -> list[dict[str, Any]]:
    """podman's ``Mounts``: named volumes, image mounts, then bind mounts (a tmpfs is
    not shown; a devpts shows as podman shows it, a "bind" of ``devpts``)."""
    state = ctr.runtime.state
    result: list[dict[str, Any]] = []
    for nv in ctr.config.named_volumes:
        try:
            volume = state.volume(nv.name)
            source, driver = volume.mount_point, volume.driver
        except NoSuchVolumeError:
            source, driver = "", ""
        processed = mount_specs.process_options(nv.options, False)
        result.append({"Type": "volume", "Name": nv.name, "Source": source,
                       "Destination": nv.destination, "Driver": driver,
                       **_inspect_options(o for o in processed if o not in ("U", "nocopy",
                                                                              "copy"))})
    for iv in ctr.config.image_volumes:
        result.append({"Type": "image", "Source": iv.source, "Destination": iv.destination,
                       "Driver": "", "Mode": "", "Options": None, "RW": iv.read_write,
                       "Propagation": ""})
    for m in ctr.config.mounts:
        if m.type == "devpts":
            result.append({"Type": "bind", "Source": "devpts", "Destination": m.destination,
                           "Driver": "", "Mode": "", "Options": list(m.options), "RW": True,
                           "Propagation": ""})
        if m.type != "bind":
            continue
        processed = mount_specs.process_options(m.options, m.read_only, source=m.source)
        result.append({"Type": "bind", "Source": m.source, "Destination": m.destination,
                       "Driver": "", **_inspect_options(
                           o for o in processed if o not in ("U",))})
    return result


def host_config(ctr: Container) -> dict[str, Any]:
    """podman's ``HostConfig.Binds``, ``Tmpfs`` and ``VolumesFrom``."""
    c = ctr.config
    binds = [f"{nv.name}:{nv.destination}:"
             f"{','.join(mount_specs.process_options(nv.options, False))}"
             for nv in c.named_volumes]
    tmpfs = {}
    for m in c.mounts:
        if m.type == "tmpfs":
            tmpfs[m.destination] = ",".join(
                mount_specs.process_options(m.options, m.read_only, tmpfs=True))
        elif m.type == "devpts":
            binds.append(f"devpts:{m.destination}:{','.join(m.options)}")
        else:
            binds.append(f"{m.source}:{m.destination}:" + ",".join(
                mount_specs.process_options(m.options, m.read_only, source=m.source)))
    return {"Binds": binds, "Tmpfs": tmpfs, "VolumesFrom": list(c.volumes_from) or None}
