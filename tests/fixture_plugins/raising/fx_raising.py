"""A plugin whose stage hook raises."""

from pypod_core.plugin import hookimpl


@hookimpl
def pypod_prepare_tmp_dir(runtime):
    raise RuntimeError("disk on fire")
