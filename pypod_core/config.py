"""The runtime configuration: attrs classes, read from TOML and caller options by cattrs.

Precedence, as libpod's: built-in defaults; then one file (the override file if it
exists, else the vendor file; rootless, the user's file); then the caller's options.
Keys a file or the caller set are recorded in ``RuntimeConfig.explicit`` (libpod's
``configuredFrom``): the DB-config stage only overrides values nobody set.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from pypod_core import containers_conf
from pypod_core.config_values import check_depth, check_values
from pypod_core.errors import ConfigError

if TYPE_CHECKING:
    # cattrs and tomllib are imported where used: a pypod process without a config
    # file and with only the command line's string options needs neither (~12 ms).
    import cattrs

#: Where root's configuration lives (pypod's own names, never podman's files).
VENDOR_CONFIG = "/usr/share/containers/pypod.conf"
OVERRIDE_CONFIG = "/etc/containers/pypod.conf"
#: The user's file, under ``$HOME`` (rootless).
USER_CONFIG = ".config/containers/pypod.conf"

_CONMON_PATHS = [
    "/usr/libexec/pypod/conmon",
    "/usr/local/libexec/pypod/conmon",
    "/usr/libexec/podman/conmon",
    "/usr/bin/conmon",
    "/usr/sbin/conmon",
    "/usr/local/bin/conmon",
    "/usr/local/sbin/conmon",
]
_BINARY_DIRS = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/sbin", "/bin"]


def is_rootless() -> bool:
    """Whether pypod runs rootless: decided by the effective uid, as libpod does."""
    return os.geteuid() != 0


def _home() -> str:
    home = os.environ.get("HOME")
    if not home:
        raise ConfigError("rootless pypod needs $HOME to be set")
    return home


def rootless_runtime_dir() -> str:
    """``$XDG_RUNTIME_DIR``, or a private directory under /tmp as libpod falls back to."""
    return os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/run-{os.geteuid()}"


@attrs.define(kw_only=True)
class RuntimeConfig:
    """Every key of ``pypod.conf``; the defaults are root's."""

    # Backends, chosen by name among those the installed plugins declare.
    state_type: str = "sqlite"
    #: The OCI runtime backend's name, or a path to a runtime binary (as podman's
    #: ``--runtime``): see :meth:`oci_backend`.
    runtime: str = "runc"
    network_backend: str = "cni"
    firewall_backend: str = "iptables"
    disabled_plugins: list[str] = attrs.field(factory=list)
    # Binaries.  An empty runtime_path searches the usual directories for ``runtime``.
    runtime_path: list[str] = attrs.field(factory=list)
    conmon_path: list[str] = attrs.field(factory=lambda: list(_CONMON_PATHS))
    conmon_env_vars: list[str] = attrs.field(
        factory=lambda: ["PATH=/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/bin:/sbin"]
    )
    cgroup_manager: str = "cgroupfs"
    #: Global flags for the OCI runtime binary, each without its leading ``--``
    #: (``log-format=json``): podman's ``--runtime-flag``.
    runtime_flags: list[str] = attrs.field(factory=list)
    init_path: str = ""
    # Storage and the runtime's own directories.
    graph_root: str = "/var/lib/pypod"
    run_root: str = "/run/pypod"
    #: How image layers and image containers' rootfs are stored: "overlay" (root's
    #: default; "vfs" where overlayfs does not mount), "vfs" (a full copy per container;
    #: rootless' default until rootless overlay lands) or any installed graph driver.
    #: --rootfs containers always use "dir" (the directory in place).
    graph_driver: str = "overlay"
    static_dir: str = "/var/lib/pypod/static"
    tmp_dir: str = "/run/pypod/tmp"
    volume_path: str = "/var/lib/pypod/volumes"
    #: The volume driver of a volume created without ``-d`` (and of those a container
    #: creates): podman has no key for it and always uses "local".
    volume_driver: str = "local"
    #: The secret driver of a secret created without ``--driver`` (containers.conf's
    #: ``[secrets] driver``): "file", data under ``graph_root/secrets``.
    secret_driver: str = "file"
    #: Where events go (podman's ``events_logger``): "file" (one JSON line each in
    #: ``events_logfile_path``) or "none"; pypod has no "journald" backend.
    events_logger: str = "file"
    #: The events log; "" is podman's default, ``tmp_dir/events/events.log``.
    events_logfile_path: str = ""
    # Containers.
    max_log_size: int = -1
    no_pivot_root: bool = False
    hooks_dir: list[str] = attrs.field(factory=lambda: ["/usr/share/pypod/oci/hooks.d"])
    namespace: str = ""
    #: SELinux labelling: pypod applies no labels, so only false is accepted.
    label: bool = False
    #: The default seccomp profile (containers format); "" takes the first existing of
    #: pypod_core.engine.seccomp.DEFAULT_PROFILES.
    seccomp_profile: str = ""
    # Networking.
    cni_config_dir: str = "/etc/pypod/cni/net.d"
    cni_plugin_dir: list[str] = attrs.field(
        factory=lambda: ["/usr/lib/cni", "/usr/libexec/cni", "/usr/local/lib/cni", "/opt/cni/bin"]
    )
    #: podman's name for its default network (scripts name it); its bridge and subnet
    #: stay pypod's own (``[plugins.net_cni]``), apart from a podman's on the same host.
    cni_default_network: str = "podman"
    #: A container's network when none is asked for (containers.conf's ``netns``):
    #: "bridge" (the default network, podman's rootful default), "none" or "host".
    netns: str = "bridge"
    enable_port_reservation: bool = True
    #: containers.conf's DNS defaults of every container: nameservers replacing the
    #: host's (``--dns`` comes after them), search domains and resolver options (each
    #: before the container's own ``--dns-search``/``--dns-option``).
    dns_servers: list[str] = attrs.field(factory=list)
    dns_searches: list[str] = attrs.field(factory=list)
    dns_options: list[str] = attrs.field(factory=list)
    #: The hosts file whose entries a container's /etc/hosts starts from: "" the host's
    #: /etc/hosts, "none" no file.
    base_hosts_file: str = ""
    #: The address of ``host.containers.internal`` in containers' /etc/hosts; "" the
    #: bridge's gateway (else the host's first address).
    host_containers_internal_ip: str = ""
    # Pods: the infra container's root filesystem (a name: pypod builds it under
    # graph_root/infra; an absolute path: a directory of your own) and its process.
    infra_image: str = "pypod-infra"
    infra_command: list[str] = attrs.field(factory=lambda: ["/bin/pypod-pause"])
    # Images: where short names resolve and which registries are insecure or mirrored.
    registries_conf: str = "/etc/containers/registries.conf"
    #: policy.json for pulls (podman's --signature-policy); "": the first existing of
    #: ~/.config/containers/policy.json (rootless), /etc/pypod/policy.json and
    #: /etc/containers/policy.json (see pypod_core/host/policy.py).
    signature_policy: str = ""
    # One table per plugin, for its own settings: [plugins.state_sqlite] ...
    plugins: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    # Not a key: which keys a file or the caller set (libpod's configuredFrom).
    explicit: frozenset[str] = attrs.field(factory=frozenset, metadata={"internal": True})
    # Not a key: the file the config was read from, if any.
    source: str = attrs.field(default="", metadata={"internal": True})

    def plugin_config(self, plugin: str) -> dict[str, Any]:
        """The settings table of one plugin (``[plugins.NAME]``), empty if none."""
        return dict(self.plugins.get(plugin, {}))

    def runtime_paths(self, binary: str = "") -> list[str]:
        """Where to look for the OCI runtime binary, in order: ``runtime`` when it is a
        path, ``runtime_path``, else ``binary`` (default: the ``runtime`` key) in the
        usual directories."""
        if "/" in self.runtime:
            return [self.runtime]
        return self.runtime_path or [f"{d}/{binary or self.runtime}" for d in _BINARY_DIRS]

    def oci_backend(self) -> str:
        """The OCI runtime backend ``runtime`` selects: the name itself, or for a path
        the backend of that binary's kind (``crun`` for a crun, else ``runc``: both
        speak the same command line, and the state each keeps is its own)."""
        if "/" not in self.runtime:
            return self.runtime
        return "crun" if "crun" in os.path.basename(self.runtime) else "runc"

    def to_toml(self) -> str:
        """The configuration as a TOML document that :func:`load_config` reads back."""
        import tomli_w  # lazy: only config show and a rootless first use (~0.4 ms)

        return tomli_w.dumps(_public_dict(self))


