"""The plugin manager: discovery through entry points, blocking, loading and backends.

Plugins are found in entry-point group ``pypod``; the entry point's name is the plugin's
name and its value a module of hookimpls.  A plugin can be blocked before it is imported
(config ``disabled_plugins``, ``PYPOD_DISABLE_PLUGINS``, ``--no-plugin``).  A plugin that
fails to import is skipped with a warning, unless ``PYPOD_STRICT_PLUGINS=1``.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy

from pypod_core import entrypoints, hookspecs
from pypod_core.declarations import BACKEND_FAMILIES
from pypod_core.errors import BackendNotFoundError, HookError, PluginError, PypodError

ENTRY_POINT_GROUP = "pypod"
#: The name under which the core's default stages are registered.
DEFAULTS_PLUGIN = "pypod_core.defaults"


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


@attrs.define
class PluginInfo:
    """What ``pypod plugins`` shows of one plugin."""

    name: str
    distribution: str = ""
    version: str = ""
    status: str = "active"  # active, blocked, failed
    error: str = ""
    hooks: list[str] = attrs.field(factory=list)
    backends: dict[str, list[str]] = attrs.field(factory=dict)


class PluginManager:
    """pypod's pluggy manager plus what it knows of each plugin and its backends."""

    def __init__(self, blocked: Iterable[str] = (), warn: Callable[[str], None] | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.blocked = set(blocked) | set(_env_list("PYPOD_DISABLE_PLUGINS"))
        self.strict = _env_flag("PYPOD_STRICT_PLUGINS")
        self._warn = warn or (lambda msg: print(f"pypod: warning: {msg}", file=sys.stderr))
        self._backends: dict[str, dict[str, Any]] | None = None

    @property
    def hook(self) -> Any:
        """The hook relay: ``manager.hook.pypod_<name>(...)``."""
        return self.pm.hook

    # -- loading ---------------------------------------------------------------------

    def load(self) -> PluginManager:
        """Register the core's defaults, every entry point, and ``PYPOD_PLUGINS``."""
        from pypod_core import defaults

        self.pm.register(defaults, name=DEFAULTS_PLUGIN)
        self.infos[DEFAULTS_PLUGIN] = PluginInfo(DEFAULTS_PLUGIN, "pypod",
                                                 entrypoints.version("pypod"))
        if not _env_flag("PYPOD_DISABLE_PLUGIN_AUTOLOAD"):
            for ep in entrypoints.entry_points(ENTRY_POINT_GROUP):
                self._load_one(ep.name, ep.dist, ep.version, ep.load)
        for module in _env_list("PYPOD_PLUGINS"):
            self._load_one(module, "", "", functools.partial(importlib.import_module, module))
        self._check_pending()
        for info in self.infos.values():
            plugin = self.pm.get_plugin(info.name)
            if plugin is not None:
                info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        return self

    def register_module(self, module: types.ModuleType, name: str) -> None:
        """Register an already imported plugin module (tests, embedding)."""
        self._load_one(name, "", "", lambda: module)
        self._check_pending()

    def _load_one(self, name: str, dist: str, version: str, load: Callable[[], Any]) -> None:
        info = PluginInfo(name, dist, version)
        self.infos[name] = info
        if name in self.blocked:
            info.status = "blocked"
            return
        if self.pm.has_plugin(name):
            return
        try:
            module = load()
            self.pm.register(module, name=name)
        except Exception as exc:
            info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
            message = f"plugin {name!r}{_from(dist)} failed to load: {info.error}"
            if self.strict:
                raise PluginError(message) from exc
            self._warn(message)

    def _check_pending(self) -> None:
        """A hookimpl with no spec is a misspelt hook: an error naming the plugin."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            plugin = self.pm.get_name(exc.plugin) or str(exc.plugin)
            info = self.infos.get(plugin)
            raise PluginError(
                f"plugin {plugin!r}{_from(info.distribution if info else '')}: {exc}"
            ) from None

    def rows(self) -> list[dict[str, Any]]:
        """One dict per plugin, by name, as ``pypod plugins --json`` and ``info`` show it:
        name, distribution, version, status, hooks, backends (and error, if any)."""
        for family in BACKEND_FAMILIES:  # collect, so each plugin knows what it declared
            self.backends(family)
        return [attrs.asdict(info, filter=lambda field, value: field.name != "error" or value)
                for info in sorted(self.infos.values(), key=lambda i: i.name)]

    # -- backends --------------------------------------------------------------------

    def backends(self, family: str) -> dict[str, Any]:
        """The declarations of one family (``state``, ``oci_runtime``, ``network``,
        ``firewall``) by name, each stamped with its plugin and distribution."""
        if self._backends is None:
            self._backends = {f: self._collect(f) for f in BACKEND_FAMILIES}
        return self._backends[family]

    def _collect(self, family: str) -> dict[str, Any]:
        hook_name = BACKEND_FAMILIES[family][1]
        found: dict[str, Any] = {}
        for plugin, impl in self._impls(hook_name):
            info = self.infos.get(plugin, PluginInfo(plugin))
            for decl in self.call_plugin_hook(plugin, hook_name, impl.function) or ():
                decl = decl.stamped(plugin, info.distribution, info.version)
                if decl.name in found:
                    other = found[decl.name]
                    raise PluginError(
                        f"{family} backend {decl.name!r} is declared twice: by "
                        f"{_who(other)} and by {_who(decl)}"
                    )
                found[decl.name] = decl
                info.backends.setdefault(family, []).append(decl.name)
        return found

    def backend(self, family: str, name: str) -> Any:
        """The declaration named ``name``; BackendNotFoundError listing the installed ones,
        or naming the failed plugin that may have provided it."""
        found = self.backends(family)
        if name in found:
            return found[name]
        key = BACKEND_FAMILIES[family][0]
        failed = [i for i in self.infos.values() if i.status == "failed"]
        blocked = [i.name for i in self.infos.values() if i.status == "blocked"]
        hint = ""
        if failed:
            hint = "; plugins that failed to load: " + ", ".join(
                f"{i.name}{_from(i.distribution)} ({i.error})" for i in failed
            )
        if blocked:
            hint += "; blocked plugins: " + ", ".join(sorted(blocked))
        installed = ", ".join(sorted(found)) or "none"
        raise BackendNotFoundError(
            f"unknown {family.replace('_', ' ')} backend {name!r} ({key}); "
            f"installed: {installed}{hint}"
        )

    def build(self, family: str, name: str, runtime: Any) -> Any:
        """Build the backend ``name`` of ``family`` with its factory; an exception from the
        factory names the plugin and distribution that declared the backend."""
        decl = self.backend(family, name)
        try:
            return decl.factory(runtime)
        except PypodError:
            raise
        except Exception as exc:
            raise HookError(
                f"plugin {decl.plugin!r}{_from(decl.distribution)} failed to build "
                f"{family.replace('_', ' ')} backend {name!r}: {type(exc).__name__}: {exc}"
            ) from exc

    # -- calling hooks ---------------------------------------------------------------

    def call_plugin_hook(self, plugin: str, hook: str, function: Callable, *args: Any) -> Any:
        """Call one plugin's hookimpl, turning an exception into a HookError naming both."""
        try:
            result = function(*args)
            return list(result) if hook.endswith(("_backends", "_runtimes")) else result
        except PypodError:
            raise
        except Exception as exc:
            raise HookError(
                f"plugin {plugin!r} failed in hook {hook}: {type(exc).__name__}: {exc}"
            ) from exc

    def _impls(self, hook: str) -> list[tuple[str, Any]]:
        """(plugin name, hookimpl) in pluggy's call order: tryfirst, plain, trylast,
        the last registered first."""
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        return [(self.pm.get_name(impl.plugin) or "?", impl) for impl in reversed(impls)]

    def call_first(self, hook: str, **kwargs: Any) -> tuple[Any, str]:
        """Call a ``firstresult`` hook as pluggy would, and also say which plugin served it."""
        for plugin, impl in self._impls(hook):
            args = [kwargs[name] for name in impl.argnames]
            result = self.call_plugin_hook(plugin, hook, impl.function, *args)
            if result is not None:
                return result, plugin
        return None, ""

    def call_all(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook on every plugin; an exception names the plugin and hook."""
        for plugin, impl in self._impls(hook):
            args = [kwargs[name] for name in impl.argnames]
            self.call_plugin_hook(plugin, hook, impl.function, *args)


def _from(dist: str) -> str:
    return f" (distribution {dist!r})" if dist else ""


def _who(decl: Any) -> str:
    dist = f"distribution {decl.distribution!r}" if decl.distribution else "no distribution"
    return f"plugin {decl.plugin!r} ({dist})"
