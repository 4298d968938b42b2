"""Pruning, as podman's ``container prune``, ``pod prune`` and ``network prune``: remove
every container that is not running, every pod that has stopped, every network no
container is configured to join.

Each returns a report per object it tried: its id (or name) and the error that kept it,
if any (another process removing it first is no error: it is not reported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pypod_core.engine.runtime_half import RuntimeHalf
from pypod_core.errors import (
    CtrRemovedError,
    InvalidArgError,
    NoSuchCtrError,
    NoSuchNetworkError,
    NoSuchPodError,
    PypodError,
)
from pypod_core.model import ContainerStatus as S

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: Container states ``container prune`` keeps (podman prunes every other one).
_KEPT = frozenset({S.RUNNING, S.PAUSED, S.STOPPING, S.REMOVING})
#: Pod states ``pod prune`` removes.
_PRUNED_PODS = ("Exited", "Stopped")
#: ``container prune --filter`` keys (podman's).
CONTAINER_PRUNE_FILTERS = ("label", "label!", "until")


class PruneReport(NamedTuple):
    """One object prune tried to remove: its id or name, and why it stayed (or None)."""

    id: str
    error: PypodError | None = None


def _label_test(value: str, negate: bool) -> Callable[[Any], bool]:
    key, eq, wanted = value.partition("=")

    def test(ctr: Any) -> bool:
        labels = ctr.config.labels
        found = key in labels and (not eq or labels[key] == wanted)
        return found != negate

    return test


def container_filters(items: Iterable[str]) -> Callable[[Container], bool]:
    """``--filter label=K[=V]``, ``label!=K[=V]``, ``until=UNIXTIME`` (all must hold); an
    unknown key is an InvalidArgError."""
    tests: list[Callable[[Any], bool]] = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in CONTAINER_PRUNE_FILTERS:
            raise InvalidArgError(f"{key} is an invalid filter")
        if key == "until":
            tests.append(_created_before(_unix_time(value)))
        else:
            tests.append(_label_test(value, key == "label!"))
    return lambda ctr: all(test(ctr) for test in tests)


def _created_before(until: float) -> Callable[[Any], bool]:
    return lambda ctr: bool(ctr.config.created < until)


def _unix_time(value: str) -> float:
    """``until=``'s value: a Unix time (the command line turns durations and RFC 3339
    times into one before it calls the engine)."""
    try:
        return float(value)
    except ValueError:
        raise InvalidArgError(f"until={value}: expected a Unix time") from None


class PruneOps(RuntimeHalf):
    """The runtime's prune operations."""

    def prune_containers(self, filters: Iterable[str] = ()) -> list[PruneReport]:
        """Remove every container that is not running or paused (infra containers go
        with their pods), with its anonymous volumes kept, as podman's."""
        self.check_valid()
        wanted = container_filters(filters)
        reports = []
        for ctr in self._runtime.containers(all=True):
            if ctr.state.state in _KEPT or ctr.config.is_infra or not wanted(ctr):
                continue
            try:
                if self._runtime.remove_container(ctr):
                    reports.append(PruneReport(ctr.id))
            except (NoSuchCtrError, CtrRemovedError):
                continue
            except PypodError as exc:
                reports.append(PruneReport(ctr.id, exc))
        return reports

    def prune_pods(self) -> list[PruneReport]:
        """Remove every pod whose containers have all stopped (Exited or Stopped), its
        containers with it."""
        self.check_valid()
        reports = []
        for pod in self._runtime.pods():
            if pod.status() not in _PRUNED_PODS:
                continue
            try:
                self._runtime.remove_pod(pod, force=True)
                reports.append(PruneReport(pod.id))
            except NoSuchPodError:
                continue
            except PypodError as exc:
                reports.append(PruneReport(pod.id, exc))
        return reports

    def prune_networks(self) -> list[PruneReport]:
        """Remove every network no container is configured to join, except the default
        network (podman's rule)."""
        # lazy: only network prune (networking ~9 ms)
        from pypod_core.engine.networking import containers_using, network_of, remove_network

        self.check_valid()
        network = network_of(self._runtime)
        default = network.default_network()
        reports = []
        for info in network.networks():
            if info.name == default or containers_using(self._runtime, info.name):
                continue
            try:
                remove_network(self._runtime, info.name)
                reports.append(PruneReport(info.name))
            except NoSuchNetworkError:
                continue
            except PypodError as exc:
                reports.append(PruneReport(info.name, exc))
        return reports
