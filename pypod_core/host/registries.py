"""registries.conf, as containers' registries.conf(5) defines it, and short names.

pypod reads the file its config names (``registries_conf``), falling back to
``/etc/containers/registries.conf``; ``CONTAINERS_REGISTRIES_CONF`` overrides both, as for
podman.  Drop-in files ``<file>.d/*.conf`` are merged in name order.  Both forms are
read: v2 (``unqualified-search-registries``, ``short-name-mode``, ``[aliases]``,
``[[registry]]`` with ``prefix``/``location``/``insecure``/``blocked``/``mirror``) and v1
(``[registries.search]``, ``[registries.insecure]``, ``[registries.block]``).
"""

from __future__ import annotations

import glob
import os
import tomllib
from typing import Any

import attrs

from pypod_core.errors import ConfigError, RegistryError, ShortNameError
from pypod_core.host.reference import ImageReference, parse_reference

SYSTEM_REGISTRIES_CONF = "/etc/containers/registries.conf"
SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")
_PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")
_TOP_KEYS = {"unqualified-search-registries", "short-name-mode", "aliases", "registry",
             "registries", "credential-helpers"}
_REGISTRY_KEYS = {"prefix", "location", "insecure", "blocked", "mirror",
                  "mirror-by-digest-only"}
_MIRROR_KEYS = {"location", "insecure", "pull-from-mirror"}


@attrs.frozen
class Mirror:
    """A mirror of one registry: tried before it, for the references it serves."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"  # all, digest-only, tag-only


@attrs.frozen
class Registry:
    """One ``[[registry]]`` table: the references under ``prefix`` are pulled from
    ``location`` (the prefix rewritten), or from its mirrors first."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()


@attrs.frozen
class Endpoint:
    """Where to try pulling one reference: the rewritten reference and whether its
    registry is insecure (plain http or unverified TLS allowed)."""

    reference: ImageReference
    insecure: bool
    mirror: bool = False


@attrs.frozen
class RegistriesConf:
    """The merged content of registries.conf and its drop-ins."""

    path: str = ""
    search: tuple[str, ...] = ()
    short_name_mode: str = "enforcing"
    aliases: dict[str, str] = attrs.field(factory=dict)
    registries: tuple[Registry, ...] = ()

    def registry_for(self, reference: ImageReference) -> Registry | None:
        """The ``[[registry]]`` whose prefix matches longest, or None."""
        text = str(reference)
        best: Registry | None = None
        for reg in self.registries:
            if _prefix_matches(reg.prefix, text, reference.registry):
                if best is None or len(reg.prefix) > len(best.prefix):
                    best = reg
        return best

    def insecure(self, registry: str) -> bool:
        """Whether the registry host ``registry`` is marked insecure."""
        reg = self.registry_for(ImageReference(registry, "x"))
        return bool(reg and reg.insecure)

    def endpoints(self, reference: ImageReference) -> list[Endpoint]:
        """Where to pull ``reference`` from, in order: the mirrors that serve it, then
        the registry itself (rewritten to its ``location``).  RegistryError if blocked."""
        reg = self.registry_for(reference)
        if reg is None:
            return [Endpoint(reference, False)]
        if reg.blocked:
            raise RegistryError(f"registry {reference.registry} is blocked in "
                                f"{self.path or 'registries.conf'}")
        found = []
        for mirror in reg.mirrors:
            if mirror.pull_from_mirror == "digest-only" and not reference.digest:
                continue
            if mirror.pull_from_mirror == "tag-only" and reference.digest:
                continue
            found.append(Endpoint(_rewrite(reference, reg.prefix, mirror.location),
                                  mirror.insecure, mirror=True))
        found.append(Endpoint(_rewrite(reference, reg.prefix, reg.location), reg.insecure))
        return found


def _prefix_matches(prefix: str, text: str, host: str) -> bool:
    if prefix.startswith("*."):
        return host.endswith(prefix[1:])
    return text == prefix or (text.startswith(prefix) and text[len(prefix)] in "/:@")


def _rewrite(reference: ImageReference, prefix: str, location: str) -> ImageReference:
    if prefix.startswith("*.") or location == prefix:
        return reference
    text = location + str(reference)[len(prefix):]
    return parse_reference(text)


def registries_conf_path(configured: str = "") -> str:
    """The file to read: ``CONTAINERS_REGISTRIES_CONF``, else ``configured`` when it
    exists, else the system's file."""
    env = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if env:
        return env
    if configured and os.path.exists(configured):
        return configured
    return SYSTEM_REGISTRIES_CONF


