"""``pypod info``: what the host, the store, the registries and the plugins are."""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import TYPE_CHECKING, Any

from pypod_core.errors import PypodError
from pypod_core.host.registries import load_registries, registries_conf_path

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
    """os, arch, kernel, cpus, memory, hostname, uptime, rootless, and the binaries."""
    mem = _meminfo()
    oci = runtime.oci_runtime
    return {
        "os": platform.system().lower(),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "memTotal": mem.get("MemTotal", 0),
        "memFree": mem.get("MemAvailable", mem.get("MemFree", 0)),
        "hostname": socket.gethostname(),
        "uptime": _uptime(),
        "rootless": runtime.rootless,
        "ociRuntime": {"name": runtime.config.runtime, "path": runtime.runtime_binary,
                       "version": _safe_version(oci)},
        "conmon": {"path": runtime.conmon_binary},
    }


def _safe_version(oci: Any) -> str:
    try:
        return oci.version() if oci is not None else ""
    except Exception:  # a broken binary must not break `pypod info`
        return "unknown"


def store_info(runtime: Runtime) -> dict[str, Any]:
    """Paths of the store, its graph driver (and what the driver says of itself,
    podman's ``graphStatus``), and how many containers, pods, images and layers it
    holds."""
    c = runtime.config
    number, running = runtime.state.container_counts()  # not every record read
    images = _image_info(runtime)
    return {
        "configFile": c.source,
        "graphRoot": c.graph_root,
        "runRoot": c.run_root,
        "graphDriverName": images["driver"] or c.graph_driver,
        "graphStatus": images["status"],
        "staticDir": c.static_dir,
        "tmpDir": c.tmp_dir,
        "volumePath": c.volume_path,
        "stateType": c.state_type,
        "containerStore": {"number": number, "running": running},
        "podStore": {"number": len(runtime.state.all_pods())},
        "imageStore": {"number": images["images"]},
        "layerStore": {"number": images["layers"]},
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
        ("oci_runtime", runtime.config.runtime, runtime.oci_runtime),
        ("network", runtime.config.network_backend, runtime.network),
        ("firewall", runtime.config.firewall_backend, runtime.firewall),
    ):
        decl = runtime.plugins.backends(family).get(key)
        selected[family] = {
            "name": key if obj is not None else "",
            "plugin": decl.plugin if decl else "",
            "distribution": decl.distribution if decl else "",
        }
    return {"selected": selected, "installed": runtime.plugins.rows()}


def runtime_info(runtime: Runtime) -> dict[str, Any]:
    """The whole of ``pypod info``."""
    registries = read_registries(runtime.config.registries_conf)
    return {
        "host": host_info(runtime),
        "store": store_info(runtime),
        "registries": {"search": registries["search"]},
        "insecure registries": {"registries": registries["insecure"]},
        "plugins": plugins_info(runtime),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
