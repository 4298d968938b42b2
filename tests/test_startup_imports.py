"""The commonest commands import only what they use (docs/performance.md): ``ps -a``,
``stop`` of an exited container and ``create --rootfs`` make no image record class and
import neither shutil (with bz2 and lzma), logging nor signal."""

from __future__ import annotations

import subprocess
import sys

from conftest import PYPOD, REPO

#: Modules the cheap commands must not import.
HEAVY = ("shutil", "bz2", "lzma", "logging", "signal", "pypod_core.model_image")

_CLI = """
import sys
from pypod_core.cli.main import main
sys.argv = ["pypod", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("imported:", *(m for m in {modules!r} if m in sys.modules), file=sys.stderr)
"""


def heavy_imports(*argv: str) -> set[str]:
    """Run the command line in a fresh interpreter; which :data:`HEAVY` it imported."""
    proc = subprocess.run([sys.executable, "-c", _CLI.format(modules=HEAVY), *argv],
                          capture_output=True, text=True, cwd=REPO)
    last = proc.stderr.strip().splitlines()[-1].split()
    assert proc.returncode == 0 and last[0] == "imported:", proc.stderr
    return set(last[1:])


def test_ps_stop_and_create_import_none_of_the_heavy_modules(cli_flags, rootfs):
    exited = subprocess.run([PYPOD, *cli_flags, "run", "--name", "done", "--network", "none",
                             "--rootfs", rootfs, "true"], capture_output=True, text=True)
    assert exited.returncode == 0, exited.stderr
    assert heavy_imports(*cli_flags, "ps", "-a") == set()
    assert heavy_imports(*cli_flags, "stop", "done") == set()
    assert heavy_imports(*cli_flags, "create", "--network", "none", "--rootfs", rootfs,
                         "true") == set()
    assert heavy_imports(*cli_flags, "ps", "--help") == set()
    # The check can fail: removing a container removes its directories with shutil, and
    # listing images makes the image records.
    assert "shutil" in heavy_imports(*cli_flags, "rm", "done")
    assert "pypod_core.model_image" in heavy_imports(*cli_flags, "images")
