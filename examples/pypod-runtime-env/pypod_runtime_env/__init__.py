"""Replace one stage: find the OCI runtime binary through an environment variable.

When ``PYPOD_RUNTIME_BINARY`` is unset this plugin returns None, and pluggy moves on to
the next implementation of the stage: pypod's default search of ``runtime_path``.
"""

from __future__ import annotations

import os

from pypod_core.errors import OCIRuntimeError
from pypod_core.plugin import hookimpl


@hookimpl
def pypod_find_runtime_path(runtime):
    """Use ``$PYPOD_RUNTIME_BINARY`` if it is set; it must be an executable file."""
    path = os.environ.get("PYPOD_RUNTIME_BINARY")
    if not path:
        return None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise OCIRuntimeError(f"PYPOD_RUNTIME_BINARY={path} is not an executable file")
    return path
