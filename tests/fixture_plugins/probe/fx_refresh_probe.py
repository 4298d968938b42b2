"""Loaded with PYPOD_PLUGINS: appends a line to $PROBE_FILE when a runtime refreshed."""

import os

from pypod_core.plugin import hookimpl


@hookimpl
def pypod_runtime_ready(runtime):
    if runtime.refreshed_after_reboot:
        with open(os.environ["PROBE_FILE"], "a") as f:
            f.write(f"{os.getpid()}\n")
