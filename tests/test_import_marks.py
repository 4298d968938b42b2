"""Every import inside a function says why it is there (docs/performance.md, "Imports
done inside a function"): ``# lazy: why (~N ms)`` or ``# cycle: why``, on the import's
own lines or in the comment right above it (one comment may head a run of imports)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO

MARK = re.compile(r"#\s*(lazy|cycle):\s*\S")
_IMPORT = (ast.Import, ast.ImportFrom)


def _marked(lines: list[str], body: list[ast.stmt], index: int) -> bool:
    """Whether ``body[index]`` (an import) carries a mark or follows a marked comment."""
    node = body[index]
    end = node.end_lineno or node.lineno
    if any(MARK.search(line) for line in lines[node.lineno - 1:end]):
        return True
    first = node
    # Back over the imports right before it: the comment heads the whole run.
    while (index > 0 and isinstance(body[index - 1], _IMPORT)
           and body[index - 1].end_lineno == first.lineno - 1):
        index -= 1
        first = body[index]
    row = first.lineno - 2
    while row >= 0 and lines[row].strip().startswith("#"):
        if MARK.search(lines[row]):
            return True
        row -= 1
    return False


def unmarked_imports(source: str) -> Iterator[int]:
    """The line of each import inside a function of ``source`` that has no mark."""
    lines = source.splitlines()
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for holder in ast.walk(func):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(holder, field, None)
                if not isinstance(body, list):
                    continue
                for index, node in enumerate(body):
                    if isinstance(node, _IMPORT) and not _marked(lines, body, index):
                        yield node.lineno


def project_sources() -> list[Path]:
    """pypod_core's modules and every bundled plugin's."""
    plugins = [p for p in (REPO / "plugins").glob("*/pypod_*")
               if p.is_dir() and not p.name.endswith(".egg-info")]
    files = sorted((REPO / "pypod_core").rglob("*.py"))
    for package in plugins:
        files += sorted(package.rglob("*.py"))
    return files


def test_every_import_in_a_function_is_marked():
    missing = [f"{path.relative_to(REPO)}:{line}" for path in project_sources()
               for line in set(unmarked_imports(path.read_text()))]
    assert len(project_sources()) > 100  # the scan sees the whole tree
    assert sorted(missing) == []


def test_the_scan_tells_a_marked_import_from_a_bare_one():
    source = '''
def f():
    import json  # lazy: only f (~1.7 ms)
    # lazy: only f (both ~2 ms)
    import gzip
    import bz2

    import lzma
    try:
        from compression import zstd  # cycle: zstd imports this module
    except ImportError:
        from backports import zstd
    # lazy
    import shutil
'''
    assert sorted(unmarked_imports(source)) == [8, 12, 14]
