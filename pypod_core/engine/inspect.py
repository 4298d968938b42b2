"""``pypod inspect`` of a container and ``pypod ps --format json``: podman's keys.

Scripts written for podman read these documents: the key names, nesting and value
types follow podman 4's ``inspect`` and ``ps --format json``.
"""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING, Any

from pypod_core.engine.names import hostname_of
from pypod_core.errors import PypodError
from pypod_core.model import ContainerConfig, ContainerStatus

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: Go's zero time, as podman prints a time that never happened.
ZERO_TIME = "0001-01-01T00:00:00Z"
#: podman's ``ExitedAt``/``StartedAt`` in ``ps`` JSON for a time that never happened.
ZERO_UNIX = -62135596800
S = ContainerStatus


def status_word(state: ContainerStatus) -> str:
    """podman's status word: a configured container shows as ``created``."""
    return "created" if state is S.CONFIGURED else state.value


def go_time(when: float) -> str:
    """A Unix time as podman's JSON prints a Go time (RFC 3339, UTC, nanoseconds)."""
    if not when:
        return ZERO_TIME
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15."""
    import signal  # lazy: only inspect, not ps (~0.9 ms: its enum of signals)

    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _state(ctr: Container) -> dict[str, Any]:
    st = ctr.state
    return {
        "OciVersion": "1.0.2",
        "Status": status_word(st.state),
        "Running": st.state is S.RUNNING,
        "Paused": st.state is S.PAUSED,
        "Restarting": False,
        "OOMKilled": st.oom_killed,
        "Dead": False,
        "Pid": st.pid,
        "ConmonPid": st.conmon_pid,
        "ExitCode": st.exit_code,
        "Error": "",
        "StartedAt": go_time(st.started_at),
        "FinishedAt": go_time(st.finished_at),
        "CgroupPath": f"/pypod/{ctr.id}" if st.pid else "",
    }


def _env(ctr: Container) -> list[str]:
    # lazy: only inspect, not ps (bundle ~1 ms)
    from pypod_core.engine.bundle import ExecUser, container_env, resolve_user
    from pypod_core.engine.rootfs import readable_path

    # An image container's files can be read only while it is mounted: until then its
    # user's HOME is not known (podman shows none before the first start).
    root = readable_path(ctr)
    try:
        user = resolve_user(root, ctr.config.user) if root else ExecUser()
    except PypodError:
        user = ExecUser()
    from pypod_core.engine.systemd_mode import extra_env  # lazy: as bundle (~0.3 ms)

    return container_env(ctr.config, user, extra_env(ctr.config))


def _config(ctr: Container) -> dict[str, Any]:
    c = ctr.config
    config = _config_fields(ctr)
    if c.secrets:
        from pypod_core.engine import ctr_secrets  # lazy: only with --secret

        # podman lists the mount secrets, and omits the key when there are none.
        if listed := ctr_secrets.inspect(c):
            config["Secrets"] = listed
    return config


def _config_fields(ctr: Container) -> dict[str, Any]:
    c = ctr.config
    return {
        "Hostname": hostname_of(c),
        "Domainname": "",
        "User": c.user,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": c.terminal,
        "OpenStdin": c.stdin,
        "StdinOnce": False,
        "Env": _env(ctr),
        "Cmd": cmd_of(c) or None,
        "Image": c.image_name,
        "Volumes": None,
        "WorkingDir": c.workdir,
        "Entrypoint": " ".join(c.entrypoint),
        "OnBuild": None,
        "Labels": dict(c.labels) or None,
        "Annotations": {"io.pypod.container.name": c.name, **c.annotations},
        "StopSignal": c.stop_signal,
        "StopTimeout": c.stop_timeout,
        "Umask": "0022",
        "Timeout": c.timeout,
        "Timezone": c.tz,
        "SystemdMode": c.systemd_mode,
    }


def _host_config(ctr: Container) -> dict[str, Any]:
    # lazy: only inspect, not ps (~6 ms together)
    from pypod_core.engine import resources
    from pypod_core.engine.bundle import rlimits
    from pypod_core.engine.logs import human_size, log_size_max
    from pypod_core.engine.networking import port_bindings
    from pypod_core.engine.volumes import host_config  # lazy: not for ps (~8 ms)

    c = ctr.config
    return {
        **host_config(ctr),  # Binds, Tmpfs, VolumesFrom
        **resources.host_config(c),  # Memory, CpuShares, PidsLimit, Devices...
        "CgroupManager": ctr.runtime.config.cgroup_manager,
        "LogConfig": {"Type": c.log_driver, "Config": None,
                      "Path": "" if c.log_driver == "none" else ctr.log_path, "Tag": "",
                      "Size": human_size(log_size_max(ctr))},
        "RestartPolicy": {"Name": c.restart_policy,
                          "MaximumRetryCount": c.restart_retries},
        "GroupAdd": list(c.group_add),
        "Sysctls": dict(c.sysctls),
        "NetworkMode": _network_mode(c),
        "PortBindings": port_bindings(ctr),
        "AutoRemove": c.auto_remove,
        "Privileged": c.privileged,
        "ReadonlyRootfs": c.read_only,
        "IpcMode": _ns_mode(ctr, "ipc"),
        "PidMode": _ns_mode(ctr, "pid"),
        "UTSMode": _ns_mode(ctr, "uts"),
        "Ulimits": [{"Name": r["type"], "Soft": r["soft"], "Hard": r["hard"]}
                    for r in rlimits(c)],
        "Runtime": "oci",
        **_security_host_config(c),
        "Dns": list(c.dns_servers),
        "DnsOptions": list(c.dns_options),
        "DnsSearch": list(c.dns_search),
        "ExtraHosts": list(c.extra_hosts),
    }


def _security_host_config(c: ContainerConfig) -> dict[str, Any]:
    """podman's ``HostConfig.CapAdd``, ``CapDrop``, ``SecurityOpt`` and ``Init``."""
    opts = [f"seccomp={c.seccomp_profile}"] if c.seccomp_profile == "unconfined" else []
    if c.no_new_privileges:
        opts.append("no-new-privileges")
    if c.apparmor_profile:
        opts.append(f"apparmor={c.apparmor_profile}")
    opts += [f"mask={p}" for p in c.mask] + [f"unmask={p}" for p in c.unmask]
    return {"CapAdd": list(c.cap_add), "CapDrop": list(c.cap_drop), "SecurityOpt": opts,
            "Init": c.init}