def _public_fields() -> list[attrs.Attribute]:
    return [a for a in attrs.fields(RuntimeConfig) if not a.metadata.get("internal")]


def _public_dict(config: RuntimeConfig) -> dict[str, Any]:
    return {a.name: copy.deepcopy(getattr(config, a.name)) for a in _public_fields()}


@functools.cache
def _str_keys() -> frozenset[str]:
    """The public keys whose type is ``str``.  Annotations are strings here (``from
    __future__ import annotations``), so a field's ``type`` is ``'str'``."""
    return frozenset(a.name for a in _public_fields() if a.type in ("str", str))


def _plain_string_options(options: Mapping[str, Any]) -> bool:
    """Whether every option is a string given to a string key: what the command line
    passes (``--root``, ``--runroot``, ``--state-type``, ``--runtime``).  Merged onto
    the defaults, which are well-typed already, such options need no structuring, so
    :func:`load_config` skips cattrs; anything else takes cattrs and its errors."""
    keys = _str_keys()
    return all(key in keys and type(value) is str for key, value in options.items())


@functools.cache
def _strict_converter() -> cattrs.Converter:
    """A converter that refuses wrong types instead of coercing them (cattrs would make
    ``str(5)`` of an int) and refuses unknown keys.  Built once, on first use."""
    import cattrs  # lazy: only a config file or typed options (~20 ms)

    conv = cattrs.Converter(forbid_extra_keys=True)

    def exact(kind: type, label: str):
        def hook(value: Any, _: type) -> Any:
            if type(value) is not kind and not (kind is float and type(value) is int):
                raise TypeError(f"expected {label}, got {type(value).__name__} {value!r}")
            return value

        return hook

    for kind, label in ((str, "a string"), (int, "an integer"), (bool, "a boolean"),
                        (float, "a number")):
        conv.register_structure_hook(kind, exact(kind, label))
    conv.register_structure_hook(Any, lambda v, _: v)
    for container, name in ((list, "an array"), (dict, "a table")):
        conv.register_structure_hook_factory(
            _origin_is(container), _container_hook_factory(conv, container, name)
        )
    return conv


