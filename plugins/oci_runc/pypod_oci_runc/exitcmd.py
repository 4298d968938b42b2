"""The command conmon runs when a container exits: ``pypod ... container cleanup ID``.

The cleanup process must build the same runtime as the process that created the
container, whatever built it (the command line, or Python with options no flag can
express).  So the effective configuration is written once to the per-boot tmp dir and
handed over with ``--config``, along with the flags of the main store and backends.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from pypod_core.host.private import write_private

if TYPE_CHECKING:
    from pypod_core.plugin import RuntimeView as Runtime

#: The effective configuration handed to the exit command, under ``tmp_dir``.
CONFIG_NAME = "exit-command.conf"


def pypod_command() -> list[str]:
    """How to start ``pypod`` by absolute path (conmon execs it without a PATH search):
    the script beside this interpreter, else one on PATH, else ``python -m``."""
    beside = os.path.join(os.path.dirname(sys.executable), "pypod")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("pypod")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "pypod_core.cli.main"]


def write_effective_config(runtime: Runtime) -> str:
    """Write the runtime's effective configuration under ``tmp_dir`` (only if it
    changed, atomically); return the file's path."""
    path = os.path.join(runtime.config.tmp_dir, CONFIG_NAME)
    text = runtime.config.to_toml()
    try:
        with open(path) as f:
            if f.read() == text:
                return path
    except OSError:
        pass
    tmp = f"{path}.{os.getpid()}"
    write_private(tmp, text)
    os.replace(tmp, path)
    return path


def exit_command_prefix(runtime: Runtime, oci_name: str) -> list[str]:
    """``pypod`` and the global flags that rebuild ``runtime`` in another process."""
    config = runtime.config
    argv = pypod_command() + [
        "--config", write_effective_config(runtime),
        "--root", config.graph_root, "--runroot", config.run_root,
        "--state-type", config.state_type, "--runtime", oci_name,
    ]
    for name in sorted(getattr(runtime.plugins, "blocked", ())):
        argv += ["--no-plugin", name]
    return argv
