"""``pod ps --filter KEY=VALUE`` and ``--sort``, as podman 4.3's pod filters.

Filters of different keys must all match; values of one key are alternatives, except
``label``, whose values must all match.  The keys:

===============  ======================================================================
``id``           the id matches the value (a regular expression, so a prefix matches)
``name``         the name matches the value (a regular expression)
``label``        the pod has the label ``KEY`` (any value) or ``KEY=VALUE``
``status``       created, running, paused, stopped, exited, dead, degraded
``network``      the pod's (its infra container's) networks include this one
``ctr-names``    one of its containers' names matches (a regular expression)
``ctr-ids``      one of its containers' ids matches (a regular expression)
``ctr-status``   one of its containers is in this state (podman's container words)
``ctr-number``   it has this many containers (the infra one included)
===============  ======================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from pypod_core.cli.ctr_filters import STATUSES, parse_filters
from pypod_core.errors import InvalidArgError

#: An entry of ``pod ps --format json`` (pod.ps_entry()), to a bool.
Predicate = Callable[[dict[str, Any]], bool]

#: podman's pod status words.
POD_STATUSES: Final = ("stopped", "running", "paused", "exited", "dead", "created",
                       "degraded")
#: podman's ``pod ps --sort`` keys.
SORT_KEYS: Final = ("created", "id", "name", "number", "status")


def pod_filter(specs: Iterable[str]) -> Predicate:
    """One predicate over ps entries for every ``--filter`` given."""
    checks = [_check(key, values) for key, values in parse_filters(specs).items()]
    return lambda entry: all(check(entry) for check in checks)


def _regexes(key: str, values: list[str]) -> list[re.Pattern[str]]:
    try:
        return [re.compile(v) for v in values]
    except re.error as exc:
        raise InvalidArgError(f"invalid filter {key}={exc.pattern!r}: {exc}") from None


def _check(key: str, values: list[str]) -> Predicate:
    if key in ("id", "name"):
        field = "Id" if key == "id" else "Name"
        patterns = _regexes(key, values)
        return lambda e: any(p.search(e[field]) for p in patterns)
    if key in ("ctr-names", "ctr-ids"):
        field = "Names" if key == "ctr-names" else "Id"
        patterns = _regexes(key, values)
        return lambda e: any(p.search(c[field]) for c in e["Containers"] for p in patterns)
    if key == "label":
        wanted = [v.partition("=") for v in values]
        return lambda e: all(k in (e["Labels"] or {}) and (not eq or e["Labels"][k] == v)
                             for k, eq, v in wanted)
    if key == "status":
        return _in(key, values, POD_STATUSES, lambda e: e["Status"].lower())
    if key == "ctr-status":
        _in(key, values, STATUSES, str)
        return lambda e: any(c["Status"] in values for c in e["Containers"])
    if key == "ctr-number":
        try:
            numbers = {int(v) for v in values}
        except ValueError:
            raise InvalidArgError(f"invalid filter ctr-number={values[0]!r}: a number") \
                from None
        return lambda e: len(e["Containers"]) in numbers
    if key == "network":
        return lambda e: any(n in values for n in e["Networks"])
    raise InvalidArgError(f'"{key}" is an invalid filter (id, name, label, status, network, '
                          'ctr-names, ctr-ids, ctr-status, ctr-number)')


def _in(key: str, values: list[str], choices: tuple[str, ...],
        field: Callable[[Any], str]) -> Predicate:
    for value in values:
        if value not in choices:
            raise InvalidArgError(f'invalid filter {key}="{value}": one of '
                                  f'{", ".join(choices)}')
    return lambda e: field(e) in values


def check_sort(key: str) -> str:
    """``--sort``: a key of SORT_KEYS, else podman's refusal naming the choices."""
    if key not in SORT_KEYS:
        raise InvalidArgError(f'invalid option for --sort "{key}": options are: '
                              f'{", ".join(SORT_KEYS)}')
    return key


def sort_key(key: str) -> Callable[[tuple[dict[str, Any], float]], Any]:
    """How (entry, created) pairs sort by ``key``."""
    keys: dict[str, Callable[[tuple[dict[str, Any], float]], Any]] = {
        "created": lambda pair: pair[1],
        "id": lambda pair: pair[0]["Id"],
        "name": lambda pair: pair[0]["Name"],
        "number": lambda pair: len(pair[0]["Containers"]),
        "status": lambda pair: pair[0]["Status"],
    }
    return keys[key]
