"""A third-party plugin that replaces one stage: the storage lives in a directory of its own."""

import os

from pypod_core import hookimpl
from pypod_core.storage import DirStorage


@hookimpl
def pypod_make_storage(runtime):
    root = os.path.join(runtime.config.graph_root, "elsewhere")
    return DirStorage(root)
