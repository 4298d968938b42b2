"""Entry points of group ``pypod``, found without importing ``importlib.metadata``.

``importlib.metadata`` (with the email, zipfile, csv and pathlib modules it imports) costs
every ``pypod`` process ~11 ms before it reads a single file; this reads the same files
itself.  It follows ``importlib.metadata``'s rules for what it supports: the
``*.dist-info`` and ``*.egg-info`` directories of each directory on ``sys.path``, in
order, the first distribution of a (normalised) name winning.  Distributions inside zip
files on ``sys.path`` are not seen.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple


class EntryPoint(NamedTuple):
    """One entry point: its name, its ``module[:attr]`` value and its distribution."""

    name: str
    value: str
    dist: str
    version: str

    def load(self) -> Any:
        """Import the module and return the object the value names (extras, a trailing
        ``[name]``, are ignored, as importlib.metadata does)."""
        module, _, attr = self.value.partition("[")[0].partition(":")
        obj = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


class _Dist(NamedTuple):
    key: str  # the normalised name
    path: str  # the metadata directory


def normalise(name: str) -> str:
    """A distribution name as importlib.metadata compares them: ``Pypod-State_X`` ->
    ``pypod_state_x``."""
    out = name.lower()
    for sep in ("-", "."):
        out = out.replace(sep, "_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def _distributions() -> Iterator[_Dist]:
    """Each distribution on ``sys.path``, the first of a name only."""
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # missing, a file, a zip: nothing we read
            continue
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if not dot or kind not in ("dist-info", "egg-info"):
                continue
            key = normalise(stem.partition("-")[0])
            if key not in seen:
                seen.add(key)
                yield _Dist(key, os.path.join(entry or ".", name))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""


def _section(text: str, group: str) -> Iterator[tuple[str, str]]:
    """The ``name = value`` lines of ``[group]`` in an entry_points.txt."""
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == f"[{group}]"
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()


def metadata(path: str) -> tuple[str, str]:
    """(Name, Version) from a metadata directory's METADATA or PKG-INFO headers."""
    found = {"name": "", "version": ""}
    for file in ("METADATA", "PKG-INFO"):
        for line in _read(os.path.join(path, file)).splitlines():
            if not line:  # the headers end at the first blank line
                break
            key, _, value = line.partition(":")
            if key.lower() in found and not found[key.lower()]:
                found[key.lower()] = value.strip()
        if found["name"]:
            break
    return found["name"], found["version"]


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, sorted by name."""
    found = []
    for dist in _distributions():
        lines = list(_section(_read(os.path.join(dist.path, "entry_points.txt")), group))
        if lines:
            name, version = metadata(dist.path)
            found += [EntryPoint(ep, value, name, version) for ep, value in lines]
    return sorted(found, key=lambda ep: ep.name)


def version(distribution: str) -> str:
    """The installed version of ``distribution``, or "" if it is not installed."""
    key = normalise(distribution)
    for dist in _distributions():
        if dist.key == key:
            return metadata(dist.path)[1]
    return ""
