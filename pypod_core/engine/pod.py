"""A live pod: its record, its lock, and the life of its containers together (libpod's
``pod.go`` and ``pod_api.go``).

A pod is a group of containers sharing namespaces (network, IPC and UTS by default) that
its infra container holds.  Pod operations act on the pod's containers in dependency
order: ``start`` starts the infra container first (the others join its namespaces),
``stop`` stops the others first and the infra container last.  Each operation holds the
pod's lock (a lock file in the runtime's lock dir, as a container's) and takes
each container's own lock in turn, never the other way round.  An operation that fails
for some containers still acts on the rest, then raises
:class:`~pypod_core.errors.PodPartialFailError` naming each failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pypod_core.engine.inspect import go_time, status_word
from pypod_core.errors import (
    CtrStateInvalidError,
    NoSuchCtrError,
    NoSuchPodError,
    PodPartialFailError,
    PodRemovedError,
    PypodError,
)
from pypod_core.model import ContainerStatus, PodConfig, PodRecord, PodState

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime

S = ContainerStatus

#: podman's pod states (``define.PodState*``).
POD_CREATED = "Created"
POD_RUNNING = "Running"
POD_STOPPED = "Stopped"
POD_EXITED = "Exited"
POD_PAUSED = "Paused"
POD_DEGRADED = "Degraded"
POD_ERROR = "Error"


def pod_status(states: list[ContainerStatus]) -> str:
    """The pod's state from its containers' states, as podman computes it: Running when
    all run, Degraded when some do, Paused when all are paused, Exited when all have
    exited, Stopped when some have, else Created (also for a pod without containers)."""
    if not states:
        return POD_CREATED
    total = len(states)
    running = sum(s is S.RUNNING for s in states)
    paused = sum(s is S.PAUSED for s in states)
    stopped = sum(s in (S.EXITED, S.STOPPED) for s in states)
    odd = sum(s in (S.STOPPING, S.REMOVING) for s in states)
    if running:
        return POD_RUNNING if running == total else POD_DEGRADED
    if paused == total:
        return POD_PAUSED
    if stopped == total:
        return POD_EXITED
    if stopped:
        return POD_STOPPED
    if odd:
        return POD_ERROR
    return POD_CREATED


def start_order(ctrs: list[Container]) -> list[Container]:
    """The pod's containers in dependency order: the infra container first, and each
    container after the pod's containers it joins; otherwise oldest first."""
    members = {c.id: c for c in ctrs}
    placed: set[str] = set()
    ordered: list[Container] = []

    def place(ctr: Container, path: tuple[str, ...]) -> None:
        if ctr.id in placed or ctr.id in path:  # done, or a cycle the state forbids anyway
            return
        for dep in ctr.config.dependencies():
            if dep in members:
                place(members[dep], (*path, ctr.id))
        placed.add(ctr.id)
        ordered.append(ctr)

    for ctr in sorted(ctrs, key=lambda c: (not c.config.is_infra, c.config.created)):
        place(ctr, ())
    return ordered


