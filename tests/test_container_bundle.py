"""The OCI bundle pypod writes: config.json from a container's configuration (no
container runs)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from pypod_core.engine.bundle import (
    DEFAULT_CAPABILITIES,
    ExecUser,
    build_spec,
    resolve_user,
    rlimits,
)
from pypod_core.errors import InvalidArgError
from pypod_core.model import ContainerConfig, Mount, Rlimit, new_id


def config(**fields) -> ContainerConfig:
    return ContainerConfig(id=new_id(), name="c", rootfs="/srv/rootfs",
                           command=("sh", "-c", "true"), **fields)


def ns_types(spec: dict) -> dict[str, str]:
    return {n["type"]: n.get("path", "") for n in spec["linux"]["namespaces"]}


def test_defaults_follow_podman() -> None:
    c = config(env={"A": "1"}, workdir="/w")
    spec = build_spec(c, user=ExecUser(home="/root"))
    process = spec["process"]
    assert process["args"] == ["sh", "-c", "true"] and process["cwd"] == "/w"
    assert process["env"][0].startswith("PATH=/usr/local/sbin:")
    assert "A=1" in process["env"] and "HOME=/root" in process["env"]
    assert process["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    assert process["noNewPrivileges"] is False  # as podman: only with --security-opt
    assert spec["hostname"] == c.id[:12]
    assert spec["root"] == {"path": "/srv/rootfs", "readonly": False}
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]
    assert spec["linux"]["cgroupsPath"] == f"/pypod/{c.id}"


def test_network_modes_and_shared_namespaces() -> None:
    assert ns_types(build_spec(config(), user=ExecUser()))["network"] == ""
    assert "network" not in ns_types(build_spec(config(network_mode="host"), user=ExecUser()))
    bridged = build_spec(config(network_mode="bridge"), user=ExecUser(),
                         netns_path="/run/pypod/netns/x")
    assert ns_types(bridged)["network"] == "/run/pypod/netns/x"
    shared = build_spec(config(), user=ExecUser(),
                        shared_namespaces={"uts": "/proc/42/ns/uts", "net": "/proc/42/ns/net"})
    assert ns_types(shared)["uts"] == "/proc/42/ns/uts"
    assert ns_types(shared)["network"] == "/proc/42/ns/net"
    assert "hostname" not in shared  # the shared UTS namespace has its own


def test_read_only_privileged_and_bind_mounts(tmp_path: Path) -> None:
    ro = build_spec(config(read_only=True, mounts=(Mount(str(tmp_path), "/data", True),)),
                    user=ExecUser())
    assert ro["root"]["readonly"] is True
    tmpfs = [m["destination"] for m in ro["mounts"] if m["type"] == "tmpfs"]
    assert {"/run", "/tmp", "/var/tmp"} <= set(tmpfs)
    (bind,) = [m for m in ro["mounts"] if m["type"] == "bind"]
    assert (bind["source"], bind["destination"], "ro" in bind["options"]) == (
        str(tmp_path), "/data", True)
    with pytest.raises(InvalidArgError):
        build_spec(config(mounts=(Mount("/no/such/dir", "/x"),)), user=ExecUser())
    privileged = build_spec(config(privileged=True), user=ExecUser())
    assert "maskedPaths" not in privileged["linux"]
    assert privileged["process"]["noNewPrivileges"] is False
    assert len(privileged["process"]["capabilities"]["bounding"]) > len(DEFAULT_CAPABILITIES)
    assert any(d["path"] == "/dev/null" for d in privileged["linux"]["devices"])


def test_rlimits_never_exceed_the_hosts_hard_limits() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limits = {r["type"]: r for r in rlimits(config(
        rlimits=(Rlimit("RLIMIT_NOFILE", 10**12, 10**12), Rlimit("RLIMIT_CORE", 0, 0))))}
    assert limits["RLIMIT_NOFILE"]["hard"] == limits["RLIMIT_NOFILE"]["soft"] == hard
    assert limits["RLIMIT_CORE"] == {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    host_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if host_nproc == resource.RLIM_INFINITY:
        host_nproc = 2**64 - 1
    assert limits["RLIMIT_NPROC"]["hard"] == min(4194304, host_nproc)  # podman's default


def test_users_resolve_in_the_rootfs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app\n")
    rootfs = str(tmp_path)
    assert resolve_user(rootfs, "") == ExecUser(0, 0, (), "/root")
    assert resolve_user(rootfs, "app") == ExecUser(1000, 1000, (10,), "/home/app")
    assert resolve_user(rootfs, "app:wheel") == ExecUser(1000, 10, (), "/home/app")
    assert resolve_user(rootfs, "4242") == ExecUser(4242, 0, (), "/")
    assert resolve_user(rootfs, "4242:7") == ExecUser(4242, 7, (), "/")
    with pytest.raises(InvalidArgError):
        resolve_user(rootfs, "nobody-here")
    with pytest.raises(InvalidArgError):
        resolve_user(rootfs, "app:nogroup")
