"""podman's ways of asking for mounts, parsed: ``-v``/``--volume``, ``--mount``,
``--tmpfs`` and ``--volumes-from``, into :class:`~pypod_core.model.Mount` (bind, tmpfs
and devpts), :class:`~pypod_core.model.NamedVolume` and
:class:`~pypod_core.model.ImageVolume` values; and podman's final option
lists (``ProcessOptions``), which the OCI spec and ``inspect`` show.

The command line and ``create_container(volumes=[...], mounts=[...])`` share these, so
a string means the same in both.  Each error is an InvalidArgError naming the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from pypod_core.errors import InvalidArgError
from pypod_core.model import ImageVolume, Mount, NamedVolume

#: Mount propagation modes (one at most).
PROPAGATIONS = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave",
                          "unbindable", "runbindable"})
#: Options of ``-v`` (podman's ValidateVolumeOpts), in groups of which one may be given.
_OPTION_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"rw", "ro"}), frozenset({"z", "Z"}), frozenset({"U"}), PROPAGATIONS,
    frozenset({"bind", "rbind"}), frozenset({"suid", "nosuid"}),
    frozenset({"dev", "nodev"}), frozenset({"exec", "noexec"}),
    frozenset({"copy", "nocopy"}),
)
#: podman's options that pypod does not implement: refused by name.
_UNSUPPORTED = {"O": "overlay volumes (O) are not supported",
                "idmap": "idmapped mounts (idmap) are not supported",
                "upperdir": "overlay volumes (upperdir) are not supported",
                "workdir": "overlay volumes (workdir) are not supported"}
#: Options only pypod reads (never passed to the OCI runtime).
ENGINE_ONLY = frozenset({"z", "Z", "U", "copy", "nocopy"})
#: What a tmpfs mount takes besides the flags.
_TMPFS_KEYS = ("size", "mode", "nr_inodes", "nr_blocks", "uid", "gid")
#: The types ``--mount`` takes.
MOUNT_TYPES = ("bind", "volume", "tmpfs", "image", "devpts")
#: A devpts mount's numeric options (podman passes them to the kernel as given).
_DEVPTS_NUMBERS = ("uid", "gid", "max")
#: Where a ``--mount`` names its container path.
_TARGET_KEYS = ("target", "dst", "destination")


def _bad(what: str, spec: str, why: str) -> InvalidArgError:
    return InvalidArgError(f"invalid {what} {spec!r}: {why}")


def check_destination(path: str, what: str, spec: str) -> str:
    """A container path: absolute, cleaned (``/a/../b`` is ``/b``), not ``/``."""
    if not path.startswith("/"):
        raise _bad(what, spec, f"container path {path!r} must be absolute")
    clean = os.path.normpath(path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if clean == "/":
        raise _bad(what, spec, "cannot mount over the container's root /")
    return clean


def validate_options(options: Iterable[str], what: str, spec: str) -> tuple[str, ...]:
    """``-v`` options: each known, at most one of each group (``ro``/``rw``...)."""
    seen: dict[frozenset[str], str] = {}
    result = []
    for option in options:
        if not option or option in ("cached", "delegated"):  # podman drops these (macOS)
            continue
        key = option.partition("=")[0]
        if key in _UNSUPPORTED or option in _UNSUPPORTED:
            raise _bad(what, spec, _UNSUPPORTED.get(key) or _UNSUPPORTED[option])
        group = next((g for g in _OPTION_GROUPS if option in g), None)
        if group is None:
            raise _bad(what, spec, f"unknown option {option!r}")
        if group in seen:
            raise _bad(what, spec, f"{seen[group]} and {option} cannot both be given")
        seen[group] = option
        result.append(option)
    return tuple(result)


def _split(options: Sequence[str]) -> tuple[bool, tuple[str, ...]]:
    """(read-only, the other options) of a bind mount's options."""
    return "ro" in options, tuple(o for o in options if o not in ("ro", "rw"))


def parse_volume(spec: str) -> Mount | NamedVolume:
    """``-v [SOURCE:]DEST[:OPTIONS]``: a bind mount when SOURCE is a path (``/`` or
    ``.``), a named volume when it is a name, an anonymous volume (no name) when there
    is no SOURCE."""
    what = "volume"
    parts = spec.split(":")
    if not spec or len(parts) > 3:
        raise _bad(what, spec, "expected [SOURCE:]CONTAINER-DIR[:OPTIONS]")
    if len(parts) == 1:
        return NamedVolume("", check_destination(parts[0], what, spec))
    source, destination = parts[0], parts[1]
    if not source:
        raise _bad(what, spec, "the host directory or volume name cannot be empty")
    options = validate_options(parts[2].split(","), what, spec) if len(parts) == 3 else ()
    destination = check_destination(destination, what, spec)
    if source.startswith(("/", ".")):
        read_only, rest = _split(options)
        return Mount(source=os.path.normpath(os.path.abspath(source)),
                     destination=destination, read_only=read_only, options=rest)
    return NamedVolume(source, destination, options)