def _ns_mode(ctr: Container, kind: str) -> str:
    if kind in ctr.config.host_namespaces:
        return "host"
    other = ctr.config.shared_namespaces.get(kind)
    return f"container:{other}" if other else "private"


def _mounts(ctr: Container) -> list[dict[str, Any]]:
    from pypod_core.engine.volumes import inspect_mounts  # lazy: not for ps (~8 ms)

    return inspect_mounts(ctr)


def cmd_of(c: ContainerConfig) -> list[str]:
    """The arguments after the entrypoint (podman's ``Cmd``, what ``ps`` shows)."""
    return list(c.command[len(c.entrypoint):])


def _graph_driver(ctr: Container) -> dict[str, Any]:
    """podman's ``GraphDriver``: the driver's name and what it shows of the rootfs."""
    from pypod_core.engine.rootfs import DIR_DRIVER, driver_named  # lazy: only inspect

    name = ctr.config.graph_driver or DIR_DRIVER
    data = driver_named(ctr.runtime, name).rootfs_data(ctr.id) if ctr.config.graph_driver \
        else {}
    return {"Name": name, "Data": data}


def _network_settings(ctr: Container) -> dict[str, Any]:
    from pypod_core.engine import networking  # lazy: only inspect, not ps (~4 ms)

    return networking.network_settings(ctr)


def inspect_container(ctr: Container) -> dict[str, Any]:
    """The container as ``podman inspect`` shows one."""
    # lazy: only inspect, not ps (~5 ms together)
    from pypod_core.engine.bundle import DEFAULT_CAPABILITIES
    from pypod_core.engine.etc_files import managed_paths

    c = ctr.config
    run_dir = ctr.run_dir
    etc = managed_paths(ctr)
    return {
        "Id": c.id,
        "Created": go_time(c.created),
        "Path": c.command[0] if c.command else "",
        "Args": list(c.command[1:]),
        "State": _state(ctr),
        "Image": c.image_id,
        "ImageDigest": _image_digest(ctr),
        "ImageName": c.image_name,
        "Rootfs": c.rootfs,
        "Pod": c.pod,
        "ResolvConfPath": etc.get("/etc/resolv.conf", ""),
        "HostnamePath": os.path.join(run_dir, "hostname"),
        "HostsPath": etc.get("/etc/hosts", ""),
        "StaticDir": ctr.bundle_dir,
        "OCIConfigPath": os.path.join(ctr.bundle_dir, "config.json"),
        "OCIRuntime": c.oci_runtime,
        "ConmonPidFile": ctr.conmon_pidfile,
        "PidFile": ctr.pidfile,
        "Name": c.name,
        "RestartCount": ctr.state.restart_count,
        "Driver": c.graph_driver or "dir",
        "GraphDriver": _graph_driver(ctr),
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "EffectiveCaps": [] if c.privileged else list(DEFAULT_CAPABILITIES),
        "BoundingCaps": [] if c.privileged else list(DEFAULT_CAPABILITIES),
        "ExecIDs": [],
        "Mounts": _mounts(ctr),
        "Dependencies": c.dependencies(),
        "NetworkSettings": _network_settings(ctr),
        "Namespace": c.namespace,
        "IsInfra": c.is_infra,
        "Config": _config(ctr),
        "HostConfig": _host_config(ctr),
    }


