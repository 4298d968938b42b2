"""The data model: a container's and a pod's configuration and state, as attrs classes.

The configuration of an object is immutable once it is created; its state changes as it
lives.  Both are stored by the state backend as JSON made by :mod:`pypod_core.serialize`.
The runtime wraps a record in a live object (:class:`pypod_core.engine.container.Container`).
"""

from __future__ import annotations

import enum
import os
import time
from typing import TYPE_CHECKING, Any

import attrs

# libpod's name rule lives with the config's value checks (which must not import this
# module); re-exported here for the engine.
from pypod_core.config_values import NAME_PATTERN as NAME_PATTERN
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:  # re-exported for the type checker; at run time, __getattr__ below
    from pypod_core.model_image import Image as Image
    from pypod_core.model_image import ImageLayer as ImageLayer
    from pypod_core.model_image import ImageRemoval as ImageRemoval
    from pypod_core.model_image import PullEvent as PullEvent
    from pypod_core.model_image import PullStep as PullStep
    from pypod_core.model_pod import PodConfig as PodConfig
    from pypod_core.model_pod import PodRecord as PodRecord
    from pypod_core.model_pod import PodState as PodState
    from pypod_core.model_volume import Volume as Volume
    from pypod_core.model_volume import VolumeConfig as VolumeConfig
    from pypod_core.model_volume import VolumeState as VolumeState

#: The volume records, defined in :mod:`pypod_core.model_volume` and imported from here
#: on first use: three attrs classes cost every pypod process ~3 ms to build, and most
#: commands touch no volume.
_VOLUME_RECORDS = ("Volume", "VolumeConfig", "VolumeState")
#: The image records, defined in :mod:`pypod_core.model_image` and imported from here on
#: first use: ``ps``, ``inspect``, ``rm`` and ``stop`` of a ``--rootfs`` container touch
#: no image (~0.6 ms of attrs classes).
_IMAGE_RECORDS = ("Image", "ImageLayer", "PullEvent", "PullStep", "ImageRemoval")
#: The pod records, defined in :mod:`pypod_core.model_pod` and imported from here on
#: first use: ``ps``, ``inspect``, ``stop`` and ``create`` outside a pod make none
#: (~5 M instructions of attrs classes).
_POD_RECORDS = ("PodConfig", "PodState", "PodRecord")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid container or pod name, else raise InvalidArgError."""
    if not NAME_PATTERN.match(name):
        raise InvalidArgError(
            f"invalid name {name!r}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
        )
    return name


def new_id() -> str:
    """A new random object id: 64 lowercase hex characters, as libpod's."""
    # os.urandom is what secrets.token_hex reads; importing secrets (hmac, hashlib)
    # would cost every pypod process ~3 ms.
    return os.urandom(32).hex()


class ContainerStatus(enum.StrEnum):
    """A container's state, as libpod's ``ContainerStatus``."""

    CONFIGURED = "configured"
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    EXITED = "exited"
    REMOVING = "removing"
    STOPPING = "stopping"

    def after_reboot(self) -> ContainerStatus:
        """The state a container in this state is in after the host rebooted: as
        libpod's ``resetState``, an exited one stays exited (its code and time are
        real), every other one is configured (``Created``): one that ran died with the
        host, and no exit code or time of it is known."""
        if self is ContainerStatus.EXITED:
            return ContainerStatus.EXITED
        return ContainerStatus.CONFIGURED


@attrs.frozen
class Mount:
    """A mount from the host into the container that is not a named volume: a bind
    mount (``-v /host:/ctr[:ro]``, ``--mount type=bind``) or a tmpfs (``--tmpfs``,
    ``--mount type=tmpfs``, ``source`` then ``tmpfs``).

    ``options`` are the mount's other options as the user gave them (``z``, ``U``,
    ``nosuid``, propagation such as ``rshared``; for a tmpfs ``size=``, ``mode=``);
    ``read_only`` is ``ro``."""

    source: str
    destination: str
    read_only: bool = False
    #: "bind", "tmpfs" or "devpts" (``--mount type=devpts``: a new devpts instance,
    #: ``source`` then ``devpts`` and ``options`` podman's uid=, gid=, mode=, max=...).
    type: str = "bind"
    options: tuple[str, ...] = ()


@attrs.frozen
class NamedVolume:
    """A named volume mounted into a container (``-v NAME:/ctr[:opts]``, ``-v /ctr`` for
    an anonymous one, ``--mount type=volume``): the volume's name, where it goes, and
    the options as given (``ro``, ``rw``, ``z``, ``U``, ``nocopy``, ``nosuid``...)."""

    name: str
    destination: str
    options: tuple[str, ...] = ()

    @property
    def read_only(self) -> bool:
        """Whether the volume is mounted read-only (``ro``)."""
        return "ro" in self.options


