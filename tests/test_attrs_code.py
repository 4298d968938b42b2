"""attrs' generated methods kept between processes (pypod_core.host.attrs_code): a
second process compiles none of pypod's classes, the classes it gets behave as compiled
ones (equality, hashing with this process's salt, repr, defaults), and a changed class
is compiled afresh, never given stale code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

_PROBE = """
import sys
import attr._make as make
from pypod_core.host import attrs_code
attrs_code._dir = ""                       # install again, on the test's own directory
attrs_code.cache_dir = lambda: sys.argv[1]
attrs_code._cache.clear()
attrs_code._loaded.clear()
attrs_code._new.clear()                    # what pypod_core compiled on import
attrs_code.install()
import attrs
name = sys.argv[2]
ns = {"__annotations__": {"a": "int", name: "str"}, "a": attrs.field(default=1),
      name: attrs.field(default="x")}
C = attrs.frozen(type("Probe", (), ns))
one, two = C(), C(**{name: "y"})
assert one == C() and one != two and hash(one) != hash(two)
print(repr(one), hash(one) == hash(C()), len(attrs_code._new))
"""


def probe(cache: Path, name: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = "random"
    out = subprocess.run([sys.executable, "-c", _PROBE, str(cache), name],
                         capture_output=True, text=True, cwd=REPO, env=env, check=True)
    return out.stdout.split()


def test_a_second_process_compiles_nothing_and_gets_working_classes(tmp_path: Path):
    cache = tmp_path / "methods"
    assert probe(cache, "b") == ["Probe(a=1,", "b='x')", "True", "1"]
    assert [p.name for p in cache.iterdir()] == ["__main__.Probe.marshal"]  # one per class
    # Another process (another string hash salt): nothing compiled, the same behaviour.
    assert probe(cache, "b") == ["Probe(a=1,", "b='x')", "True", "0"]
    # A changed class is new source: compiled, not given the old code; its file then
    # keeps the new code alone.
    assert probe(cache, "c") == ["Probe(a=1,", "c='x')", "True", "1"]
    assert probe(cache, "c") == ["Probe(a=1,", "c='x')", "True", "0"]
    assert probe(cache, "b") == ["Probe(a=1,", "b='x')", "True", "1"]


def test_pypod_classes_come_from_the_file_in_a_second_process(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = ("import pypod_core.engine.runtime, pypod_core.model as m; "
            "from pypod_core.host import attrs_code as a; "
            "s = m.ContainerState(); print(len(a._new), s == m.ContainerState())")
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=REPO, env=env, check=True).stdout.split()
    assert out == ["0", "True"]
