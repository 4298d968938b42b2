"""The package's layers, checked over every import (module level, inside functions and
under TYPE_CHECKING alike): each layer imports only from the layers below it, and a
plugin distribution imports only the public contract, the vocabulary and the host
helpers.

    vocabulary (errors, model, serialize, config) <- host <- plugin (the contract)
        <- engine <- cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "pypod_core"
VOCABULARY = {"errors", "model", "model_volume", "model_image", "model_pod", "serialize", "config",
              "config_values", "containers_conf"}
RANK = {"vocabulary": 0, "host": 1, "plugin": 2, "engine": 3, "testing": 4, "cli": 5}
#: What a plugin distribution's own code may import from pypod_core.
PLUGIN_MAY_IMPORT = ("pypod_core", "pypod_core.plugin", "pypod_core.host",
                     *(f"pypod_core.{m}" for m in VOCABULARY))


def layer_of(module: str) -> str | None:
    """The layer of a pypod_core module (None for the package's face)."""
    parts = module.split(".")
    if parts[0] != "pypod_core" or len(parts) == 1:
        return None
    if parts[1] in VOCABULARY:
        return "vocabulary"
    if parts[1] in ("__main__",):
        return "cli"
    return parts[1] if parts[1] in RANK else "unknown"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every pypod_core module ``path`` imports, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from pypod_core.engine import bundle` imports pypod_core.engine.bundle
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if (CORE.parent / f"{node.module}.{a.name}".replace(".", "/"))
                      .with_suffix(".py").exists()]
    return [(line, name) for line, name in found if name.split(".")[0] == "pypod_core"]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(CORE.parent).with_suffix("").parts).removesuffix(
        ".__init__")


CORE_MODULES = sorted(CORE.rglob("*.py"))


def test_every_core_module_has_a_known_layer():
    unknown = [module_name(p) for p in CORE_MODULES
               if layer_of(module_name(p)) == "unknown"]
    assert unknown == []


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: module_name(p))
def test_core_modules_import_only_downwards(path: Path):
    here = layer_of(module_name(path))
    if here is None:  # the package's face re-exports from above, lazily
        return
    upward = [f"{path.relative_to(REPO)}:{line} imports {name} ({layer_of(name)})"
              for line, name in imports_of(path)
              if (there := layer_of(name)) is not None and there != "unknown"
              and RANK[there] > RANK[here]]
    assert upward == []


PLUGIN_FILES = sorted(p for pattern in ("plugins/*/pypod_*/**/*.py", "examples/*/pypod_*/**/*.py")
                      for p in REPO.glob(pattern) if "/build/" not in str(p))


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_only_the_public_contract(path: Path):
    outside = [f"{path.relative_to(REPO)}:{line} imports {name}"
               for line, name in imports_of(path)
               if not any(name == allowed or name.startswith(allowed + ".")
                          for allowed in PLUGIN_MAY_IMPORT[1:]) and name != "pypod_core"]
    assert outside == []


def test_the_contract_lists_what_it_exports():
    import pypod_core.plugin as contract

    for name in contract.__all__:
        assert getattr(contract, name) is not None, name
