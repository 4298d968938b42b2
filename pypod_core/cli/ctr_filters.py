"""``--filter KEY=VALUE`` of ``ps``, ``start`` and ``stop``, as podman 4.3's container
filters.

Filters of different keys must all match; values of one key are alternatives, except
``label``, whose values must all match (podman's rule).  The keys:

============  ==========================================================================
``id``        the id matches the value (a regular expression, so a prefix matches)
``name``      the name matches the value (a regular expression)
``label``     the container has the label ``KEY`` (any value) or ``KEY=VALUE``
``status``    created, exited (stopped), paused, running, stopping, removing, unknown
``exited``    an exited container with this exit code
``ancestor``  made from this image: its name (``NAME`` for ``NAME:latest``) or id
``pod``       in this pod (its name or id, or an id prefix)
``network``   on this network (its name)
``since``     created after this container (its name or id)
``before``    created before this container
``volume``    uses this volume (its name) or mounts something at this path
``health``    healthy, unhealthy, starting: pypod runs no health checks, so none match
``restart-policy``  no (or none), always, on-failure, unless-stopped
============  ==========================================================================

A filter is parsed before the command does anything: a malformed one is an
InvalidArgError naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from pypod_core.errors import InvalidArgError, NoSuchPodError

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

Predicate = Callable[["Container"], bool]

#: podman's container status words a ``status`` filter takes.
STATUSES: Final = ("created", "exited", "paused", "running", "stopping", "stopped",
                   "removing", "unknown", "configured")
#: podman's health words.
HEALTH: Final = ("healthy", "unhealthy", "starting", "none")


def parse_filters(specs: Iterable[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` strings as {key: [values]}; InvalidArgError for a malformed one."""
    filters: dict[str, list[str]] = {}
    for spec in specs:
        key, eq, value = spec.partition("=")
        if not eq or not key:
            raise InvalidArgError(f"invalid filter {spec!r}: KEY=VALUE")
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


def container_filter(specs: Iterable[str], runtime: Any) -> Predicate:
    """One predicate for every ``--filter`` given (true for all when none)."""
    checks = [_check(key, values, runtime) for key, values in parse_filters(specs).items()]
    return lambda ctr: all(check(ctr) for check in checks)


def _regexes(key: str, values: list[str]) -> list[re.Pattern[str]]:
    try:
        return [re.compile(v) for v in values]
    except re.error as exc:
        raise InvalidArgError(f"invalid filter {key}={exc.pattern!r}: {exc}") from None


def _check(key: str, values: list[str], runtime: Any) -> Predicate:
    """The predicate of one key's values."""
    if key in _SIMPLE:
        return _SIMPLE[key](values)
    if key in ("since", "before"):
        return _created(key, values, runtime)
    if key == "pod":
        return _pods(values, runtime)
    raise InvalidArgError(f'"{key}" is an invalid filter (id, name, label, status, '
                          f'exited, ancestor, pod, network, since, before, volume, health, '
                          f'restart-policy)')


def _ids(values: list[str]) -> Predicate:
    patterns = _regexes("id", values)
    return lambda ctr: any(p.search(ctr.id) for p in patterns)


def _names(values: list[str]) -> Predicate:
    patterns = _regexes("name", values)
    return lambda ctr: any(p.search(ctr.name) for p in patterns)


def _labels(values: list[str]) -> Predicate:
    wanted = [v.partition("=") for v in values]

    def match(ctr: Container) -> bool:
        labels = ctr.config.labels
        return all(k in labels and (not eq or labels[k] == v) for k, eq, v in wanted)

    return match


def _statuses(values: list[str]) -> Predicate:
    for value in values:
        if value not in STATUSES:
            raise InvalidArgError(f'"{value}" is not a valid status: '
                                  f'{", ".join(STATUSES[:-1])}')
    # As podman's: a stopped container shows as exited, a configured one as created.
    wanted = {"exited" if v == "stopped" else "created" if v == "configured" else v
              for v in values}
    return lambda ctr: _status(ctr) in wanted


def _status(ctr: Container) -> str:
    state = ctr.state.state.value
    return {"configured": "created", "stopped": "exited"}.get(state, state)


def _exit_codes(values: list[str]) -> Predicate:
    try:
        codes = {int(v) for v in values}
    except ValueError:
        raise InvalidArgError(f"exited code out of range {values!r}: an integer") from None
    return lambda ctr: ctr.state.state.value == "exited" and ctr.state.exit_code in codes


def _ancestors(values: list[str]) -> Predicate:
    def match(ctr: Container) -> bool:
        image, image_id = ctr.config.image_name or "", ctr.config.image_id or ""
        bare, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] \
            else (image, "", "latest")
        return any(v in (image, image_id) or (image_id and len(v) >= 3
                                               and image_id.startswith(v))
                   or (v == bare and tag == "latest") for v in values)

    return match


def _networks(values: list[str]) -> Predicate:
    def match(ctr: Container) -> bool:
        on = set(ctr.config.networks)
        if ctr.config.network_mode == "bridge":
            on = set(ctr.config.network_list(ctr.runtime.config.cni_default_network))
        return bool(on.intersection(values))

    return match


def _volumes(values: list[str]) -> Predicate:
    def match(ctr: Container) -> bool:
        c = ctr.config
        used = {v.name for v in c.named_volumes} | {v.destination for v in c.named_volumes}
        used |= {m.destination for m in c.mounts} | {m.source for m in c.mounts}
        return any(v in used for v in values)

    return match


def _health(values: list[str]) -> Predicate:
    for value in values:
        if value not in HEALTH:
            raise InvalidArgError(f'"{value}" is not a valid health status: '
                                  f'{", ".join(HEALTH)}')
    # pypod runs no health checks: no container is healthy, unhealthy or starting.
    return lambda ctr: False


#: podman's restart policies ("none" is "no", as a container without one has).
RESTART_POLICIES: Final = ("no", "none", "always", "on-failure", "unless-stopped")


def _restart_policies(values: list[str]) -> Predicate:
    bad = [v for v in values if v not in RESTART_POLICIES]
    if bad:
        plural = "policies" if len(bad) > 1 else "policy"
        raise InvalidArgError(f"{', '.join(bad)} invalid restart {plural}")
    wanted = {"no" if v == "none" else v for v in values}

    def match(ctr: Container) -> bool:
        policy = getattr(ctr.config, "restart_policy", "") or "no"
        return policy.partition(":")[0] in wanted

    return match


_SIMPLE: Final[dict[str, Callable[[list[str]], Predicate]]] = {
    "id": _ids, "name": _names, "label": _labels, "status": _statuses,
    "exited": _exit_codes, "ancestor": _ancestors, "network": _networks,
    "volume": _volumes, "health": _health, "restart-policy": _restart_policies,
}


def _created(key: str, values: list[str], runtime: Any) -> Predicate:
    """``since``/``before``: created after (before) the earliest named container."""
    when = min(runtime.lookup_container(v).config.created for v in values)
    if key == "since":
        return lambda ctr: ctr.config.created > when
    return lambda ctr: ctr.config.created < when


def _pods(values: list[str], runtime: Any) -> Predicate:
    """``pod``: in one of these pods (a pod that does not exist matches nothing)."""
    ids = set()
    for value in values:
        try:
            ids.add(runtime.lookup_pod(value).id)
        except NoSuchPodError:
            continue
    return lambda ctr: ctr.config.pod in ids
