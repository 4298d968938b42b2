"""A third-party plugin that replaces one stage: the storage lives in a directory of its own."""

import os

from pypod_core.engine.storage import DirStorage
from pypod_core.plugin import hookimpl


@hookimpl
def pypod_make_storage(runtime):
    root = os.path.join(runtime.config.graph_root, "elsewhere")
    return DirStorage(root)
