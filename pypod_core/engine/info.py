"""``pypod info``: what the host, the store, the registries and the plugins are."""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import TYPE_CHECKING, Any

from pypod_core.errors import PypodError
from pypod_core.host.registries import load_registries, registries_conf_path
from pypod_core.plugin.entrypoints import version

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def _uptime() -> str:
    try:
        with open("/proc/uptime") as f:
            seconds = int(float(f.read().split()[0]))
    except OSError:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60}m {rest % 60}s"


def host_info(runtime: Runtime) -> dict[str, Any]:
    """podman's ``host`` section (its keys, in its order) from what pypod runs with."""
    # lazy: only info (bundle ~3 ms, hostinfo ~5 ms)
    from pypod_core.engine.bundle import DEFAULT_CAPABILITIES
    from pypod_core.host import hostinfo

    mem = _meminfo()
    config = runtime.config
    swap_total, swap_free = hostinfo.swap()
    seccomp = _seccomp_profile(config.seccomp_profile)
    buildah = hostinfo.buildah_version()
    return {
        "arch": hostinfo.go_arch(),
        # podman's is its build library's; pypod's build is buildah's, the binary's
        **({"buildahVersion": buildah} if buildah else {}),
        "cgroupManager": config.cgroup_manager,
        "cgroupVersion": hostinfo.cgroup_version(),
        "cgroupControllers": hostinfo.cgroup_controllers(),
        "conmon": _binary(runtime.conmon_binary, _version_output(runtime.conmon_binary)),
        "cpus": os.cpu_count(),
        "distribution": hostinfo.distribution(),
        # pypod keeps no events log (its events are plugin hooks).
        "eventLogger": "none",
        "hostname": socket.gethostname(),
        "idMappings": {"gidmap": None, "uidmap": None},
        "kernel": platform.release(),
        "logDriver": "k8s-file",
        "memFree": mem.get("MemAvailable", mem.get("MemFree", 0)),
        "memTotal": mem.get("MemTotal", 0),
        "networkBackend": config.network_backend,
        "ociRuntime": {"name": config.runtime,
                       **_binary(runtime.runtime_binary, _safe_version(runtime.oci_runtime))},
        "os": platform.system().lower(),
        "security": {"apparmorEnabled": False,
                     "capabilities": ",".join(DEFAULT_CAPABILITIES),
                     "rootless": runtime.rootless,
                     "seccompEnabled": bool(seccomp),
                     "seccompProfilePath": seccomp,
                     "selinuxEnabled": config.label},
        **_slirp4netns(),
        "swapFree": swap_free,
        "swapTotal": swap_total,
        "uptime": _uptime(),
    }


def _binary(path: str, version: str) -> dict[str, str]:
    """``package``, ``path`` and ``version`` of a helper binary, as podman shows them."""
    from pypod_core.host.hostinfo import package_of  # lazy: only info (hostinfo ~5 ms)

    return {"package": package_of(path), "path": path, "version": version}


def _slirp4netns() -> dict[str, Any]:
    """podman's ``slirp4netns`` key (the binary ``--network slirp4netns`` runs), where
    the binary is installed."""
    import shutil  # lazy: only info (~1.5 ms, with bz2 and lzma)

    path = shutil.which("slirp4netns")
    if path is None:
        return {}
    from pypod_core.host.hostinfo import package_of  # lazy: only info (hostinfo ~5 ms)

    return {"slirp4netns": {"executable": path, "package": package_of(path),
                            "version": _version_output(path, lines=None)}}


def _version_output(path: str, lines: int | None = 1) -> str:
    """``PATH --version``'s first line (``lines`` None: all of it), "unknown" if the
    binary does not answer."""
    import subprocess  # lazy: only info

    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if not out.stdout:
        return "unknown"
    return out.stdout.strip() if lines is None else out.stdout.splitlines()[0]


def _seccomp_profile(configured: str) -> str:
    from pypod_core.engine.seccomp import default_profile  # lazy: only info (seccomp ~0.5 ms)

    try:
        return default_profile(configured)
    except PypodError:
        return ""


def _safe_version(oci: Any) -> str:
    try:
        return oci.version() if oci is not None else ""
    except Exception:  # a broken binary must not break `pypod info`
        return "unknown"


