"""An image's configuration applied to a new container, as podman 4.3 applies it.

The image's ``config`` section (the OCI image config's ``config``) gives defaults that
the caller's settings override, rule by rule:

- **Entrypoint and Cmd**: the process is the Entrypoint followed by the caller's
  arguments, else by the image's Cmd.  ``entrypoint=`` replaces the Entrypoint and
  clears the Cmd (``[]``, podman's ``--entrypoint ''``, clears both); nothing left at
  all is podman's error "no command or entrypoint provided, and no CMD or ENTRYPOINT
  from image".
- **Env**: the image's, then the caller's (which win).
- **WorkingDir** (else ``/``), **User**, **StopSignal** (a name or a number): the
  caller's if given, else the image's.
- **Labels**: the image's, then the caller's.
- **ExposedPorts**: published to random free host ports with ``publish_all`` (``-P``),
  except those the caller publishes already; on a container without a network of its
  own (``none``, ``host``, a pod's) nothing is published, as podman.
- **Volumes**: as podman's ``--image-volume`` says (``image_volume=``): ``bind`` (the
  default) mounts an anonymous volume on each path, filled from the image's files there
  (the volumes' copy-up) and removed with the container by ``rm -v`` and ``--rm``;
  ``tmpfs`` mounts a tmpfs there; ``ignore`` mounts nothing (the paths are the
  container's own files).  A path the caller mounts something on keeps the caller's.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.errors import InvalidArgError
from pypod_core.model import Mount, NamedVolume, PortMapping, new_id

if TYPE_CHECKING:
    from pypod_core.model import Image

#: podman's words when a container would have no process at all.
NO_COMMAND = "no command or entrypoint provided, and no CMD or ENTRYPOINT from image"
#: ``image_volume`` values (podman's ``--image-volume``); None is ``bind``.
IMAGE_VOLUME_MODES = ("bind", "tmpfs", "ignore")


def resolve_command(run_config: Mapping[str, Any], command: Sequence[str],
                    entrypoint: Sequence[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the whole process argv, the entrypoint part of it) by the Entrypoint/Cmd rules;
    InvalidArgError (:data:`NO_COMMAND`) if nothing is left."""
    if entrypoint is None:
        ep = tuple(run_config.get("Entrypoint") or ())
        if ep == ("",):  # an image's [""] means none, as podman reads it
            ep = ()
        cmd = tuple(command) or tuple(run_config.get("Cmd") or ())
    else:
        ep, cmd = tuple(entrypoint), tuple(command)
    if not ep + cmd:
        raise InvalidArgError(NO_COMMAND)
    return ep + cmd, ep


def parse_stop_signal(value: str | int, where: str) -> int:
    """A stop signal as an image gives it (``SIGINT``, ``INT``, ``2``) as a number;
    InvalidArgError naming ``where`` for an unknown one."""
    import signal  # lazy: only an image's stop signal (~0.9 ms: its enum of signals)

    text = str(value).strip()
    if text.isdigit():
        return int(text)
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    number = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if number is None:
        raise InvalidArgError(f"{where}: invalid stop signal {value!r}")
    return int(number)


def _env_dict(entries: Sequence[str]) -> dict[str, str]:
    env = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        if key:
            env[key] = value
    return env


def check_image_volume(mode: str | None) -> None:
    """``image_volume`` is None (``bind``) or one of :data:`IMAGE_VOLUME_MODES`;
    InvalidArgError otherwise (podman's words)."""
    if mode is not None and mode not in IMAGE_VOLUME_MODES:
        raise InvalidArgError(f"invalid image volume mode {mode!r}: bind, tmpfs or ignore")


