"""A container's security settings, checked and resolved when it is created, as podman's
pkg/specgen/generate/security_linux.go: capabilities (``--cap-add``, ``--cap-drop``),
the seccomp profile, AppArmor, masked paths, no-new-privileges and ``--init``.

:func:`resolve_fields` turns what the caller asked for into what the container keeps
(normalised capability names, the seccomp profile's path, the init binary's path), or
raises a one-line error before anything is stored.  :mod:`pypod_core.engine.bundle` turns the
kept fields into the OCI spec at each start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.engine import oci_hooks as hooks
from pypod_core.engine import seccomp
from pypod_core.engine.bundle import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    own_bounding_set,
)
from pypod_core.errors import ConfigError, InvalidArgError

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig

#: ``--cap-add ALL`` / ``--cap-drop ALL``.
ALL = "ALL"

#: Where the init binary is looked for when config ``init_path`` is unset: pypod's own
#: place, then Debian's catatonit package (podman's default ``init_path``).
INIT_PATHS = ("/usr/libexec/pypod/catatonit", "/usr/libexec/podman/catatonit",
              "/usr/bin/catatonit")
APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
SELINUX_FS = "/sys/fs/selinux"


def known_capabilities() -> tuple[str, ...]:
    """The capabilities the running kernel knows (up to ``cap_last_cap``)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        return ALL_CAPABILITIES
    return ALL_CAPABILITIES[:last + 1]


def normalize_capabilities(names: Iterable[str], flag: str) -> tuple[str, ...]:
    """Capability names as the spec spells them (``CAP_NET_ADMIN``): any case, with or
    without ``CAP_``, or ``ALL``; InvalidArgError naming ``flag`` for an unknown one."""
    known = known_capabilities()
    result: list[str] = []
    for name in names:
        cap = name.strip().upper()
        if cap != ALL and not cap.startswith("CAP_"):
            cap = f"CAP_{cap}"
        if cap != ALL and cap not in known:
            raise InvalidArgError(f"{flag} {name}: unknown capability")
        if cap not in result:
            result.append(cap)
    return tuple(result)


def merge_capabilities(base: Sequence[str], add: Sequence[str], drop: Sequence[str],
                       bounding: Sequence[str]) -> list[str]:
    """``base`` with ``add`` added and ``drop`` dropped, as podman merges them: ``drop``
    ALL keeps only ``add``; ``add`` ALL starts from ``bounding`` (what this process
    holds); a capability both added and dropped is an error."""
    if ALL in drop:
        if ALL in add:
            raise InvalidArgError("--cap-add ALL and --cap-drop ALL cannot be combined")
        return [c for c in add if c in bounding]
    if ALL in add:
        base, add = list(bounding), []
    for cap in add:
        if cap in drop:
            raise InvalidArgError(f"capability {cap} cannot be both added and dropped")
    caps = [c for c in base if c not in drop] + [c for c in add if c not in base]
    return [c for c in caps if c in bounding]


def apparmor_enabled() -> bool:
    """Whether the host's kernel enforces AppArmor."""
    try:
        with open(APPARMOR_ENABLED) as f:
            return f.read().strip().upper().startswith("Y")
    except OSError:
        return False


def selinux_enabled() -> bool:
    """Whether SELinux is enabled on the host (its file system is mounted)."""
    return os.path.exists(os.path.join(SELINUX_FS, "enforce"))


def find_init(configured: str = "") -> str:
    """The init binary for ``--init``: ``configured`` (``--init-path`` or config
    ``init_path``), else the first of :data:`INIT_PATHS`; InvalidArgError if missing."""
    candidates = (configured,) if configured else INIT_PATHS
    for path in candidates:
        if os.path.isfile(path):
            return os.path.abspath(path)
    if configured:
        raise InvalidArgError(f"--init: init binary {configured}: no such file")
    raise InvalidArgError(f"--init: no init binary: none of {', '.join(INIT_PATHS)} "
                          "exists (install catatonit, or set init_path)")


def check_label(config: RuntimeConfig) -> None:
    """Refuse config ``label = true``: pypod applies no SELinux labels."""
    if not config.label:
        return
    why = ("pypod does not apply SELinux labels" if selinux_enabled()
           else "SELinux is not enabled on this host, there is nothing to label")
    raise ConfigError(f"config key label = true: {why}; set label = false")


def resolve_fields(fields: dict[str, Any], config: RuntimeConfig) -> dict[str, Any]:
    """Check the security fields of a new container and resolve them (a new dict):
    capabilities normalised, the seccomp profile's path found and its file checked,
    AppArmor checked against the host, the init binary found."""
    check_label(config)
    fields = dict(fields)
    privileged = bool(fields.get("privileged"))
    add = fields["cap_add"] = normalize_capabilities(fields.get("cap_add", ()), "--cap-add")
    drop = fields["cap_drop"] = normalize_capabilities(fields.get("cap_drop", ()),
                                                       "--cap-drop")
    caps = merge_capabilities(DEFAULT_CAPABILITIES, add, drop,
                              own_bounding_set())
    profile = fields.get("seccomp_profile", "")
    if profile == seccomp.UNCONFINED or (privileged and (
            not profile or profile in seccomp.DEFAULT_PROFILES)):
        # podman: --privileged has no filter, unless it names a profile of its own.
        fields["seccomp_profile"] = seccomp.UNCONFINED
    else:
        path = os.path.abspath(profile) if profile else \
            seccomp.default_profile(config.seccomp_profile)
        if privileged:
            caps = list(own_bounding_set())
        seccomp.translate(seccomp.load_profile(path), caps, where=f"seccomp profile {path}")
        fields["seccomp_profile"] = path
    apparmor = fields.get("apparmor_profile", "")
    if apparmor and apparmor != "unconfined" and not apparmor_enabled():
        raise InvalidArgError(f"apparmor profile {apparmor!r} specified, but AppArmor is "
                              "not enabled on this system")
    if fields.get("unmask"):  # ALL in any case, or paths (shell patterns)
        fields["unmask"] = tuple(ALL if p.upper() == ALL else p for p in fields["unmask"])
    for key in ("mask", "unmask"):
        for path in fields.get(key, ()):
            if (path != ALL or key == "mask") and not os.path.isabs(path):
                raise InvalidArgError(f"--security-opt {key}={path}: not an absolute path")
    if fields.get("init"):
        fields["init_path"] = find_init(fields.get("init_path") or config.init_path)
    elif fields.get("init_path"):
        raise InvalidArgError("--init-path needs --init")
    hooks.read_dirs(config.hooks_dir)  # a bad hook file is refused before the record
    return fields