def store_info(runtime: Runtime) -> dict[str, Any]:
    """podman's ``store`` section: paths of the store, its graph driver (and what the
    driver says of itself, ``graphStatus``), the filesystem's size, and how many
    containers (by state), images and layers it holds; then pypod's own keys (state
    backend, static and tmp directories, pods)."""
    from pypod_core.host.hostinfo import filesystem_usage  # lazy: only info (hostinfo ~5 ms)

    c = runtime.config
    number, running, paused = runtime.state.container_counts()  # not every record read
    images = _image_info(runtime)
    allocated, used = filesystem_usage(c.graph_root)
    return {
        "configFile": c.source,
        "containerStore": {"number": number, "paused": paused, "running": running,
                           "stopped": number - paused - running},
        "graphDriverName": images["driver"] or c.graph_driver,
        "graphOptions": {},
        "graphRoot": c.graph_root,
        "graphRootAllocated": allocated,
        "graphRootUsed": used,
        "graphStatus": images["status"],
        "imageCopyTmpDir": c.tmp_dir,
        "imageStore": {"number": images["images"]},
        "runRoot": c.run_root,
        "volumePath": c.volume_path,
        "layerStore": {"number": images["layers"]},
        "podStore": {"number": len(runtime.state.all_pods())},
        "staticDir": c.static_dir,
        "stateType": c.state_type,
        "tmpDir": c.tmp_dir,
    }


def _image_info(runtime: Runtime) -> dict[str, Any]:
    """The graph driver images use (the configured one, or ``vfs`` where overlay cannot
    mount), its status, and the counts of images and layers.  A store that cannot be
    read, or ``graph_driver = "dir"`` (no images), shows none rather than breaking
    ``info``."""
    try:
        driver = runtime.graph_driver
        return {"driver": driver.name, "status": driver.status(),
                "images": len(runtime.images()),
                "layers": sum(1 for _ in driver.layers())}
    except PypodError:
        return {"driver": "", "status": {}, "images": 0, "layers": 0}


def read_registries(path: str) -> dict[str, list[str]]:
    """Search and insecure registries from a registries.conf (v1 or v2 form, and its
    drop-ins), parsed as pulls parse it (:mod:`pypod_core.host.registries`).  A missing
    file is no registries."""
    conf = load_registries(registries_conf_path(path))
    return {"search": list(conf.search),
            "insecure": [reg.location for reg in conf.registries if reg.insecure]}


def plugins_info(runtime: Runtime) -> dict[str, Any]:
    """Every plugin, and which backend of each family is selected (and from where)."""
    selected = {}
    for family, key, obj in (
        ("state", runtime.config.state_type, runtime.state),
        ("oci_runtime", runtime.config.oci_backend(), runtime.oci_runtime),
        ("network", runtime.config.network_backend, runtime.network),
        ("firewall", runtime.config.firewall_backend, runtime.firewall),
    ):
        decl = runtime.plugins.backends(family).get(key)
        selected[family] = {
            "name": key if obj is not None else "",
            "plugin": decl.plugin if decl else "",
            "distribution": decl.distribution if decl else "",
        }
    # podman's three lists first (what a script reads), then pypod's plugin view.
    return {"volume": [runtime.config.volume_driver], "network": ["bridge"],
            "log": ["k8s-file"], "authorization": None,
            "selected": selected, "installed": runtime.plugins.rows()}


def version_info() -> dict[str, str]:
    """podman's ``version`` section, for pypod: its version and the platform."""
    # lazy: only info and version (hostinfo ~5 ms)
    from pypod_core.host.hostinfo import go_arch

    system = platform.system().lower()
    return {"Version": version("pypod") or "", "PythonVersion": platform.python_version(),
            "OsArch": f"{system}/{go_arch()}", "Os": system}


def runtime_info(runtime: Runtime) -> dict[str, Any]:
    """The whole of ``pypod info``."""
    registries = read_registries(runtime.config.registries_conf)
    return {
        "host": host_info(runtime),
        "store": store_info(runtime),
        "registries": {"search": registries["search"]},
        "insecure registries": {"registries": registries["insecure"]},
        "plugins": plugins_info(runtime),
        "version": version_info(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