def _csv(spec: str) -> list[str]:
    """``--mount``'s comma-separated fields (a field may be quoted, as Go's csv)."""
    import csv  # lazy: only --mount (~1.2 ms)

    try:
        rows = list(csv.reader([spec]))
    except csv.Error as exc:
        raise _bad("mount", spec, str(exc)) from None
    return [field for field in rows[0] if field] if rows else []


def _flag(value: str | None, key: str, spec: str) -> bool:
    """``ro``, ``ro=true``, ``readonly=false``: whether the flag is on."""
    if value is None or value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise _bad("mount", spec, f"{key} must be true or false, not {value!r}")


def parse_mount(spec: str) -> Mount | NamedVolume | ImageVolume:
    """``--mount type=bind|volume|tmpfs|image|devpts,source=,target=,ro,...`` (podman's
    keys)."""
    fields = _csv(spec)
    kinds = [f.partition("=")[2] for f in fields if f.startswith("type=")]
    if len(kinds) != 1:
        raise _bad("mount", spec, "expected type=bind|volume|tmpfs|image|devpts,"
                                  "[source=...,]target=...[,options]")
    kind = kinds[0]
    if kind not in MOUNT_TYPES:
        raise _bad("mount", spec, f"mount type {kind!r} is not supported "
                                  f"({', '.join(MOUNT_TYPES)})")
    others = [f for f in fields if not f.startswith("type=")]
    if kind == "image":
        return _image_mount(others, spec)
    if kind == "devpts":
        return _devpts_mount(others, spec)
    source, target, options = "", "", []
    for field in fields:
        key, eq, value = field.partition("=")
        if key == "type":
            continue
        if key in ("src", "source"):
            if kind == "tmpfs":
                raise _bad("mount", spec, "a tmpfs mount takes no source")
            source = value
        elif key in ("target", "dst", "destination"):
            target = value
        elif key in ("ro", "readonly", "rw"):
            on = _flag(value if eq else None, key, spec)
            options.append(("rw" if on else "ro") if key == "rw" else
                           ("ro" if on else "rw"))
        elif key in ("U", "chown"):
            if _flag(value if eq else None, key, spec):
                options.append("U")
        elif key == "bind-propagation" and kind == "bind":
            options.append(value)
        elif key == "bind-nonrecursive" and kind == "bind":
            options.append("bind")
        elif key == "relabel" and kind == "bind":
            if value not in ("private", "shared"):
                raise _bad("mount", spec, "relabel must be private or shared")
            options.append("Z" if value == "private" else "z")
        elif key in ("tmpfs-size", "tmpfs-mode") and kind == "tmpfs":
            options.append(f"{key[6:]}={value}")
        elif key in ("tmpcopyup", "notmpcopyup") and kind == "tmpfs":
            options.append(key)
        elif key == "consistency":
            continue  # podman ignores it (macOS)
        elif not eq and (key in ("suid", "nosuid", "dev", "nodev", "exec", "noexec") or
                         (kind == "bind" and (key in PROPAGATIONS or key in ("z", "Z"))) or
                         (kind == "volume" and key in ("copy", "nocopy"))):
            options.append(key)
        else:
            raise _bad("mount", spec, f"option {field!r} is not supported with "
                                      f"type={kind}")
    if not target:
        raise _bad("mount", spec, "target= (the container path) is required")
    target = check_destination(target, "mount", spec)
    if kind == "tmpfs":
        return tmpfs_mount(target, options, "mount", spec)
    checked = validate_options([o for o in options if o not in ("tmpcopyup",)], "mount", spec)
    if kind == "volume":
        return NamedVolume(source, target, checked)
    read_only, rest = _split(checked)
    return Mount(source=os.path.normpath(os.path.abspath(source or target)),
                 destination=target, read_only=read_only, options=rest)


def _image_mount(fields: Sequence[str], spec: str) -> ImageVolume:
    """``type=image,source=IMAGE,target=DIR[,rw=true]``: podman's keys (``rw`` and
    ``readwrite`` take true or false; read-only is the default)."""
    source, target, read_write = "", "", False
    for field in fields:
        key, eq, value = field.partition("=")
        if key in ("src", "source") and eq:
            source = value
        elif key in _TARGET_KEYS and eq:
            target = value
        elif key in ("rw", "readwrite"):
            if value not in ("true", "false"):
                raise _bad("mount", spec, f"{key} must be true or false, not {value!r}")
            read_write = value == "true"
        elif key == "consistency":
            continue  # podman ignores it (macOS)
        else:
            raise _bad("mount", spec, f"option {field!r} is not supported with type=image")
    if not source or not target:
        raise _bad("mount", spec, "an image mount needs source= (the image) and target=")
    return ImageVolume(source, check_destination(target, "mount", spec), read_write)


