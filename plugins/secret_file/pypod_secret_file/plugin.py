"""Declares the ``file`` secret driver: ``<graph_root>/secrets/filedriver``."""

from __future__ import annotations

import os

from pypod_core.plugin import SecretDriverBackend, hookimpl


def _make_file(runtime):
    from pypod_secret_file.filedriver import FileDriver  # lazy: only when the backend is built

    return FileDriver(os.path.join(runtime.config.graph_root, "secrets", "filedriver"))


@hookimpl
def pypod_secret_drivers():
    """``file``: every secret's data in ``secretsdata.json`` (0600, in a 0700 directory)."""
    yield SecretDriverBackend(name="file", factory=_make_file,
                              description="data unencrypted in a 0600 file under "
                                          "graph_root/secrets (--driver-opts path=DIR)")
