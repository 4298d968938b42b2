"""A plugin with a misspelt hook name."""

from pypod_core.plugin import hookimpl


@hookimpl
def pypod_make_stat(runtime):
    return None
