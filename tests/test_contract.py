"""Meta-tests that keep the plugin contract honest (datasette's way): every hook is
documented in the plugin guide with its exact signature, has an example in its spec, and
has a test named after it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import pypod_core
from conftest import REPO
from pypod_core.plugin import hookspecs

HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("pypod_"))
GUIDE = (REPO / "docs" / "plugin-guide.md").read_text()


def _signature(name: str) -> str:
    return f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


def _test_names() -> set[str]:
    names = set()
    paths = [*Path(REPO / "tests").rglob("test_*.py"),
             *Path(REPO / "plugins").glob("*/tests/test_*.py")]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_there_are_hooks_of_every_kind():
    assert {"pypod_state_backends", "pypod_make_state", "pypod_runtime_ready",
            "pypod_container_exited"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_plugin_guide_with_its_signature(hook):
    assert f"### `{_signature(hook)}`" in GUIDE


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_spec_has_a_docstring_with_an_example(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Example::" in doc and "@hookimpl" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_named_after_it(hook):
    assert any(hook in name for name in _test_names()), f"no test named after {hook}"


def test_stage_hooks_are_firstresult_and_the_rest_are_not():
    from pypod_core.engine.pipeline import STAGES

    stage_hooks = {f"pypod_{stage}" for stage, _ in STAGES}
    assert stage_hooks <= set(HOOKS)
    for hook in HOOKS:
        opts = getattr(hookspecs, hook).pypod_spec
        assert bool(opts.get("firstresult")) == (hook in stage_hooks), hook


def test_declaration_types_are_exported_and_frozen():
    import attrs

    for name in ("StateBackend", "OCIRuntimeBackend", "NetworkBackend", "FirewallBackend",
                 "ImageTransportBackend", "GraphDriverBackend", "VolumeDriverBackend",
                 "SecretDriverBackend"):
        cls = getattr(pypod_core, name)
        decl = cls(name="x", factory=lambda runtime: None, description="d")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            decl.name = "y"
        assert name in pypod_core.__all__


def test_importing_pypod_core_for_a_plugin_stays_light():
    """A plugin imports pypod_core for hookimpl and declarations: that must not pull in
    the runtime, the config or the CLI."""
    import subprocess
    import sys

    code = ("import sys, pypod_core; from pypod_core import hookimpl, StateBackend;"
            "print(sorted(m for m in sys.modules if m.startswith('pypod_core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = ast.literal_eval(out)
    assert "pypod_core.engine.runtime" not in loaded and "pypod_core.config" not in loaded
