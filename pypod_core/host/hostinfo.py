"""What ``info`` reports of the host itself: the distribution, the cgroup version and its
controllers, swap, the filesystem under a path, and the package a binary came from.

Each reader tolerates a host without the file it reads (an empty answer, never an
error): ``info`` must work on any host.
"""

from __future__ import annotations

import os
import shutil
import subprocess

#: uname's machine name -> Go's architecture name (what podman's ``info`` shows).
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386",
           "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64", "mips64": "mips64"}


def go_arch() -> str:
    """The host's architecture as Go (and podman) names it: ``amd64``, ``arm64``."""
    machine = os.uname().machine
    return GO_ARCH.get(machine, machine)


def distribution(path: str = "/etc/os-release") -> dict[str, str]:
    """``distribution``, ``version`` and ``codename`` from os-release (ID, VERSION_ID,
    VERSION_CODENAME); empty strings where it says nothing."""
    values: dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip().strip("\"'")
    except OSError:
        pass
    return {"distribution": values.get("ID", ""), "version": values.get("VERSION_ID", ""),
            "codename": values.get("VERSION_CODENAME", "")}


def cgroup_version(root: str = "/sys/fs/cgroup") -> str:
    """``v2`` where ``root`` is the unified hierarchy, else ``v1``."""
    return "v2" if os.path.exists(os.path.join(root, "cgroup.controllers")) else "v1"


def cgroup_controllers(root: str = "/sys/fs/cgroup") -> list[str]:
    """The controllers available: the unified root's list (v2), else the enabled ones
    of /proc/cgroups (v1)."""
    try:
        if cgroup_version(root) == "v2":
            with open(os.path.join(root, "cgroup.controllers")) as f:
                return f.read().split()
        with open("/proc/cgroups") as f:
            rows = [line.split() for line in f if not line.startswith("#")]
        return [row[0] for row in rows if len(row) >= 4 and row[3] == "1"]
    except OSError:
        return []


def swap() -> tuple[int, int]:
    """Swap (total, free) in bytes, from /proc/meminfo; zeros without it."""
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("SwapTotal", "SwapFree"):
                    values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return values.get("SwapTotal", 0), values.get("SwapFree", 0)


def filesystem_usage(path: str) -> tuple[int, int]:
    """(allocated, used) bytes of the filesystem holding ``path`` (or its nearest
    existing parent); zeros if none can be read."""
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        st = os.statvfs(path or "/")
    except OSError:
        return 0, 0
    return st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize


def package_of(path: str) -> str:
    """The distribution package that installed ``path``, as podman names it
    (Debian: ``name_version_arch``; rpm: its NVRA); ``""`` if no package manager knows
    it."""
    if not path:
        return ""
    real = os.path.realpath(path)
    if shutil.which("dpkg-query"):
        owner = _output(["dpkg-query", "-S", real]) or _output(["dpkg-query", "-S", path])
        name = owner.split(":", 1)[0].strip() if owner else ""
        if name and "," not in name:
            return _output(["dpkg-query", "-W", "-f",
                            "${Package}_${Version}_${Architecture}", name])
    if shutil.which("rpm"):
        return _output(["rpm", "-qf", real])
    return ""


def buildah_version() -> str:
    """The version of the ``buildah`` binary on PATH (``1.28.2``), ``""`` if there is
    none: pypod builds no images itself and sends ``build`` to it."""
    path = shutil.which("buildah")
    words = _output([path, "--version"]).split() if path else []
    # "buildah version 1.28.2 (image-spec ...)"
    return words[2] if len(words) > 2 and words[1] == "version" else ""


def _output(argv: list[str]) -> str:
    """A command's first line of output, ``""`` if it fails."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = proc.stdout.splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else ""
