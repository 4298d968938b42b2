"""Seccomp profiles: the containers format (podman's ``seccomp.json``) to the OCI spec's
``linux.seccomp``.

A profile in the containers format (containers/common's pkg/seccomp, which Debian's
golang-github-containers-common ships as ``/usr/share/containers/seccomp.json``) holds
``defaultAction``, ``defaultErrnoRet`` or ``defaultErrno``, ``archMap`` (or the older
``architectures``) and ``syscalls``: blocks of ``names`` (or ``name``), an ``action``,
``args``, an ``errnoRet`` or ``errno``, and ``includes``/``excludes`` conditions on the
container's capabilities and the host's architecture.  :func:`translate` keeps the
blocks whose conditions hold for one container, as containers/common does:

- ``excludes.arches`` holding the host's architecture drops a block, so does any of
  ``excludes.caps`` in the container's bounding set;
- ``includes.arches`` not holding it drops a block, so does any of ``includes.caps``
  missing from the bounding set;
- ``archMap`` gives the host's architecture and its sub-architectures (an amd64 host:
  x86_64, x86 and x32), ``architectures`` is taken as it is.

An OCI ``linux.seccomp`` (a profile with no conditions) passes through the same way.

Where pypod finds the default profile (config key ``seccomp_profile`` unset):
:data:`DEFAULT_PROFILES`, the first that exists.  podman falls back to a profile built
into its binary when none exists; pypod has none built in, so it refuses to create a
container instead (use ``--security-opt seccomp=unconfined`` to run one without).
"""

from __future__ import annotations

import errno as errnos
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pypod_core.errors import InvalidArgError
from pypod_core.host import filecache

#: The default profile, the first of these that exists: pypod's override and vendor
#: files (pypod's own names), then the containers-common package's (podman's default).
DEFAULT_PROFILES = ("/etc/pypod/seccomp.json", "/usr/share/pypod/seccomp.json",
                    "/usr/share/containers/seccomp.json")

#: The word for running a container without a seccomp filter.
UNCONFINED = "unconfined"

