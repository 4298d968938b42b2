"""Waiting for a container to reach a state, as podman's ``wait --condition``: the
exit (``stopped``, ``exited``: its exit code) or any other state (``running``,
``paused``...: -1 once it is in it), looked at every ``interval`` seconds."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pypod_core.errors import InvalidArgError
from pypod_core.model import ContainerStatus

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: The conditions podman 4.3's ``wait --condition`` takes.
CONDITIONS = ("configured", "created", "exited", "paused", "removing", "running",
              "stopped", "unknown")
#: The states in which a container has not exited yet.
_RUNNING = frozenset({ContainerStatus.RUNNING, ContainerStatus.PAUSED,
                      ContainerStatus.STOPPING})
#: podman's default ``--interval``.
DEFAULT_INTERVAL = 0.25


def parse_conditions(items: Iterable[str]) -> tuple[str, ...]:
    """``--condition`` values (each may be comma-separated; none: ``stopped``); an
    unknown one is podman's error."""
    conditions = tuple(c for item in items for c in item.split(",") if c)
    for condition in conditions:
        if condition not in CONDITIONS:
            raise InvalidArgError(f"unknown container state: {condition}: invalid argument")
    return conditions or ("stopped",)


def wait_for(ctr: Container, conditions: Iterable[str] = ("stopped",),
             interval: float = DEFAULT_INTERVAL) -> int:
    """Block until ``ctr`` meets one of ``conditions``; its exit code for an exit
    (``stopped``/``exited``), -1 for a state reached."""
    wanted = parse_conditions(conditions)
    if interval <= 0:
        raise InvalidArgError(f"interval {interval}: must be positive")
    exit_wanted = bool({"stopped", "exited"} & set(wanted))
    states = {ContainerStatus(c) for c in wanted
              if c not in ("stopped", "exited", "unknown")}
    if ContainerStatus.CREATED in states:  # a configured one is "created" to users
        states.add(ContainerStatus.CONFIGURED)
    if not states:
        return ctr.wait()
    while True:
        state = ctr.sync().state.state
        if state in states:
            return -1
        if exit_wanted and state not in _RUNNING:
            return ctr.state.exit_code
        time.sleep(interval)