def ago(seconds: float) -> str:
    """podman's human durations (go-units' ``HumanDuration``): "Less than a second",
    "5 seconds", "About a minute", "3 hours", "2 weeks", "4 years"."""
    if seconds < 1:
        return "Less than a second"
    whole = int(seconds)
    if whole < 60:
        return "1 second" if whole == 1 else f"{whole} seconds"
    minutes = whole // 60
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go's math.Round: half away from zero
    if hours == 1:
        return "About an hour"
    for limit, per, unit in ((48, 1, "hours"), (24 * 7 * 2, 24, "days"),
                             (24 * 30 * 2, 24 * 7, "weeks"), (24 * 365 * 2, 24 * 30, "months")):
        if hours < limit:
            return f"{hours // per} {unit}"
    return f"{int(seconds // 3600) // (24 * 365)} years"


def status_text(ctr: Container, now: float) -> str:
    """The STATUS column of ``ps``, as podman 4.3 words it: ``Up 5 seconds ago``,
    ``Exited (3) 2 minutes ago``, else the state capitalised (``Paused``, ``Created``)."""
    st = ctr.state
    if st.state is S.RUNNING:
        return f"Up {ago(now - st.started_at)} ago"
    if st.state in (S.EXITED, S.STOPPED):
        return f"Exited ({st.exit_code}) {ago(now - st.finished_at)} ago"
    return st.state.value.capitalize() if st.state is not S.CONFIGURED else "Created"


def _image_digest(ctr: Container) -> str:
    """podman's ``ImageDigest``: the manifest digest of the container's image, while the
    store has it ("" for a ``--rootfs`` container, or once the image is gone)."""
    if not ctr.config.image_id:
        return ""
    try:
        return ctr.runtime.get_image(ctr.config.image_id).digest
    except PypodError:
        return ""


def _network_mode(c: ContainerConfig) -> str:
    """podman's ``HostConfig.NetworkMode``: ``container:ID`` for a shared namespace."""
    if "net" in c.shared_namespaces:
        return f"container:{c.shared_namespaces['net']}"
    if c.network_mode == "bridge":
        return ",".join(c.networks) or "bridge"
    return c.network_mode


def ports_text(entry: dict[str, Any]) -> str:
    """``ps``'s PORTS column, as podman writes it: ``0.0.0.0:8080->80/tcp, ...``."""
    return ", ".join(f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}->"
                     f"{p['container_port']}/{p['protocol']}" for p in entry["Ports"] or ())


def ps_entry(ctr: Container, now: float) -> dict[str, Any]:
    """One container as ``podman ps --format json`` shows it."""
    c, st = ctr.config, ctr.state
    exited = st.state in (S.EXITED, S.STOPPED)
    return {
        "AutoRemove": c.auto_remove,
        "Command": cmd_of(c),
        "CreatedAt": f"{ago(now - c.created)} ago",
        "Exited": exited,
        "ExitedAt": int(st.finished_at) if st.finished_at else ZERO_UNIX,
        "ExitCode": st.exit_code,
        "Id": c.id,
        "Image": c.image_name,
        "ImageID": c.image_id,
        "IsInfra": c.is_infra,
        "Labels": dict(c.labels) or None,
        "Mounts": [*(m.destination for m in c.mounts),
                   *(v.destination for v in c.named_volumes),
                   *(v.destination for v in c.image_volumes)],
        "Names": [c.name],
        "Namespaces": {},
        "Networks": (list(c.network_list(ctr.runtime.config.cni_default_network))
                     if c.network_mode == "bridge" else list(c.networks)),
        "Pid": st.pid,
        "Pod": c.pod,
        "PodName": "",
        "Ports": [{"host_ip": m.host_ip, "container_port": m.container_port,
                   "host_port": m.host_port, "range": 1, "protocol": m.protocol}
                  for m in c.port_mappings] or None,
        "Size": None,
        "StartedAt": int(st.started_at) if st.started_at else ZERO_UNIX,
        "State": status_word(st.state),
        "Status": status_text(ctr, now),
        "Created": int(c.created),
    }
