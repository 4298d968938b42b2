"""Entry-point discovery without importlib.metadata: it must find what importlib.metadata
finds, in the same order of precedence, and load what the values name."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pypod_core.plugin import entrypoints


def _dist(root: Path, dirname: str, name: str, version: str, eps: str) -> None:
    meta = root / dirname
    meta.mkdir(parents=True)
    header = "PKG-INFO" if dirname.endswith(".egg-info") else "METADATA"
    (meta / header).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n"
                               "Name: not-a-header\n")
    (meta / "entry_points.txt").write_text(textwrap.dedent(eps))


@pytest.mark.parametrize("group", ["pypod", "console_scripts", "pytest11"])
def test_finds_what_importlib_metadata_finds(group: str) -> None:
    theirs = sorted((ep.name, ep.value, ep.dist.name, ep.dist.version)
                    for ep in importlib.metadata.entry_points(group=group) if ep.dist)
    ours = sorted(tuple(ep) for ep in entrypoints.entry_points(group))
    assert ours == theirs and ours


def test_versions_match_importlib_metadata() -> None:
    for dist in ("pypod", "pluggy", "attrs", "pypod-state-sqlite"):
        assert entrypoints.version(dist) == importlib.metadata.version(dist)
    assert entrypoints.version("no-such-distribution") == ""


def test_reads_sections_precedence_and_loads(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Fx_Probe-1.0.dist-info", "fx-probe", "1.0", """
        # a comment
        [pypod]
        probe = os.path:join
        deep = os:path.sep [extra]

        [other]
        ignored = os
    """)
    # The same distribution again, later on the path: shadowed, as importlib does.
    _dist(second, "fx.probe-2.0.dist-info", "fx-probe", "2.0", "[pypod]\nshadow = os\n")
    _dist(second, "fx_egg.egg-info", "fx-egg", "3.0", "[pypod]\negg = os\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(first), str(second)])

    found = {ep.name: ep for ep in entrypoints.entry_points("pypod")}
    assert sorted(found) == ["deep", "egg", "probe"]
    assert found["probe"].dist == "fx-probe" and found["probe"].version == "1.0"
    assert found["egg"].version == "3.0"
    import os

    assert found["probe"].load() is os.path.join
    assert found["deep"].load() == os.path.sep
    assert found["egg"].load() is os
    assert entrypoints.version("FX_probe") == "1.0"


def test_pypod_process_does_not_import_importlib_metadata() -> None:
    code = ("import sys; from pypod_core.plugin.manager import PluginManager;"
            "PluginManager().load(); print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