def _origin_is(container: type) -> Callable[[Any], bool]:
    return lambda type_: typing.get_origin(type_) is container


def _container_hook_factory(conv: cattrs.Converter, container: Any, label: str) -> Any:
    """Check the TOML value is an array (a table) before cattrs iterates it: cattrs
    would happily turn the string "abc" into ["a", "b", "c"]."""

    def factory(type_: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(type_)

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, container):
                raise TypeError(f"expected {label}, got {type(value).__name__} {value!r}")
            if isinstance(value, dict):
                return {conv.structure(k, args[0]): conv.structure(v, args[1])
                        for k, v in value.items()}
            return [conv.structure(v, args[0]) for v in value]

        return hook

    return factory


def _describe(exc: BaseException, where: str) -> str:
    """One line that names ``where`` (a file or "options") and the offending key."""
    import cattrs  # lazy: loaded already by the converter that raised

    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        keys = ", ".join(repr(k) for k in sorted(exc.extra_fields))
        return f"{where}: unknown key {keys}"
    if isinstance(exc, cattrs.ClassValidationError):
        for sub in exc.exceptions:
            key = _key_of(sub)
            if isinstance(sub, cattrs.ForbiddenExtraKeysError):
                return _describe(sub, where)
            inner = sub
            while isinstance(inner, cattrs.BaseValidationError) and inner.exceptions:
                inner = inner.exceptions[0]
            return f"{where}: key {key!r}: {_message(inner)}"
    return f"{where}: {exc}"


def _key_of(exc: BaseException) -> str:
    for note in getattr(exc, "__notes__", []):
        name = getattr(note, "name", None)
        if name:
            return str(name)
    return "?"


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "missing"
    return str(exc) or type(exc).__name__


#: libpod.conf keys pypod refuses by name, and why (rather than "unknown key").
UNSUPPORTED_KEYS: Final[dict[str, str]] = {}
#: libpod.conf keys that mean nothing to pypod: dropped with a warning that says why.
#: num_locks is one because pypod wrote it into every effective config it saved (the
#: exit command's file of a running container among them) before it was dropped.
IGNORED_KEYS: Final = {
    "num_locks": "pypod's locks are lock files, one per container and pod, so there is "
                 "no pool of locks to size",
}