def _devpts_mount(fields: Sequence[str], spec: str) -> Mount:
    """``type=devpts,target=DIR[,uid=,gid=,mode=,max=,newinstance]``: a devpts instance
    of the container's own at DIR, the options given to the kernel as they are."""
    target, options = "", []
    for field in fields:
        key, eq, value = field.partition("=")
        if key in _TARGET_KEYS and eq:
            target = value
        elif key in _DEVPTS_NUMBERS and value.isdigit():
            options.append(field)
        elif key == "mode" and value and set(value) <= set("01234567"):
            options.append(field)
        elif field == "newinstance":
            options.append(field)
        else:
            raise _bad("mount", spec, f"option {field!r} is not a devpts option (uid=N, "
                                      "gid=N, mode=OCTAL, max=N, newinstance)")
    if not target:
        raise _bad("mount", spec, "target= (the container path) is required")
    return Mount(source="devpts", destination=check_destination(target, "mount", spec),
                 type="devpts", options=tuple(options))


def tmpfs_mount(destination: str, options: Sequence[str], what: str, spec: str) -> Mount:
    """A tmpfs mount with podman's tmpfs options checked (size=, mode=, flags)."""
    seen: set[str] = set()
    read_only = False
    rest = []
    for option in options:
        key = option.partition("=")[0]
        if key in seen:
            raise _bad(what, spec, f"option {key} given twice")
        seen.add(key)
        if option in ("ro", "rw"):
            read_only = option == "ro"
            seen.add("ro" if option == "rw" else "rw")
        elif key in _TMPFS_KEYS and "=" in option:
            rest.append(option)
        elif option in ("suid", "nosuid", "dev", "nodev", "exec", "noexec", "tmpcopyup",
                        "notmpcopyup", "U", *PROPAGATIONS):
            rest.append(option)
        else:
            raise _bad(what, spec, f"option {option!r} is not a tmpfs option")
    return Mount(source="tmpfs", destination=destination, read_only=read_only,
                 type="tmpfs", options=tuple(rest))


def parse_tmpfs(spec: str) -> Mount:
    """``--tmpfs DEST[:OPTIONS]``."""
    destination, _, options = spec.partition(":")
    destination = check_destination(destination, "tmpfs", spec)
    return tmpfs_mount(destination, [o for o in options.split(",") if o], "tmpfs", spec)


def parse_volumes_from(spec: str) -> tuple[str, tuple[str, ...]]:
    """``--volumes-from CONTAINER[:OPTIONS]``: the container and the options (``ro``,
    ``rw``, ``z``), which replace those of every mount copied."""
    name, _, options = spec.partition(":")
    if not name:
        raise _bad("volumes-from", spec, "a container name or id is required")
    opts = tuple(o for o in options.split(",") if o)
    for option in opts:
        if option not in ("ro", "rw", "z"):
            raise _bad("volumes-from", spec, f"option {option!r}: only ro, rw and z can "
                                             "be given")
    if len(opts) != len(set(opts)) or {"ro", "rw"} <= set(opts):
        raise _bad("volumes-from", spec, "ro, rw and z can each be given once")
    return name, opts


# -- podman's final option lists -----------------------------------------------------


def _fs_flags(path: str) -> tuple[bool, bool, bool]:
    """(nodev, noexec, nosuid) of the file system holding ``path``."""
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        return False, False, False
    return (bool(flags & os.ST_NODEV), bool(flags & os.ST_NOEXEC),
            bool(flags & os.ST_NOSUID))


def process_options(options: Sequence[str], read_only: bool, *, tmpfs: bool = False,
                    source: str = "") -> list[str]:
    """podman's ``ProcessOptions``: the options as given plus the defaults it adds
    (``rw``, ``rprivate``; ``nosuid``/``nodev`` for volumes and tmpfs, those of the
    source's file system for a bind; ``tmpcopyup`` for a tmpfs, ``rbind`` for the
    rest).  ``source`` is a bind mount's host path ("" for a volume)."""
    given = list(options)
    if read_only and "ro" not in given:
        given.insert(0, "ro")
    result = [o for o in given if o != "notmpcopyup"]
    words = {o.partition("=")[0] for o in given}
    if not words & {"ro", "rw"}:
        result.append("rw")
    if not words & PROPAGATIONS:
        result.append("rprivate")
    nodev, noexec, nosuid = (True, False, True) if not source else _fs_flags(source)
    if noexec and not words & {"exec", "noexec"}:
        result.append("noexec")
    if nosuid and not words & {"suid", "nosuid"}:
        result.append("nosuid")
    if nodev and not words & {"dev", "nodev"}:
        result.append("nodev")
    if tmpfs and not words & {"tmpcopyup", "notmpcopyup"}:
        result.append("tmpcopyup")
    if not tmpfs and not words & {"bind", "rbind"}:
        result.append("rbind")
    return result


def oci_options(options: Sequence[str]) -> list[str]:
    """The options of a processed list that the OCI runtime gets (not pypod's own)."""
    return [o for o in options if o not in ENGINE_ONLY]