def load_registries(path: str) -> RegistriesConf:
    """Read ``path`` and its ``.d`` drop-ins (a missing file is an empty one);
    ConfigError naming the file and key when one is malformed or unsupported."""
    merged: dict[str, Any] = {"search": None, "mode": None, "aliases": {}, "registries": {}}
    files = [path, *sorted(glob.glob(f"{path}.d/*.conf"))]
    for file in files:
        data = _read(file)
        if data is not None:
            _merge(merged, data, file)
    return RegistriesConf(
        path=path, search=tuple(merged["search"] or ()),
        short_name_mode=merged["mode"] or "enforcing", aliases=merged["aliases"],
        registries=tuple(merged["registries"].values()))


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _merge(merged: dict[str, Any], data: dict[str, Any], path: str) -> None:
    """Fold one file into ``merged``: later files replace the search list and mode, and
    add to (or replace by prefix) the aliases and registries."""
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}")
    helpers = data.get("credential-helpers")
    if helpers not in (None, [], ["containers-auth.json"]):
        raise ConfigError(f"{path}: key 'credential-helpers': only containers-auth.json "
                          "is supported, not credential helper programs")
    if "registries" in data:
        _merge_v1(merged, _table(data["registries"], path, "registries"), path)
    if "unqualified-search-registries" in data:
        merged["search"] = _strings(data["unqualified-search-registries"], path,
                                    "unqualified-search-registries")
    if "short-name-mode" in data:
        mode = data["short-name-mode"]
        if mode not in SHORT_NAME_MODES:
            raise ConfigError(f"{path}: key 'short-name-mode': expected one of "
                              f"{', '.join(SHORT_NAME_MODES)}, got {mode!r}")
        merged["mode"] = mode
    for name, value in _table(data.get("aliases", {}), path, "aliases").items():
        if not isinstance(value, str) or not parse_reference(value).qualified:
            raise ConfigError(f"{path}: alias {name!r}: {value!r} is not a fully "
                              "qualified image name")
        merged["aliases"][name] = value
    regs = data.get("registry", [])
    if not isinstance(regs, list):
        raise ConfigError(f"{path}: key 'registry': expected an array of tables")
    for table in regs:
        reg = _registry(_table(table, path, "registry"), path)
        merged["registries"][reg.prefix] = reg


def _merge_v1(merged: dict[str, Any], v1: dict[str, Any], path: str) -> None:
    def hosts(section: str) -> list[str]:
        table = _table(v1.get(section, {}), path, f"registries.{section}")
        return _strings(table.get("registries", []), path, f"registries.{section}")

    merged["search"] = hosts("search")
    for flag in ("insecure", "block"):
        for host in hosts(flag):
            old = merged["registries"].get(host) or Registry(host, host)
            merged["registries"][host] = attrs.evolve(
                old, **{"insecure" if flag == "insecure" else "blocked": True})


def _registry(table: dict[str, Any], path: str) -> Registry:
    for key in table:
        if key not in _REGISTRY_KEYS:
            raise ConfigError(f"{path}: [[registry]]: unknown key {key!r}")
    location = table.get("location", "")
    prefix = table.get("prefix", "") or location
    if not isinstance(prefix, str) or not prefix or not isinstance(location, str):
        raise ConfigError(f"{path}: [[registry]]: needs a 'location' (or a 'prefix')")
    digest_only = bool(table.get("mirror-by-digest-only", False))
    mirrors = []
    for entry in table.get("mirror", []):
        entry = _table(entry, path, "registry.mirror")
        for key in entry:
            if key not in _MIRROR_KEYS:
                raise ConfigError(f"{path}: [[registry.mirror]]: unknown key {key!r}")
        mode = entry.get("pull-from-mirror", "digest-only" if digest_only else "all")
        if mode not in _PULL_FROM_MIRROR:
            raise ConfigError(f"{path}: [[registry.mirror]]: 'pull-from-mirror' must be "
                              f"one of {', '.join(_PULL_FROM_MIRROR)}, not {mode!r}")
        mirrors.append(Mirror(str(entry.get("location", "")),
                              bool(entry.get("insecure", False)), mode))
    return Registry(prefix, location or prefix, bool(table.get("insecure", False)),
                    bool(table.get("blocked", False)), tuple(mirrors))


def _table(value: Any, path: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: key {key!r}: expected a table")
    return value


def _strings(value: Any, path: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: key {key!r}: expected an array of strings")
    return list(value)


# -- short names ---------------------------------------------------------------------


@attrs.frozen
class Resolution:
    """What a short name resolves to: the fully qualified candidates to try in order.

    ``prompt`` is true when the caller should let the user choose one (enforcing mode,
    several candidates, a terminal); ``alias`` when an alias gave the single candidate."""

    candidates: tuple[str, ...]
    alias: bool = False
    prompt: bool = False


def resolve_short_name(name: str, conf: RegistriesConf, *, tty: bool = False) -> Resolution:
    """Resolve ``name`` as containers' short-name rules do.

    A fully qualified name is itself.  Otherwise an alias of its repository, if any;
    otherwise each unqualified-search registry.  With several of those, enforcing mode
    needs a terminal to ask on (ShortNameError without one), permissive and disabled
    try them in order."""
    ref = parse_reference(name)
    if ref.qualified:
        return Resolution((str(ref.with_default_tag()),))
    alias = conf.aliases.get(ref.repository)
    if alias is not None and conf.short_name_mode != "disabled":
        target = parse_reference(alias)
        resolved = attrs.evolve(target, tag=ref.tag or target.tag, digest=ref.digest)
        return Resolution((str(resolved.with_default_tag()),), alias=True)
    if not conf.search:
        raise ShortNameError(
            f'short-name "{name}" did not resolve to an alias and no '
            f'unqualified-search registries are defined in "{conf.path}"')
    candidates = tuple(str(ref.on_registry(reg).with_default_tag()) for reg in conf.search)
    if len(candidates) > 1 and conf.short_name_mode == "enforcing":
        if not tty:
            raise ShortNameError(
                f'short-name resolution enforced but cannot prompt without a TTY '
                f'(short name "{name}", candidates: {", ".join(candidates)})')
        return Resolution(candidates, prompt=True)
    return Resolution(candidates)