@attrs.frozen
class ImageVolume:
    """An image's root file system mounted into a container (``--mount type=image``):
    the image as the user named it (looked up at each start, as podman does), where it
    goes, and whether the container may write to it (``rw=true``: its writes go to an
    upper dir of its own, dropped when it stops; the image never changes)."""

    source: str
    destination: str
    read_write: bool = False


@attrs.frozen
class Rlimit:
    """A resource limit (``--ulimit nofile=1024:2048``); ``type`` is e.g. ``RLIMIT_NOFILE``."""

    type: str
    soft: int
    hard: int


@attrs.frozen
class PortMapping:
    """A published port (``-p [ip:]host:container[/proto]``)."""

    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""


@attrs.frozen(kw_only=True)
class NetworkOptions:
    """How a container joins one of its networks (``network connect``'s flags)."""

    network: str
    #: ``--alias``: more names of the container on that network (for DNS plugins).
    aliases: tuple[str, ...] = ()
    #: ``--ip``/``--ip6``: static addresses (no prefix) on that network.
    static_ips: tuple[str, ...] = ()
    #: ``--mac-address``: the interface's static MAC address.
    static_mac: str = ""
    #: The container's interface on that network ("eth1"; contract 1.7), kept once the
    #: container joined or left a network after its creation, so that a restart gives
    #: its interfaces the names they had (as libpod keeps them); "": the next free one.
    interface_name: str = ""


@attrs.frozen(kw_only=True)
class ContainerSecret:
    """A secret given to a container (``--secret NAME[,type=,target=,uid=,gid=,mode=]``):
    its data was copied into the container at create.  ``type`` "mount" puts it in a
    read-only file at ``target`` (relative: under /run/secrets; default: the name) with
    ``uid``, ``gid`` and ``mode``; "env" sets the variable ``target`` (default: the name)."""

    name: str
    id: str
    type: str = "mount"
    target: str = ""
    uid: int = 0
    gid: int = 0
    #: podman's default, 0444.
    mode: int = 0o444


