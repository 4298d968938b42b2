"""OCI hooks from ``hooks_dir``: the hook files podman and CRI-O read (oci-hooks(5),
version 1.0.0), added to a container's spec when their ``when`` conditions match.

A hook file is a JSON object::

    {"version": "1.0.0",
     "hook": {"path": "/usr/bin/my-hook", "args": ["my-hook", "x"], "env": ["A=1"],
              "timeout": 5},
     "when": {"always": true, "annotations": {"^key$": "value"},
              "commands": ["/bin/sh$"], "hasBindMounts": true},
     "stages": ["prestart", "poststop"]}

The directories are read in order; a file overrides a file of the same name in an
earlier directory; files not ending in ``.json`` are skipped, a missing directory is
skipped.  Matching hooks are added in the order of their file names (case-insensitive).
As containers/common's pkg/hooks:

- ``always: false`` fails the match, ``always: true`` counts as a match;
- ``hasBindMounts: true`` matches a container with ``-v`` bind mounts;
- each ``annotations`` pair (key regexp: value regexp) must match one annotation (a
  label, or ``io.pypod.container.name``);
- if ``commands`` is given, it alone decides: a regexp that finds the command (the
  spec's ``process.args[0]``) matches, none fails;
- otherwise the hook matches if at least one condition matched and none failed.

Stages: ``prestart`` (added as ``createRuntime``, as podman), ``createRuntime``,
``createContainer``, ``startContainer``, ``poststart`` and ``poststop``; the OCI runtime
runs them (``poststop`` when pypod deletes the container from the runtime, after it
exited).  A malformed file is a one-line ConfigError naming it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from pypod_core.errors import ConfigError
from pypod_core.host import filecache

VERSION = "1.0.0"
#: Hook file stage -> the OCI spec's ``hooks`` key.
STAGES = {"prestart": "createRuntime", "createRuntime": "createRuntime",
          "createContainer": "createContainer", "startContainer": "startContainer",
          "poststart": "poststart", "poststop": "poststop"}
_TOP_KEYS = frozenset({"version", "hook", "when", "stages"})
_HOOK_KEYS = frozenset({"path", "args", "env", "timeout"})
_WHEN_KEYS = frozenset({"always", "annotations", "commands", "hasBindMounts"})


class Hook(NamedTuple):
    """One hook file, checked: its name, the OCI hook, its conditions, its stages."""

    name: str
    hook: dict[str, Any]
    when: dict[str, Any]
    stages: tuple[str, ...]

    def matches(self, command: str, annotations: Mapping[str, str],
                has_bind_mounts: bool) -> bool:
        """Whether the hook applies to a container (see the module's rules)."""
        when = self.when
        matched = 0
        for key in ("always", "hasBindMounts"):
            if key in when:
                holds = when[key] if key == "always" else when[key] and has_bind_mounts
                if not holds:
                    return False
                matched += 1
        for key_re, value_re in when.get("annotations", {}).items():
            if not any(re.search(key_re, k) and re.search(value_re, v)
                       for k, v in annotations.items()):
                return False
            matched += 1
        if when.get("commands"):
            return any(re.search(pattern, command) for pattern in when["commands"])
        return matched > 0


def read_dirs(dirs: Iterable[str]) -> list[Hook]:
    """The hooks of every directory, later directories overriding earlier ones' files
    of the same name, sorted by file name (case-insensitive)."""
    found: dict[str, Hook] = {}
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"hooks_dir {directory}: {exc.strerror}") from None
        for name in names:
            if not name.endswith(".json"):
                continue
            path = os.path.join(directory, name)
            hook = read_file(path)
            if hook is not None:
                found[name] = hook
    return sorted(found.values(), key=lambda h: h.name.lower())


def read_file(path: str) -> Hook | None:
    """One hook file, checked (once per process while it is unchanged: create checks
    the files, start reads them); None for a dangling link (as podman skips it)."""
    try:
        return filecache.parsed(path, _read_hook)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"hook file {path}: {exc.strerror}") from None


def _read_hook(path: str) -> Hook:
    with open(path, "rb") as f:
        try:
            data = json.load(f)
        except ValueError as exc:
            raise ConfigError(f"hook file {path}: invalid JSON: {exc}") from None
    try:
        return _check(os.path.basename(path), data)
    except (ValueError, TypeError, re.error) as exc:
        raise ConfigError(f"hook file {path}: {exc}") from None


def _check(name: str, data: Any) -> Hook:
    _object(data, "the file", _TOP_KEYS)
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r} is not supported (expected "
                         f"{VERSION!r})")
    hook = _object(data.get("hook"), "'hook'", _HOOK_KEYS)
    path = hook.get("path")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError("'hook.path' must be an absolute path")
    if not os.path.exists(path):
        raise ValueError(f"hook.path {path}: no such file")
    for key in ("args", "env"):
        if key in hook:
            _strings(hook[key], f"hook.{key}")
    if "timeout" in hook and (type(hook["timeout"]) is not int or hook["timeout"] < 1):
        raise ValueError("'hook.timeout' must be a positive integer (seconds)")
    when = _object(data.get("when", {}), "'when'", _WHEN_KEYS)
    for key in ("always", "hasBindMounts"):
        if key in when and type(when[key]) is not bool:
            raise ValueError(f"'when.{key}' must be true or false")
    annotations = _object(when.get("annotations", {}), "'when.annotations'", None)
    for key, value in annotations.items():
        re.compile(key)
        re.compile(_strings([value], "when.annotations values")[0])
    for pattern in _strings(when.get("commands", []), "when.commands"):
        re.compile(pattern)
    stages = _strings(data.get("stages"), "stages")
    if not stages:
        raise ValueError("'stages' must name at least one stage")
    for stage in stages:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    return Hook(name=name, hook=dict(hook), when=dict(when), stages=tuple(stages))


def _object(value: Any, what: str, keys: frozenset[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    unknown = sorted(set(value) - keys) if keys is not None else []
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {what}")
    return value


def _strings(value: Any, what: str) -> Sequence[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{what}' must be an array of strings")
    return value


def add_to_spec(spec: dict[str, Any], hooks: Iterable[Hook], has_bind_mounts: bool) -> None:
    """Add the hooks that match the container of ``spec`` to its ``hooks``."""
    args = spec.get("process", {}).get("args") or [""]
    annotations = spec.get("annotations", {})
    for hook in hooks:
        if not hook.matches(args[0], annotations, has_bind_mounts):
            continue
        table = spec.setdefault("hooks", {})
        for stage in hook.stages:
            table.setdefault(STAGES[stage], []).append(hook.hook)