class Pod:
    """A pod of a runtime: ``.id .name .config .state`` and its containers' life."""

    def __init__(self, runtime: Runtime, record: PodRecord):
        self.runtime = runtime
        self.config: PodConfig = record.config
        self.state: PodState = record.state

    def __repr__(self) -> str:
        return f"<Pod {self.id[:12]} {self.name}>"

    @property
    def id(self) -> str:
        """The pod's 64-hex-character id."""
        return self.config.id

    @property
    def name(self) -> str:
        """The pod's name."""
        return self.config.name

    @property
    def infra_container_id(self) -> str:
        """The id of the infra container ("" for a pod made without one)."""
        return self.state.infra_container_id

    # -- lock and state ----------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[Pod]:
        """Hold the pod's lock (reentrant within this process), with the state re-read;
        NoSuchPodError if the pod was removed meanwhile."""
        with self.runtime.pod_lock(self.id):
            try:
                self.state = self.runtime.state.pod_state(self.id)
            except (NoSuchPodError, PodRemovedError):
                # Removed while we waited: drop the lock file that waiting re-created.
                self.runtime.forget_pod_lock(self.id)
                raise
            yield self

    def sync(self) -> Pod:
        """Re-read the pod's state from the store."""
        with self.locked():
            return self

    def containers(self) -> list[Container]:
        """The pod's containers (the infra container too), oldest first, each synced
        with the OCI runtime."""
        # lazy: pod ps and pod create without containers need none (~5 ms)
        from pypod_core.engine.container import LIVE, Container

        result = []
        for record in self.runtime.state.pod_containers(self.id):
            ctr = Container(self.runtime, record)
            if record.state.state in LIVE:
                try:
                    ctr.sync()
                except NoSuchCtrError:  # removed by another process meanwhile
                    continue
            result.append(ctr)
        return result

    def infra(self) -> Container | None:
        """The infra container, or None for a pod made without one."""
        if not self.state.infra_container_id:
            return None
        return self.runtime.get_container(self.state.infra_container_id)

    def status(self) -> str:
        """podman's pod state word: Created, Running, Degraded, Paused, Stopped, Exited."""
        return pod_status([c.state.state for c in self.containers()])

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every container: the infra container first, then the others in
        dependency order.  Running ones are left alone; if the infra container cannot
        start, nothing else is tried."""
        with self.locked():
            ordered = start_order(self.containers())
            infra = [c for c in ordered if c.config.is_infra]
            for ctr in infra:
                ctr.start()
            self._each("start", [c for c in ordered if not c.config.is_infra],
                       lambda c: c.start())

    def stop(self, timeout: int | None = None) -> None:
        """Stop every container: the others first (in reverse dependency order), the
        infra container last; each gets the stop signal, then SIGKILL after ``timeout``
        seconds (default: each container's own stop timeout)."""
        with self.locked():
            ordered = list(reversed(start_order(self.containers())))
            self._each("stop", ordered, lambda c: c.stop(timeout))

    def kill(self, signal: int = 9) -> None:
        """Send ``signal`` to every running or paused container (the infra container
        last); CtrStateInvalidError if none runs."""
        with self.locked():
            live = [c for c in reversed(start_order(self.containers()))
                    if c.state.state in (S.RUNNING, S.PAUSED)]
            if not live:
                raise CtrStateInvalidError(f"cannot kill pod {self.name}: no container "
                                           "of it is running")
            self._each("kill", live, lambda c: c.kill(signal))

    def restart(self, timeout: int | None = None) -> None:
        """Stop the pod (see :meth:`stop`), then start it again with every container."""
        with self.locked():
            self.stop(timeout)
            self.start()

    def pause(self) -> None:
        """Freeze every running container, the infra container last."""
        with self.locked():
            running = [c for c in reversed(start_order(self.containers()))
                       if c.state.state is S.RUNNING]
            self._each("pause", running, lambda c: c.pause())

    def unpause(self) -> None:
        """Thaw every paused container, the infra container first."""
        with self.locked():
            paused = [c for c in start_order(self.containers()) if c.state.state is S.PAUSED]
            self._each("unpause", paused, lambda c: c.unpause())

    def _each(self, verb: str, ctrs: list[Container], act: Callable[[Container], Any]) -> None:
        """Apply ``act`` to each container in order; after trying all, raise
        PodPartialFailError if any failed."""
        errors: dict[str, PypodError] = {}
        for ctr in ctrs:
            try:
                act(ctr)
            except NoSuchCtrError:
                continue  # removed meanwhile: nothing to act on
            except PypodError as exc:
                errors[ctr.id] = exc
        if errors:
            details = "; ".join(f"{ctr_id[:12]}: {exc}" for ctr_id, exc in errors.items())
            raise PodPartialFailError(
                f"cannot {verb} {len(errors)} container(s) of pod {self.name}: {details}",
                errors)

    def top(self, descriptors: Iterable[str] = ()) -> list[list[str]]:
        """The processes of the pod's running containers: a header, then a row each
        (podman's ``pod top``: see :mod:`pypod_core.engine.top`)."""
        from pypod_core.engine.top import pod_top  # lazy: only pod top

        return pod_top(self, descriptors)

    def refresh(self) -> None:
        """After a reboot (libpod's ``pod.refresh``): the state store has reset the
        pod's record and the containers are refreshed on their own; what is left per
        boot is the pod's lock file, which the emptied tmp dir took with it."""
        with self.locked():
            self.state.reset_after_reboot()
            self.runtime.state.save_pod_state(self.id, self.state)

    # -- inspection --------------------------------------------------------------------

    def inspect(self) -> dict[str, Any]:
        """``pypod pod inspect``: podman's keys and layout."""
        ctrs = self.containers()
        infra = next((c for c in ctrs if c.id == self.state.infra_container_id), None)
        return {
            "Id": self.id,
            "Name": self.name,
            "Namespace": self.config.namespace,
            "Created": go_time(self.config.created),
            "CreateCommand": None,
            "ExitPolicy": self.config.exit_policy,
            "State": pod_status([c.state.state for c in ctrs]),
            "Hostname": infra.config.hostname if infra else "",
            "Labels": dict(self.config.labels),
            "CreateCgroup": False,
            "CgroupParent": "",
            "CgroupPath": "",
            "CreateInfra": self.config.infra,
            "InfraContainerID": self.state.infra_container_id,
            "InfraConfig": _infra_config(infra) if infra else None,
            "SharedNamespaces": sorted(self.config.share),
            "NumContainers": len(ctrs),
            "Containers": [{"Id": c.id, "Name": c.name, "State": status_word(c.state.state)}
                           for c in ctrs],
        }

    def ps_entry(self) -> dict[str, Any]:
        """The pod as ``podman pod ps --format json`` shows one."""
        ctrs = self.containers()
        infra = next((c for c in ctrs if c.id == self.state.infra_container_id), None)
        return {
            "Cgroup": "",
            "Containers": [{"Id": c.id, "Names": c.name, "Status": status_word(c.state.state),
                            "RestartCount": c.state.restart_count} for c in ctrs],
            "Created": go_time(self.config.created),
            "Id": self.id,
            "InfraId": self.state.infra_container_id,
            "Name": self.name,
            "Namespace": self.config.namespace,
            "Networks": _networks(infra) if infra else [],
            "Status": pod_status([c.state.state for c in ctrs]),
            "Labels": dict(self.config.labels),
        }


def _networks(infra: Container) -> list[str]:
    from pypod_core.engine import networking  # lazy: only pods with an infra (~4 ms)

    return networking.network_names(infra.runtime, infra)


def _infra_config(infra: Container) -> dict[str, Any]:
    """podman's ``InfraConfig``: the pod's network, which its infra container holds."""
    from pypod_core.engine.networking import port_bindings  # lazy: only pod inspect (~4 ms)

    c = infra.config
    return {
        "PortBindings": port_bindings(infra),
        "HostNetwork": c.network_mode == "host",
        "StaticIP": c.static_ip,
        "StaticMAC": "",
        "NoManageResolvConf": c.no_resolv_conf,
        "DNSServer": list(c.dns_servers) or None,
        "DNSSearch": list(c.dns_search) or None,
        "DNSOption": list(c.dns_options) or None,
        "NoManageHosts": c.no_hosts,
        "HostAdd": list(c.extra_hosts) or None,
        "Networks": _networks(infra),
        "NetworkOptions": None,
        "NetworkMode": c.network_mode,
        "InfraCommand": list(c.command),
        "pid_ns": "private",
        "userns": "host",
        "uts_ns": "private",
    }