def apply_config(image: Image, image_ref: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (ContainerConfig fields the caller gave) completed with the image's
    Env, WorkingDir, User, StopSignal and Labels; the caller's own win."""
    run_config = image.run_config
    result = dict(fields)
    image_env = {} if fields.get("unset_env_all") else {
        k: v for k, v in _env_dict(run_config.get("Env") or ()).items()
        if k not in fields.get("unset_env", ())}  # --unsetenv: the image's go too
    result["env"] = {**image_env, **fields.get("env", {})}
    result["labels"] = {**(run_config.get("Labels") or {}), **fields.get("labels", {})}
    if "workdir" not in fields:
        result["workdir"] = run_config.get("WorkingDir") or "/"
    if "user" not in fields:
        result["user"] = run_config.get("User") or ""
    if "stop_signal" not in fields and run_config.get("StopSignal"):
        result["stop_signal"] = parse_stop_signal(run_config["StopSignal"],
                                                  f"image {image_ref} StopSignal")
    return result


def image_volumes(image: Image, fields: dict[str, Any], anonymous: set[str],
                  mode: str | None) -> tuple[dict[str, Any], set[str]]:
    """``fields`` with a mount on each of the image's Volumes that the caller mounts
    nothing on: an anonymous volume (``bind``, its new name added to ``anonymous``) or a
    tmpfs; nothing with ``ignore``."""
    from pypod_core.engine import mount_specs  # lazy: only an image with volumes (~1 ms)

    paths = sorted({posixpath.normpath(str(p)) for p in image.run_config.get("Volumes") or ()})
    if mode == "ignore" or not paths:
        return fields, anonymous
    mounts: tuple[Mount, ...] = tuple(fields.get("mounts", ()))
    named: tuple[NamedVolume, ...] = tuple(fields.get("named_volumes", ()))
    taken = {posixpath.normpath(m.destination) for m in mounts} | \
        {posixpath.normpath(v.destination) for v in named}
    anonymous = set(anonymous)
    for path in paths:
        if not path.startswith("/"):
            raise InvalidArgError(f"image declares a volume at {path!r}: not an absolute path")
        if path in taken:
            continue
        if mode == "tmpfs":
            mounts += (mount_specs.tmpfs_mount(path, ["rw", "nosuid", "nodev"],
                                               "image volume", path),)
        else:
            volume = NamedVolume(new_id(), path)
            anonymous.add(volume.name)
            named += (volume,)
    return {**fields, "mounts": mounts, "named_volumes": named}, anonymous


def exposed_ports(image: Image) -> list[tuple[int, str]]:
    """The image's ExposedPorts as (port, protocol), in order (``80`` is tcp)."""
    ports = []
    for key in image.run_config.get("ExposedPorts") or {}:
        number, _, protocol = str(key).partition("/")
        if not number.isdigit() or not 0 < int(number) < 65536:
            raise InvalidArgError(f"image exposes an invalid port {key!r}")
        ports.append((int(number), protocol.lower() or "tcp"))
    return ports


def publish_all(exposed: Sequence[tuple[int, str]],
                published: Sequence[PortMapping]) -> tuple[PortMapping, ...]:
    """``published`` plus each exposed port not published already, on a random free host
    port (one the kernel picks, as podman's ``-P``)."""
    taken = {(p.container_port, p.protocol) for p in published}
    extra = [PortMapping(host_port=free_port(protocol), container_port=port,
                         protocol=protocol)
             for port, protocol in exposed if (port, protocol) not in taken]
    return (*published, *extra)


def free_port(protocol: str) -> int:
    """A host port free now for ``protocol`` (tcp, udp; sctp is taken as tcp)."""
    import socket  # lazy: only -P (~2 ms)

    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def image_name(image: Image, ref: str) -> str:
    """The name a container records for its image (podman's ``ImageName``): the image's
    name that ``ref`` matched; the image's first name for an id; the id as given for an
    image without names."""
    from pypod_core.host.reference import parse_reference  # lazy: only create (~2 ms)

    if ref in image.names:
        return ref
    try:
        parsed = parse_reference(ref)
    except InvalidArgError:  # an id (a prefix such as "sha256:ab..." parses badly)
        return image.names[0] if image.names else ref
    wanted = str(parsed.with_default_tag())
    if parsed.digest:
        return image.names[0] if image.names else ref
    for candidate in (wanted, f"localhost/{wanted}"):
        if candidate in image.names:
            return candidate
    for name in image.names:
        if name.endswith("/" + wanted):
            return name
    return image.names[0] if image.names else ref
