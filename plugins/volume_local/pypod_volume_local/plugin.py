"""Declares the ``local`` volume driver: volumes under ``volume_path``."""

from __future__ import annotations

from pypod_core.plugin import VolumeDriverBackend, hookimpl


def _make_local(runtime):
    from pypod_volume_local.local import LocalDriver  # lazy: only when the backend is built

    return LocalDriver(runtime.config.volume_path)


@hookimpl
def pypod_volume_drivers():
    """``local``: ``<volume_path>/<name>/_data``, mounted with mount(8) when asked."""
    yield VolumeDriverBackend(name="local", factory=_make_local,
                              description="directories under volume_path; -o type=, "
                                          "device=, o= mount them (tmpfs, bind, devices)")
