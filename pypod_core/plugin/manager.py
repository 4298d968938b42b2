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
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy

from pypod_core.errors import BackendNotFoundError, HookError, PluginError, PypodError
from pypod_core.plugin import entrypoints, hookspecs
from pypod_core.plugin.declarations import BACKEND_FAMILIES, CONTRACT_VERSION, contract_major

ENTRY_POINT_GROUP = "pypod"
#: The name under which the core's default stages are registered (their module's).
DEFAULTS_PLUGIN = "pypod_core.engine.defaults"


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
    #: The module registered (what ``PYPOD_PLUGINS`` takes), or the entry point's value.
    module: str = ""
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
        self._served: dict[str, str] = {}
        self._defaults: object | None = None

    @property
    def hook(self) -> Any:
        """The hook relay: ``manager.hook.pypod_<name>(...)``."""
        return self.pm.hook

    # -- loading ---------------------------------------------------------------------

    def load(self, tolerant: bool = False) -> PluginManager:
        """Register every entry point and ``PYPOD_PLUGINS`` (the core's default stages
        come from :meth:`use_defaults`).

        A plugin with a misspelt hook is an error naming it; ``tolerant`` (for ``pypod
        plugins``) marks it failed instead, so that the user can see it and block it."""
        if not _env_flag("PYPOD_DISABLE_PLUGIN_AUTOLOAD"):
            for ep in entrypoints.entry_points(ENTRY_POINT_GROUP):
                self._load_one(ep.name, ep.dist, ep.version, ep.load, ep.value)
        for module in _env_list("PYPOD_PLUGINS"):
            self._load_one(module, "", "", functools.partial(importlib.import_module, module),
                           module)
        self._check_pending(tolerant)
        return self

    def register_module(self, module: object, name: str) -> None:
        """Register an already imported plugin: a module of hookimpls, or an object
        whose methods are hookimpls (tests, embedding)."""
        self._load_one(name, "", "", lambda: module, getattr(module, "__name__", ""))
        self._register_defaults()
        self._check_pending(False)

    def use_defaults(self, module: object) -> PluginManager:
        """Register ``module`` as the core's default stages (``new_runtime`` passes the
        engine's; the contract does not import the engine)."""
        self._defaults = module
        self._register_defaults()
        return self

    def _register_defaults(self) -> None:
        """(Re-)register the core's default stages after every other plugin: pluggy calls
        the trylast implementations registered last after the others, so the defaults,
        which raise when they cannot serve, always come last."""
        if self._defaults is None:
            return
        if self.pm.has_plugin(DEFAULTS_PLUGIN):
            self.pm.unregister(name=DEFAULTS_PLUGIN)
        else:
            self.infos[DEFAULTS_PLUGIN] = PluginInfo(
                DEFAULTS_PLUGIN, "pypod", entrypoints.version("pypod"), module=DEFAULTS_PLUGIN)
        self._register(self._defaults, DEFAULTS_PLUGIN)
        self._backends = None

    def warn_unknown(self, names: Iterable[str], what: str) -> None:
        """Warn about each of ``names`` that is no plugin pypod knows of (``what`` says
        where the name came from: a settings table, ``--no-plugin``)."""
        for name in sorted(set(names) - set(self.infos)):
            self._warn(f"{what} names plugin {name!r}, which is not installed")

    def _load_one(self, name: str, dist: str, version: str, load: Callable[[], Any],
                  module: str) -> None:
        info = PluginInfo(name, dist, version, module=module)
        self.infos[name] = info
        if name in self.blocked:
            info.status = "blocked"
            return
        if self.pm.has_plugin(name):
            return
        try:
            self._register(load(), name)
        except Exception as exc:
            self._failed(info, f"{type(exc).__name__}: {exc}", exc, "failed to load")

    def _failed(self, info: PluginInfo, error: str, exc: BaseException, what: str) -> None:
        """Mark a plugin failed: a warning, or a PluginError when plugins are strict."""
        info.status, info.error = "failed", error
        message = (f"plugin {info.name!r}{_from(info.distribution)} {what}: {error} "
                   f"(--no-plugin {info.name} skips it)")
        if self.strict:
            raise PluginError(message) from exc
        self._warn(message)

    def _check_pending(self, tolerant: bool) -> None:
        """A hookimpl with no spec is a misspelt hook: an error naming the plugin (or,
        ``tolerant``, that plugin is unregistered and marked failed)."""
        while True:
            try:
                self.pm.check_pending()
                break
            except pluggy.PluginValidationError as exc:
                plugin = self.pm.get_name(exc.plugin) or str(exc.plugin)
                info = self.infos.setdefault(plugin, PluginInfo(plugin))
                if not tolerant:
                    raise PluginError(
                        f"plugin {plugin!r}{_from(info.distribution)}: {exc} "
                        f"(--no-plugin {plugin} skips it)"
                    ) from None
                self.pm.unregister(name=plugin)
                self._failed(info, str(exc), exc, "is invalid")
        for info in self.infos.values():
            registered = self.pm.get_plugin(info.name)
            if registered is not None:
                info.hooks = sorted(h.name for h in self.pm.get_hookcallers(registered) or [])

    def rows(self) -> list[dict[str, Any]]:
        """One dict per plugin, by name, as ``pypod plugins --json`` and ``info`` show it:
        name, distribution, version, status, hooks, backends (and error, if any)."""
        for family in BACKEND_FAMILIES:  # collect, so each plugin knows what it declared
            try:
                self.backends(family)
            except PluginError as exc:  # two plugins declare one name: show, don't fail
                self._warn(str(exc))
        return [attrs.asdict(info, filter=lambda field, value: field.name != "error" or value)
                for info in sorted(self.infos.values(), key=lambda i: i.name)]

    # -- backends --------------------------------------------------------------------

    def backends(self, family: str) -> dict[str, Any]:
        """The declarations of one family (``state``, ``oci_runtime``, ``network``,
        ``firewall``) by name, each stamped with its plugin and distribution."""
        if self._backends is None:
            self._backends = {}
        if family not in self._backends:
            self._backends[family] = self._collect(family)
        return self._backends[family]

    def _collect(self, family: str) -> dict[str, Any]:
        hook_name = BACKEND_FAMILIES[family][1]
        found: dict[str, Any] = {}
        # Each plugin's list comes back stamped by its guard (see _guarded).
        for declared in getattr(self.pm.hook, hook_name)():
            for decl in declared:
                if decl.name in found:
                    other = found[decl.name]
                    raise PluginError(
                        f"{family} backend {decl.name!r} is declared twice: by "
                        f"{_who(other)} and by {_who(decl)} (--no-plugin "
                        f"{decl.plugin} skips one)"
                    )
                found[decl.name] = decl
                self.infos[decl.plugin].backends.setdefault(family, []).append(decl.name)
        return found

    def backend(self, family: str, name: str) -> Any:
        """The declaration named ``name``; BackendNotFoundError listing the installed ones,
        or naming the failed plugin that may have provided it."""
        found = self.backends(family)
        if name in found:
            decl = found[name]
            if contract_major(decl.contract) != contract_major(CONTRACT_VERSION):
                raise PluginError(
                    f"{family.replace('_', ' ')} backend {name!r} of {_who(decl)} was "
                    f"written for plugin contract {decl.contract}; this pypod implements "
                    f"{CONTRACT_VERSION}: upgrade the plugin or pypod"
                )
            return decl
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
        where = f" ({key})" if key else ""  # image transports: chosen by prefix, no key
        raise BackendNotFoundError(
            f"unknown {family.replace('_', ' ')} backend {name!r}{where}; "
            f"installed: {installed}{hint}"
        )

    def transport_for(self, reference: str) -> tuple[Any, str]:
        """The image transport declaration a reference's prefix names and the rest of
        the reference: ``oci:DIR`` -> (the ``oci`` transport, ``DIR``); ``docker://X``
        and a reference with no known prefix -> (``docker``, ``X``)."""
        # lazy: only image commands (the image contract, ~15 ms with the registries)
        from pypod_core.plugin.image_transport import split_transport

        name, rest = split_transport(reference, self.backends("image_transport"))
        return self.backend("image_transport", name), rest

    def build(self, family: str, name: str, runtime: Any) -> Any:
        """Build the backend ``name`` of ``family`` with its factory; an exception from the
        factory names the plugin and distribution that declared the backend."""
        decl = self.backend(family, name)
        try:
            backend = decl.factory(runtime)
        except PypodError:
            raise
        except Exception as exc:
            raise HookError(
                f"plugin {decl.plugin!r}{_from(decl.distribution)} failed to build "
                f"{family.replace('_', ' ')} backend {name!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if backend is None:
            raise HookError(f"plugin {decl.plugin!r}{_from(decl.distribution)}: the factory "
                            f"of {family.replace('_', ' ')} backend {name!r} returned None")
        return backend

    # -- calling hooks ---------------------------------------------------------------
    #
    # Every hook is called through pluggy (``manager.hook.pypod_<name>(...)``), so that
    # wrappers, tryfirst/trylast and pluggy's tracing work as pluggy documents.  What
    # pypod adds is done per hookimpl, by a guard around each plain implementation at
    # registration: it names the plugin in any exception, records which plugin served
    # a stage, stamps declarations, and turns a failing event into a warning.

    def served_by(self, hook: str) -> str:
        """The plugin whose implementation gave the last call of ``hook`` its result."""
        return self._served.get(hook, "")

    def _register(self, plugin: object, name: str) -> None:
        """Register ``plugin`` with pluggy, its plain hookimpls guarded."""
        self.pm.register(_GuardedPlugin(plugin, name, self._guarded), name=name)

    def _guarded(self, plugin: str, hook: str, function: Callable[..., Any]) -> Callable:
        """``function`` (a plain hookimpl of ``plugin``) as pluggy will call it."""
        if hook in _DECLARATION_HOOKS:
            def declare(*args: Any) -> list[Any]:
                info = self.infos.get(plugin) or PluginInfo(plugin)
                return [decl.stamped(plugin, info.distribution, info.version)
                        for decl in _call_named(plugin, hook, lambda: list(function(*args)))]
            return functools.wraps(function)(declare)
        if hook in _STAGE_HOOKS:
            def stage(*args: Any) -> Any:
                result = _call_named(plugin, hook, lambda: function(*args))
                if result is not None:
                    self._served[hook] = plugin
                return result
            return functools.wraps(function)(stage)

        def event(*args: Any) -> Any:
            # Events are notifications: the operation they report has happened, so a
            # failing listener is a warning (fatal only when plugins are strict).
            try:
                return _call_named(plugin, hook, lambda: function(*args))
            except PypodError as exc:
                if self.strict:
                    raise
                self._warn(f"{exc}; ignored (PYPOD_STRICT_PLUGINS=1 makes it fatal)")
                return None
        return functools.wraps(function)(event)


class _GuardedPlugin:
    """What pluggy registers for one plugin: its hookimpls, the plain ones guarded.

    Wrappers (``wrapper=True``, ``hookwrapper=True``) are registered as they are: they
    see the guarded implementations' results and exceptions, as pluggy promises."""

    def __init__(self, plugin: object, name: str,
                 guard: Callable[[str, str, Callable[..., Any]], Callable[..., Any]]):
        self.__name__ = getattr(plugin, "__name__", name)
        self.plugin = plugin
        self._hooks: list[str] = []
        for attr in dir(plugin):
            if not attr.startswith(hookspecs.PROJECT + "_"):
                continue
            function = getattr(plugin, attr, None)
            opts = getattr(function, _IMPL_MARK, None)
            if opts is None or not callable(function):
                continue
            if not (opts.get("wrapper") or opts.get("hookwrapper")):
                function = guard(name, attr, function)
            setattr(self, attr, function)
            self._hooks.append(attr)

    def __dir__(self) -> list[str]:
        # pluggy looks at every name dir() gives, statically (~30 us each): only hooks.
        return self._hooks

    def __repr__(self) -> str:
        return f"<plugin {self.__name__}>"


def _call_named(plugin: str, hook: str, call: Callable[[], Any]) -> Any:
    """``call()``, an exception from it turned into a HookError naming plugin and hook."""
    try:
        return call()
    except PypodError:
        raise
    except Exception as exc:
        raise HookError(
            f"plugin {plugin!r} failed in hook {hook}: {type(exc).__name__}: {exc}"
        ) from exc


#: The attribute HookimplMarker puts on a hookimpl (pluggy's "<project>_impl").
_IMPL_MARK = hookspecs.PROJECT + "_impl"
_DECLARATION_HOOKS = frozenset(hook for _, hook in BACKEND_FAMILIES.values())
_STAGE_HOOKS = frozenset(
    name for name in dir(hookspecs)
    if name.startswith("pypod_")
    and (getattr(getattr(hookspecs, name), hookspecs.PROJECT + "_spec", None) or {})
    .get("firstresult")
)


def _from(dist: str) -> str:
    return f" (distribution {dist!r})" if dist else ""


def _who(decl: Any) -> str:
    dist = f"distribution {decl.distribution!r}" if decl.distribution else "no distribution"
    return f"plugin {decl.plugin!r} ({dist})"