def _drop_ignored(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``data`` without the IGNORED_KEYS, each one warned about on stderr."""
    kept = dict(data)
    for key, why in IGNORED_KEYS.items():
        if kept.pop(key, None) is not None:
            sys.stderr.write(f"WARN: {where}: key {key!r} has no effect and is ignored: "
                             f"{why}\n")
    return kept


def _validate(data: Mapping[str, Any], where: str) -> None:
    """Structure ``data`` alone so that an error names the key of ``where``."""
    if "explicit" in data or "source" in data:
        bad = "explicit" if "explicit" in data else "source"
        raise ConfigError(f"{where}: unknown key {bad!r}")
    for key, why in UNSUPPORTED_KEYS.items():
        if key in data:
            raise ConfigError(f"{where}: key {key!r} is not supported: {why}")
    check_depth(data, where)
    converter = _strict_converter()
    import cattrs  # lazy: loaded already by _strict_converter

    try:
        converter.structure(dict(data), RuntimeConfig)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        raise ConfigError(_describe(exc, where)) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one TOML file; ConfigError naming the file if it is unreadable or malformed."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if not text.strip():
        return {}  # an empty file needs no parser
    import tomllib  # lazy: only a config file with something in it (~3 ms)

    try:
        return tomllib.loads(text.decode())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None


def default_config(rootless: bool) -> RuntimeConfig:
    """The built-in defaults; rootless ones put everything under the user's directories."""
    config = RuntimeConfig()
    if rootless:
        data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(_home(), ".local/share")
        config.graph_root = os.path.join(data_home, "pypod")
        config.run_root = os.path.join(rootless_runtime_dir(), "pypod")
        config.static_dir = os.path.join(config.graph_root, "static")
        config.volume_path = os.path.join(config.graph_root, "volumes")
        config.tmp_dir = os.path.join(config.run_root, "tmp")
        config.firewall_backend = "none"
        config.graph_driver = "vfs"
        config.netns = "none"  # rootless pypod has no network backend
    return config


def config_file_for(rootless: bool) -> str | None:
    """The file the default precedence reads, or None if none exists."""
    if rootless:
        user = os.path.join(_home(), USER_CONFIG)
        return user if os.path.exists(user) else None
    for path in (OVERRIDE_CONFIG, VENDOR_CONFIG):
        if os.path.exists(path):
            return path
    return None


def load_config(
    path: str | None = None,
    options: Mapping[str, Any] | None = None,
    rootless: bool | None = None,
) -> RuntimeConfig:
    """Build the effective configuration.

    ``path`` names the one file to read (it must exist); without it the default
    precedence picks a file.  ``options`` are caller options, keyed as the file.
    """
    rootless = is_rootless() if rootless is None else rootless
    merged = _public_dict(default_config(rootless))
    # podman's containers.conf, beneath pypod's own file (types checked as it is read).
    podman_keys, podman_origins = containers_conf.load(rootless)
    merged.update(podman_keys)
    explicit: set[str] = set()
    source = path or os.environ.get("PYPOD_CONF") or config_file_for(rootless)
    data: dict[str, Any] = {}
    if source:
        data = _drop_ignored(read_toml(source), source)
        if not _plain_string_options(data):
            _validate(data, source)
        merged.update(data)
        explicit.update(data)
    if rootless and not path and not source:
        # First rootless use: the user's file gets the defaults, not this one call's
        # options (a --root given once must not stick for ever).
        write_user_config_once(RuntimeConfig(**merged))  # defaults only: well-typed
    # A file (or none) and the command line's options that are all strings given to
    # string keys (an empty file, --root, --runroot): nothing needs structuring.
    if options and any(key in options for key in IGNORED_KEYS):
        options = _drop_ignored(options, "options")
    plain = _plain_string_options(data) and _plain_string_options(options or {})
    if options:
        if not plain:
            _validate(options, "options")
        merged.update(copy.deepcopy(dict(options)))
        explicit.update(options)
    if plain:
        config = RuntimeConfig(**merged)
    else:
        config = _strict_converter().structure(merged, RuntimeConfig)
    config.explicit = frozenset(explicit)
    config.source = source or ""
    _derive_paths(config)
    given = options or {}
    check_values(config, lambda key: "options" if key in given
                 else source if source and key in explicit
                 else podman_origins.get(key, "defaults"))
    return config


def _derive_paths(config: RuntimeConfig) -> None:
    """Directories follow the roots they live under unless they were set themselves."""
    if "graph_root" in config.explicit:
        for key, leaf in (("static_dir", "static"), ("volume_path", "volumes")):
            if key not in config.explicit:
                setattr(config, key, os.path.join(config.graph_root, leaf))
    if "run_root" in config.explicit and "tmp_dir" not in config.explicit:
        config.tmp_dir = os.path.join(config.run_root, "tmp")


def write_user_config_once(config: RuntimeConfig) -> None:
    """On first rootless use, write the effective config to the user's file, atomically."""
    target = os.path.join(_home(), USER_CONFIG)
    if os.path.exists(target):
        return
    import tempfile  # lazy: only a rootless first use (~1 ms)

    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".pypod.conf.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(config.to_toml())
            f.flush()
            os.fsync(f.fileno())
        # link() fails if another process won the race; its file is as good as ours.
        try:
            os.link(tmp, target)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
