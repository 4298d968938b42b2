"""Loaded with PYPOD_PLUGINS: holds a ``pypod`` process still at a chosen point of a
start, so that a test can SIGKILL it there.

``PAUSE_AT`` names the point: ``holder`` (the port holder was just forked, its pypod
process has not returned from reserving the ports), ``attached`` (the network is
attached: namespace, addresses, firewall rules, holder; nothing saved yet).  The first
process to get there creates ``PAUSE_FILE`` and sleeps; later ones (the test's own
``start``, conmon's exit command) find it and carry on.
"""

import functools
import os
import time

from pypod_core import hookimpl

_TARGETS = {"holder": ("pypod_core.host.portreserve", "_spawn_holder"),
            "attached": ("pypod_core.engine.networking", "_attach")}


def _pausing(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        result = func(*args, **kwargs)
        path = os.environ["PAUSE_FILE"]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return result
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(600)  # until the test kills this process
        return result
    return wrapper


@hookimpl
def pypod_runtime_ready(runtime):
    import importlib

    target = _TARGETS.get(os.environ.get("PAUSE_AT", ""))
    if target is not None:
        module = importlib.import_module(target[0])
        func = getattr(module, target[1])
        if not hasattr(func, "__wrapped__"):
            setattr(module, target[1], _pausing(func))