@attrs.frozen(kw_only=True)
class ContainerConfig:
    """A container's immutable configuration."""

    id: str
    name: str
    #: The root file system directory of a ``--rootfs`` container ("" for an image's).
    rootfs: str
    #: The whole process: the entrypoint, then the arguments (podman's Cmd).
    command: tuple[str, ...] = ()
    #: How much of ``command`` is the entrypoint (the image's or ``--entrypoint``):
    #: inspect shows ``Config.Entrypoint`` and ``Config.Cmd`` apart, ``ps`` the Cmd.
    entrypoint: tuple[str, ...] = ()
    env: dict[str, str] = attrs.field(factory=dict)
    workdir: str = "/"
    user: str = ""
    hostname: str = ""
    labels: dict[str, str] = attrs.field(factory=dict)
    stop_signal: int = 15
    stop_timeout: int = 10
    mounts: tuple[Mount, ...] = ()
    rlimits: tuple[Rlimit, ...] = ()
    read_only: bool = False
    privileged: bool = False
    auto_remove: bool = False
    #: ``-t``: the command runs on a pseudo-terminal (its output is one stream).
    terminal: bool = False
    #: ``-i``: the container's stdin stays open for attached clients to write to.
    stdin: bool = False
    #: "none" (loopback only), "host", "bridge" (the networks in ``networks``) or
    #: "slirp4netns" (user-mode networking, its options in ``slirp_options``).
    network_mode: str = "none"
    networks: tuple[str, ...] = ()
    #: True once ``network connect``/``disconnect`` changed ``networks``: it is then the
    #: whole list, even when empty (no longer "the default network").
    networks_explicit: bool = False
    #: Per-network options of the networks joined with ``network connect``.
    network_options: tuple[NetworkOptions, ...] = ()
    static_ip: str = ""
    port_mappings: tuple[PortMapping, ...] = ()
    #: ``--network slirp4netns:KEY=VALUE,...``: the options, as given.
    slirp_options: tuple[str, ...] = ()
    #: ``--dns``: nameservers replacing the host's in the container's resolv.conf.
    dns_servers: tuple[str, ...] = ()
    #: ``--dns-search``: search domains (``.`` for none); ``--dns-option``: options.
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    #: ``--dns none``: pypod makes no /etc/resolv.conf (the rootfs's own is used).
    no_resolv_conf: bool = False
    #: ``--add-host``: ``HOST:IP`` entries, first in the container's /etc/hosts.
    extra_hosts: tuple[str, ...] = ()
    #: ``--no-hosts``: pypod makes no /etc/hosts (the rootfs's own is used).
    no_hosts: bool = False
    #: Namespaces shared with other containers: kind ("net", "ipc", "uts", "pid") -> id.
    shared_namespaces: dict[str, str] = attrs.field(factory=dict)
    pod: str = ""
    is_infra: bool = False
    namespace: str = ""
    oci_runtime: str = ""
    #: The k8s-file log (``--log-opt path=``); empty: ``ctr.log`` in the bundle directory.
    log_path: str = ""
    #: The log's size limit in bytes (``--log-opt max-size=``), after which conmon
    #: starts it again; 0 or less: the runtime's ``max_log_size``.
    log_size_max: int = -1
    created: float = attrs.field(factory=time.time)
    # Security (pypod_core.engine.security resolves these at create; the defaults are what a
    # record made before they existed had).
    #: ``--cap-add``/``--cap-drop``: normalised names (``CAP_NET_ADMIN``) or ``ALL``.
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    #: The seccomp profile's path, or "unconfined"; "" is none (older records).
    seccomp_profile: str = ""
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    #: ``--security-opt mask=``/``unmask=`` paths (``unmask`` may hold ``ALL``).
    mask: tuple[str, ...] = ()
    unmask: tuple[str, ...] = ()
    #: ``--init``: the init binary mounted at /run/pypod-init runs as PID 1.
    init: bool = False
    init_path: str = ""
    # Images (the defaults are a --rootfs container's, and what older records had).
    #: The id of the image the rootfs was made from ("": ``--rootfs``).
    image_id: str = ""
    #: The image's name as the user gave it, resolved (podman's ``ImageName``).
    image_name: str = ""
    #: The graph driver that holds the container's rootfs ("": the rootfs directory is
    #: used in place, as by records made before graph drivers).
    graph_driver: str = ""
    # Volumes (pypod_core.engine.volumes resolves these at create).
    #: Named and anonymous volumes, in the order they are mounted.
    named_volumes: tuple[NamedVolume, ...] = ()
    #: ``--mount type=image``: images' files mounted into the container.
    image_volumes: tuple[ImageVolume, ...] = ()
    #: ``--volumes-from``: the ids of the containers whose volumes were copied (each
    #: ``ID`` or ``ID:OPTIONS``), for inspect's ``HostConfig.VolumesFrom``.
    volumes_from: tuple[str, ...] = ()
    # Resources (``--memory`` and its kin), written into the spec's ``linux.resources``
    # by pypod_core.engine.resources; 0 is "not given" (the defaults older records had).
    #: ``--memory``, ``--memory-reservation``: bytes.
    memory: int = 0
    memory_reservation: int = 0
    #: ``--memory-swap``: memory plus swap in bytes; -1 is unlimited; 0: twice --memory.
    memory_swap: int = 0
    cpu_shares: int = 0
    #: ``--cpu-period``/``--cpu-quota`` in microseconds (``--cpus`` sets both).
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    #: ``--pids-limit``: -1 is unlimited.
    pids_limit: int = 0
    blkio_weight: int = 0
    #: ``--oom-score-adj``: the process's ``oom_score_adj`` (-1000 to 1000).
    oom_score_adj: int = 0
    #: ``--shm-size``: bytes of /dev/shm (podman's 64m); 0 is no limit.
    shm_size: int = 65536 * 1024
    #: ``--device``: ``HOST:CONTAINER:PERMISSIONS`` each; ``--device-cgroup-rule``:
    #: ``TYPE MAJOR:MINOR ACCESS`` each.
    devices: tuple[str, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    #: ``--unsetenv NAME``: default and image variables left out; ``--unsetenv-all``:
    #: all of them (the caller's own, ``-e``, stay).
    unset_env: tuple[str, ...] = ()
    unset_env_all: bool = False
    #: ``--device-{read,write}-{bps,iops}``: ``KIND:PATH:RATE`` each (``read_bps``,
    #: ``write_bps``, ``read_iops``, ``write_iops``; bytes or operations per second).
    device_throttle: tuple[str, ...] = ()
    # More of podman's run/create flags (pypod_core.engine.run_options checks them).
    #: ``--timeout``: seconds after which conmon kills the container (0: none).
    timeout: int = 0
    #: ``--tz``: a zoneinfo name, or ``local`` (the host's /etc/localtime).
    tz: str = ""
    #: ``--restart``: "" (none), ``no``, ``on-failure``, ``always``, ``unless-stopped``;
    #: ``on-failure:N``'s N (0: no limit).
    restart_policy: str = ""
    restart_retries: int = 0
    #: ``--systemd``: ``true`` (systemd mode for an init command), ``false`` or
    #: ``always``; ``systemd_mode``: whether the container is in it, decided at create
    #: (:mod:`pypod_core.engine.systemd_mode`).
    systemd: str = "true"
    systemd_mode: bool = False
    #: ``--annotation``: the OCI spec's annotations.
    annotations: dict[str, str] = attrs.field(factory=dict)
    #: ``--group-add``: group names or ids, resolved in the rootfs at start.
    group_add: tuple[str, ...] = ()
    #: ``--sysctl``: namespaced kernel parameters.
    sysctls: dict[str, str] = attrs.field(factory=dict)
    #: Namespace kinds taken from the host (``--pid host``, ``--ipc host``, ``--uts host``).
    host_namespaces: tuple[str, ...] = ()
    #: ``--conmon-pidfile``: where conmon writes its pid ("": in the run dir).
    conmon_pidfile: str = ""
    #: ``--log-driver``: ``k8s-file`` (``json-file``: podman's alias of it) or ``none``.
    log_driver: str = "k8s-file"
    #: False for a ``--workdir`` the user gave: it must exist (else the start fails, as
    #: podman's); the image's (or the default) is made when missing.
    create_workdir: bool = True
    #: ``--secret``: the secrets copied into the container at create.
    secrets: tuple[ContainerSecret, ...] = ()

    def dependencies(self) -> list[str]:
        """Ids of the containers this one depends on (whose namespaces it joins)."""
        return sorted(set(self.shared_namespaces.values()))

    def volume_names(self) -> list[str]:
        """The names of the volumes this container uses, each once, sorted."""
        return sorted({v.name for v in self.named_volumes})

    def network_list(self, default: str) -> tuple[str, ...]:
        """The networks a bridged container joins: ``networks``, or ``(default,)``
        when it named none (and never left them all with ``network disconnect``)."""
        if self.networks or self.networks_explicit or not default:
            return self.networks
        return (default,)

    def options_for(self, network: str) -> NetworkOptions:
        """The container's options on ``network`` (none given: the empty ones)."""
        for options in self.network_options:
            if options.network == network:
                return options
        return NetworkOptions(network=network)


@attrs.define(kw_only=True)
class ContainerState:
    """A container's mutable state."""

    state: ContainerStatus = ContainerStatus.CONFIGURED
    pid: int = 0
    conmon_pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    #: Path of the container's bind-mounted network namespace, if pypod made one.
    netns_path: str = ""
    #: Each network's CNI result, by network name, as the plugins returned it.
    network_status: dict[str, dict] = attrs.field(factory=dict)
    #: Host ports held open while the container runs (enable_port_reservation).
    reserved_ports: tuple[int, ...] = ()
    restart_count: int = 0
    #: Stopped or killed by a user: a restart policy does not start it again.
    stopped_by_user: bool = False
    #: Where the container's rootfs is mounted while it is initialized or runs ("" when
    #: it is not): libpod's ``Mountpoint``.
    mount_point: str = ""
    #: How many ``mount`` calls (podman's ``podman mount``) hold the rootfs mounted
    #: beyond the container's own run; the rootfs stays mounted while it is above 0.
    user_mounts: int = 0

    def reset_after_reboot(self) -> None:
        """Apply libpod's reboot refresh: move the state, clear pid, netns, network,
        mount point and the restart count (the start time stays, as libpod's)."""
        self.state = self.state.after_reboot()
        self.mount_point = ""
        self.user_mounts = 0
        self.pid = 0
        self.conmon_pid = 0
        self.netns_path = ""
        self.network_status = {}
        self.reserved_ports = ()
        self.restart_count = 0


@attrs.frozen
class ContainerRecord:
    """What the state store keeps of one container: its config and its state."""

    config: ContainerConfig
    state: ContainerState


def __getattr__(name: str) -> Any:
    if name in _VOLUME_RECORDS:
        from pypod_core import model_volume  # lazy: the volume records (~3.6 ms)

        return getattr(model_volume, name)
    if name in _IMAGE_RECORDS:
        from pypod_core import model_image  # lazy: the image records (~0.6 ms)

        return getattr(model_image, name)
    if name in _POD_RECORDS:
        from pypod_core import model_pod  # lazy: the pod records (~1 ms)

        return getattr(model_pod, name)
    raise AttributeError(f"module 'pypod_core.model' has no attribute {name!r}")
