"""Pod operations of the Runtime (libpod's ``runtime_pod.go``).

:class:`PodOps` is a mixin of :class:`pypod_core.engine.runtime.Runtime`: create, look up, list
and remove pods, add containers to them, and refresh them after a reboot.  The life of
one pod is :class:`pypod_core.engine.pod.Pod`'s.

A pod's infra container holds the namespaces its other containers share (``share``,
network, IPC and UTS by default) and the pod's network: published ports and networks
are the infra container's.  A pod that asks for no network gets the configured default
(config ``netns``: the default network when rootful, as podman's pods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.engine.runtime_half import RuntimeHalf
from pypod_core.errors import (
    CtrInUseError,
    CtrStateInvalidError,
    InvalidArgError,
    NameInUseError,
    NoSuchCtrError,
    NoSuchPodError,
    PypodError,
)
from pypod_core.host.locks import FileLock
from pypod_core.model import ContainerStatus, PortMapping, new_id, validate_name

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.pod import Pod
    from pypod_core.model import NetworkOptions, PodRecord

#: The namespace kinds a pod can share through its infra container.
SHAREABLE = ("net", "ipc", "uts", "pid")
#: podman's default ``--share``.
DEFAULT_SHARE = ("net", "ipc", "uts")
#: How often a generated name may lose a race with another process before giving up.
NAME_ATTEMPTS = 16


def parse_share(value: str) -> tuple[str, ...]:
    """podman's ``--share``: ``net,ipc,uts``; ``none`` or "" for nothing; ``+pid`` adds
    to the default.  InvalidArgError for a kind pypod cannot share."""
    text = value.strip()
    base: tuple[str, ...] = ()
    if text.startswith("+"):
        base, text = DEFAULT_SHARE, text[1:]
    kinds = [k.strip() for k in text.split(",") if k.strip() and k.strip() != "none"]
    return _check_share((*base, *kinds))


def _check_share(kinds: Sequence[str]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in SHAREABLE]
    if unknown == ["cgroup"] * len(unknown) and unknown:
        raise InvalidArgError("pods cannot share the cgroup namespace in pypod: share "
                              f"{', '.join(sorted(SHAREABLE))} or none")
    if unknown:
        # podman's words, which scripts match
        raise InvalidArgError(f"invalid kernel namespace to share: {unknown[0]}. Options "
                              "are: cgroup, ipc, net, pid, uts or none")
    return tuple(dict.fromkeys(kinds))


#: podman's pod exit policies.
EXIT_POLICIES = ("continue", "stop")


def _infra_options(infra: bool, name: str, image: str, command: Sequence[str] | None,
                   exit_policy: str) -> dict[str, Any]:
    """create_pod's infra container options, checked (podman's words)."""
    if exit_policy not in EXIT_POLICIES:
        raise InvalidArgError(f'running pod create option: invalid pod exit policy: '
                              f'"{exit_policy}"')
    if not infra and name:
        raise InvalidArgError("cannot set infra-name without an infra container")
    if not infra and (image or command):
        raise InvalidArgError("cannot set infra-image or infra-command without an infra "
                              "container")
    if command is not None and (isinstance(command, str) or not command or not command[0]):
        raise InvalidArgError("infra_command: a non-empty list of arguments")
    return {"name": name, "image": image, "command": list(command) if command else None}


class PodOps(RuntimeHalf):
    """The pod half of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    # -- locks -------------------------------------------------------------------------

    def pod_lock(self, pod_id: str) -> FileLock:
        """The pod's lock: one flock(2) lock file per pod (:mod:`pypod_core.host.locks`), one
        lock object per process, reentrant.  Taken before any of its containers' locks,
        never after."""
        return self.locks.get(f"pod-{pod_id}")

    def forget_pod_lock(self, pod_id: str) -> None:
        """Drop a removed pod's lock and its file (the caller holds it)."""
        self.locks.forget(f"pod-{pod_id}")

    # -- create and find ---------------------------------------------------------------

    def create_pod(self, name: str | None = None, labels: Mapping[str, str] | None = None,
                   ports: Sequence[PortMapping] = (), share: Sequence[str] | None = None,
                   infra: bool = True, *, network_mode: str | None = None,
                   networks: Sequence[str] = (), hostname: str = "",
                   dns_servers: Sequence[str] = (), dns_search: Sequence[str] = (),
                   dns_options: Sequence[str] = (), no_resolv_conf: bool = False,
                   extra_hosts: Sequence[str] = (), no_hosts: bool = False,
                   infra_name: str = "", infra_image: str = "",
                   infra_command: Sequence[str] | None = None,
                   exit_policy: str = "continue",
                   network_options: Sequence[NetworkOptions] = ()) -> Pod:
        """Add a new pod and its infra container (not started: ``pod.start()``).

        ``share`` is the namespace kinds its containers share (default net, ipc, uts; none
        without an infra container).  ``ports``, ``networks`` and ``network_mode``
        (``none``, ``host`` or ``bridge``) are the infra container's: the pod's network.
        Without any of them the pod gets config ``netns`` (see default_network_mode).  ``name`` is
        validated, or a free one is generated; it is unique across pods and containers.
        The DNS and hosts settings (those of ``create_container``) are the infra
        container's too: the containers sharing the pod's network use its files.
        ``infra_name``, ``infra_image`` and ``infra_command`` replace the infra
        container's name (``<pod id>-infra``), root filesystem (config ``infra_image``:
        see :func:`pypod_core.engine.infra.infra_source`) and command (config
        ``infra_command``).  ``exit_policy`` ("continue" or "stop") says whether the
        infra container stops when the pod's last other container exits.
        ``network_options`` (aliases, ...) are the infra container's on its networks: every
        container sharing the pod's network answers to them.  On a network the pod is
        known by its name.
        """
        # lazy: only pod create (etc_files ~7 ms, validate, pod)
        from pypod_core.engine import etc_files, validate
        from pypod_core.engine.pod import Pod

        self.check_valid()
        validate.pod_args(name, labels, ports, share, infra, network_mode, networks, hostname)
        infra_options = _infra_options(infra, infra_name, infra_image, infra_command,
                                       exit_policy)
        etc = etc_files.check_fields({
            "dns_servers": dns_servers, "dns_search": dns_search, "dns_options": dns_options,
            "no_resolv_conf": no_resolv_conf, "extra_hosts": extra_hosts,
            "no_hosts": no_hosts})
        kinds = _check_share(DEFAULT_SHARE if share is None and infra else share or ())
        if not infra and (kinds or ports or networks or network_mode or network_options):
            raise InvalidArgError("a pod without an infra container cannot share namespaces, "
                                  "publish ports or join networks")
        if not infra and any(etc.values()):
            raise InvalidArgError("a pod without an infra container has no hosts or "
                                  "resolv.conf of its own: --dns, --dns-search, --dns-option, "
                                  "--add-host and --no-hosts need the infra container")
        mode = network_mode or ("bridge" if ports or networks or network_options
                                 else self._runtime.default_network_mode() if infra else "none")
        if mode not in ("none", "host", "bridge", "slirp4netns"):
            raise InvalidArgError(f"invalid network mode {mode!r}: none, host, bridge or "
                                  "slirp4netns")
        if (ports or networks or network_options) and mode != "bridge":
            raise InvalidArgError(f"published ports and networks need a bridge network; "
                                  f"the pod's network mode is {mode}")
        record = self._add_pod_record(name, dict(labels or {}), kinds, infra, tuple(ports),
                                      exit_policy)
        pod = Pod(self._runtime, record)
        if infra:
            try:
                self._create_infra(pod, mode, tuple(networks), tuple(network_options),
                                   hostname, etc, infra_options)
            except BaseException:
                self._forget_pod(pod.id)
                raise
        try:
            self.plugins.hook.pypod_pod_created(runtime=self, pod=pod)
        except BaseException:
            self.remove_pod(pod, force=True)  # as for a container's (strict plugins only)
            raise
        return pod

    def _add_pod_record(self, name: str | None, labels: dict[str, str],
                        share: tuple[str, ...], infra: bool,
                        ports: tuple[PortMapping, ...], exit_policy: str) -> PodRecord:
        from pypod_core.model_pod import PodConfig, PodRecord, PodState  # lazy: pods (~1 ms)

        if name is not None:
            validate_name(name)
        for attempt in range(NAME_ATTEMPTS):
            config = PodConfig(id=new_id(), name=name if name is not None
                               else self.generate_name(), labels=labels, share=share,
                               infra=infra, port_mappings=ports,
                               namespace=self.config.namespace, exit_policy=exit_policy)
            record = PodRecord(config, PodState())
            try:
                self.state.add_pod(record)
            except NameInUseError:
                if name is not None or attempt == NAME_ATTEMPTS - 1:
                    raise
                continue
            return record
        raise AssertionError("unreachable")  # pragma: no cover

    def _create_infra(self, pod: Pod, mode: str, networks: tuple[str, ...],
                      network_options: tuple[NetworkOptions, ...],
                      hostname: str, etc: Mapping[str, Any],
                      options: Mapping[str, Any]) -> None:
        """The infra container: the pause process from pypod's infra root filesystem
        (or ``options``: see create_pod), read-only, named ``<pod id>-infra`` as
        podman's, holding the pod's network and its hosts and resolv.conf (``etc``:
        their settings)."""
        # lazy: only an infra container (infra ~5 ms)
        from pypod_core.engine.infra import infra_source
        from pypod_core.engine.validate import MAX_HOSTNAME

        source = infra_source(self._runtime, options["image"], options["command"])
        infra = self._runtime.create_container(
            **source, name=options["name"] or f"{pod.id[:12]}-infra", pod=pod.id,
            is_infra=True, read_only=True,
            hostname=(hostname or pod.name)[:MAX_HOSTNAME], network_mode=mode,
            networks=networks, network_options=network_options,
            port_mappings=pod.config.port_mappings,
            labels={"io.pypod.pod.infra": pod.id}, **etc)
        pod.state.infra_container_id = infra.id
        self.state.save_pod_state(pod.id, pod.state)

    def _forget_pod(self, pod_id: str) -> None:
        """Undo a pod creation that failed half-way: its records (it never ran)."""
        try:
            self.state.remove_pod_containers(pod_id)
        except PypodError:
            pass
        self.state.remove_pod(pod_id)

    def pod_member_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """For ``create_container(pod=...)``: ``fields`` with ``pod`` (a Pod, id or name)
        turned into the pod's id, and the pod's shared namespaces joined through its
        infra container.  A container sharing the pod's network cannot have a network of
        its own (ports belong to the pod); one sharing its UTS namespace has the pod's
        host name."""
        result = dict(fields)
        pod = self.lookup_pod(getattr(fields["pod"], "id", fields["pod"]))
        result["pod"] = pod.id
        if fields.get("is_infra") or not pod.state.infra_container_id:
            return result
        infra = pod.state.infra_container_id
        shared = {kind: infra for kind in pod.config.share}
        own = dict(fields.get("shared_namespaces") or {})
        clash = [k for k in own if k in shared and own[k] != infra]
        if clash:
            raise InvalidArgError(f"the {clash[0]} namespace is shared with pod {pod.name}: "
                                  "a container of the pod cannot join another one")
        result["shared_namespaces"] = {**own, **shared}
        if "net" in shared:
            if (fields.get("network_mode") not in (None, "none") or fields.get("port_mappings")
                    or fields.get("networks") or fields.get("static_ip")):
                raise InvalidArgError(
                    f"container shares the network of pod {pod.name}: publish ports and join "
                    "networks when the pod is created (pypod pod create -p/--network)")
            if any(fields.get(k) for k in ("dns_servers", "dns_search", "dns_options",
                                           "extra_hosts")):
                raise InvalidArgError(
                    f"container shares the network of pod {pod.name}, and its hosts and "
                    "resolv.conf: set them when the pod is created (pypod pod create "
                    "--dns/--dns-search/--dns-option/--add-host)")
            result["network_mode"] = "none"
        if "uts" in shared:
            infra_hostname = self._runtime.get_container(infra).config.hostname
            if fields.get("hostname") not in (None, "", infra_hostname):
                raise InvalidArgError(  # podman's words, which scripts match
                    "invalid config provided: cannot set hostname when joining the pod UTS "
                    "namespace: invalid configuration")
            result["hostname"] = infra_hostname
        return result

    def lookup_pod(self, id_or_name: str) -> Pod:
        """The pod with this name, id or unique id prefix."""
        from pypod_core.engine.pod import Pod  # lazy: only pods (~0.4 ms)

        self.check_valid()
        return Pod(self._runtime, self.state.lookup_pod(id_or_name))

    def get_pod(self, pod_id: str) -> Pod:
        """The pod with this full id."""
        from pypod_core.engine.pod import Pod  # lazy: only pods (~0.4 ms)

        self.check_valid()
        return Pod(self._runtime, self.state.pod(pod_id))

    def pods(self) -> list[Pod]:
        """Every pod, oldest first."""
        from pypod_core.engine.pod import Pod  # lazy: only pods (~0.4 ms)

        self.check_valid()
        return [Pod(self._runtime, record) for record in self.state.all_pods()]

    # -- remove ------------------------------------------------------------------------

    def remove_pod(self, pod: Pod, force: bool = False, timeout: int | None = None) -> None:
        """Remove a pod: its containers (the infra container last) and its record.

        As podman's: without ``force`` a pod with a container running or paused (its
        infra container aside, which is stopped) is refused, and stopped containers go
        with their pod; with ``force`` its containers are stopped (after ``timeout``
        seconds, default each one's stop timeout) and removed."""
        from pypod_core.engine.pod import start_order  # lazy: only pods (~0.4 ms)

        self.check_valid()
        with pod.locked():
            ctrs = pod.containers()
            live = [c for c in ctrs if not c.config.is_infra and c.state.state in (
                ContainerStatus.RUNNING, ContainerStatus.PAUSED)]
            if live and not force:
                ctr = live[0]
                raise CtrStateInvalidError(  # podman's words, which scripts match
                    f"removing container {ctr.id} from pod {pod.id}: cannot remove container "
                    f"{ctr.id} as it is {ctr.state.state.value} - running or paused "
                    "containers cannot be removed without force: container state improper")
            for ctr in reversed(start_order(ctrs)):
                try:
                    self._runtime.remove_container(ctr, force=True, timeout=timeout,
                                                   removing_pod=True)
                except NoSuchCtrError:
                    continue  # removed by another process meanwhile
            self.state.remove_pod(pod.id)
            self.forget_pod_lock(pod.id)
        self.plugins.hook.pypod_pod_removed(runtime=self, pod=pod)

    def check_infra_removal(self, ctr: Container, removing_pod: bool) -> None:
        """For ``remove_container``: an infra container goes only with its pod (its
        namespaces are the pod's); CtrInUseError naming the pod otherwise."""
        if not ctr.config.is_infra or removing_pod or not ctr.config.pod:
            return
        try:
            pod = self.get_pod(ctr.config.pod)
        except NoSuchPodError:
            return
        others = [i for i in self.state.pod_containers_by_id(pod.id) if i != ctr.id]
        users = f" and {len(others)} container(s) share its namespaces" if others else ""
        raise CtrInUseError(f"container {ctr.id} is the infra container of pod {pod.name}"
                            f"{users} and cannot be removed without removing the pod "
                            "(pypod pod rm, or rm --depend)")

    # -- whole runtime -----------------------------------------------------------------

    def refresh_pods(self) -> None:
        """After a reboot, refresh every pod (libpod's ``pod.refresh``); the containers
        were refreshed already."""
        from pypod_core.engine.pod import Pod  # lazy: only pods (~0.4 ms)

        for record in self.state.all_pods():
            Pod(self._runtime, record).refresh()