ACTIONS = frozenset({
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
})
OPERATORS = frozenset({"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                       "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"})

#: uname's machine name -> the architecture's name in profiles (libseccomp's, Go's).
_MACHINE_ARCH = {
    "x86_64": "amd64", "amd64": "amd64", "i386": "x86", "i486": "x86", "i586": "x86",
    "i686": "x86", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
    "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "mips64": "mips64",
    "riscv64": "riscv64",
}
#: A profile's architecture name -> the seccomp architecture ``archMap`` is keyed by;
#: containers/common maps only these (a host of another architecture gets no list,
#: and the runtime uses its native one).
_ARCH_SECCOMP = {
    "amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32", "s390x": "SCMP_ARCH_S390X",
}


def native_arch() -> str:
    """The host's architecture as profiles name it (``amd64``, ``arm64``, ...)."""
    machine = os.uname().machine
    return _MACHINE_ARCH.get(machine, machine)


def default_profile(configured: str = "") -> str:
    """The default profile's path: ``configured`` (config key ``seccomp_profile``) if
    set, else the first of :data:`DEFAULT_PROFILES` that exists; InvalidArgError if
    there is none."""
    if configured:
        return configured
    for path in DEFAULT_PROFILES:
        if os.path.exists(path):
            return path
    raise InvalidArgError(
        f"no default seccomp profile: none of {', '.join(DEFAULT_PROFILES)} exists "
        "(install golang-github-containers-common, set seccomp_profile, or use "
        "--security-opt seccomp=unconfined)")


def load_profile(path: str) -> dict[str, Any]:
    """Read a profile file (once per process while it is unchanged: create and start
    both need it); InvalidArgError naming the file if unreadable or not a JSON object.
    The result is shared: do not change it."""
    try:
        return filecache.parsed(path, _read_profile)
    except OSError as exc:
        raise InvalidArgError(f"seccomp profile {path}: {exc.strerror}") from None


def _read_profile(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        try:
            data = json.load(f)
        except ValueError as exc:
            raise InvalidArgError(f"seccomp profile {path}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgError(f"seccomp profile {path}: expected a JSON object")
    return data


def translate(profile: Mapping[str, Any], capabilities: Iterable[str],
              arch: str | None = None, where: str = "seccomp profile") -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` of ``profile`` for a container whose bounding set is
    ``capabilities``, on architecture ``arch`` (default: the host's).

    None for a profile with neither a default action nor syscalls (seccomp disabled, as
    containers/common).  InvalidArgError, prefixed with ``where``, for a malformed one.
    """
    try:
        return _translate(profile, frozenset(capabilities), arch or native_arch())
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgError(f"{where}: {exc}") from None


def _translate(profile: Mapping[str, Any], caps: frozenset[str],
               arch: str) -> dict[str, Any] | None:
    syscalls = profile.get("syscalls") or []
    if not profile.get("defaultAction") and not syscalls:
        return None
    result: dict[str, Any] = {"defaultAction": _action(profile.get("defaultAction"))}
    default_errno = _errno(profile.get("defaultErrno"), profile.get("defaultErrnoRet"))
    if default_errno is not None:
        result["defaultErrnoRet"] = default_errno
    architectures = _architectures(profile, arch)
    if architectures:
        result["architectures"] = architectures
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            result[key] = profile[key]
    result["syscalls"] = [_syscall(call) for call in _list(syscalls, "syscalls")
                          if _applies(call, caps, arch)]
    return result


def _architectures(profile: Mapping[str, Any], arch: str) -> list[str]:
    listed = _list(profile.get("architectures") or [], "architectures")
    arch_map = _list(profile.get("archMap") or [], "archMap")
    if listed and arch_map:
        raise ValueError("both 'architectures' and 'archMap' are given; use one of them")
    if listed:
        return [str(a) for a in listed]
    wanted = _ARCH_SECCOMP.get(arch)
    for entry in arch_map:
        if wanted is not None and entry.get("architecture") == wanted:
            return [wanted, *map(str, entry.get("subArchitectures") or [])]
    return []


def _applies(call: Mapping[str, Any], caps: frozenset[str], arch: str) -> bool:
    """Whether a syscalls block's ``includes`` and ``excludes`` hold for the container."""
    excludes = call.get("excludes") or {}
    includes = call.get("includes") or {}
    if arch in (excludes.get("arches") or ()):
        return False
    if any(c in caps for c in excludes.get("caps") or ()):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    return all(c in caps for c in includes.get("caps") or ())


def _syscall(call: Mapping[str, Any]) -> dict[str, Any]:
    names = call.get("names") or []
    if call.get("name"):
        if names:
            raise ValueError("a syscalls block has both 'name' and 'names'; use one of them")
        names = [call["name"]]
    if not names:
        raise ValueError("a syscalls block names no system call")
    entry: dict[str, Any] = {"names": [str(n) for n in names],
                             "action": _action(call.get("action"))}
    errno_ret = _errno(call.get("errno"), call.get("errnoRet"))
    if errno_ret is not None:
        entry["errnoRet"] = errno_ret
    args = [_arg(a) for a in _list(call.get("args") or [], "args")]
    if args:
        entry["args"] = args
    return entry


def _arg(arg: Mapping[str, Any]) -> dict[str, Any]:
    op = arg.get("op")
    if op not in OPERATORS:
        raise ValueError(f"unknown argument operator {op!r}")
    return {"index": _uint(arg.get("index", 0)), "value": _uint(arg.get("value", 0)),
            "valueTwo": _uint(arg.get("valueTwo", 0)), "op": op}


def _action(action: Any) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return str(action)


def _errno(name: Any, number: Any) -> int | None:
    """An ``errno`` name (``EPERM``) or number, else ``errnoRet``; None for neither."""
    if name not in (None, ""):
        text = str(name)
        if text.isdigit():
            return int(text)
        value = getattr(errnos, text, None)
        if not text.startswith("E") or not isinstance(value, int):
            raise ValueError(f"unknown errno {text!r}")
        return value
    return None if number is None else _uint(number)


def _uint(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _list(value: Any, key: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ValueError(f"'{key}' must be an array")
    return value
