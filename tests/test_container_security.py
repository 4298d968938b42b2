"""A container's confinement, as podman's: the default seccomp profile, capabilities
(``--cap-add``, ``--cap-drop``, ``--privileged``), ``--security-opt`` (seccomp,
no-new-privileges, apparmor, mask, unmask) — read from ``/proc/self/status`` inside real
containers under runc and crun, and the system calls a static probe makes there.

The figures asserted are podman 4.3.1's on this kind of host (Debian's containers-common
0.50 profile and default capabilities): Seccomp 2, CapEff 00000000800405fb, NoNewPrivs 0;
add_key fails with ENOSYS (not in the profile: its default action), keyctl and
unshare(CLONE_NEWUSER) are allowed by that profile, so they work in both.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine import seccomp
from pypod_core.engine.bundle import ExecUser, build_spec, own_bounding_set
from pypod_core.engine.security import merge_capabilities, normalize_capabilities
from pypod_core.errors import ConfigError, InvalidArgError
from pypod_core.host.rootfs import make_busybox_rootfs
from pypod_core.model import ContainerConfig, new_id

Pypod = Callable[..., subprocess.CompletedProcess[str]]

#: A static program that makes system calls and prints each one's outcome.
PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    long r = -1;
    if (!strcmp(argv[i], "add_key")) r = syscall(SYS_add_key, "user", "pypod", "x", 1, -2);
    else if (!strcmp(argv[i], "keyctl")) r = syscall(SYS_keyctl, 1 /* JOIN_SESSION */, 0);
    else if (!strcmp(argv[i], "unshare_user")) r = unshare(CLONE_NEWUSER);
    else if (!strcmp(argv[i], "personality")) r = personality(0x0040000 /* NO_RANDOM */);
    else return 2;
    printf("%s=%s\n", argv[i], r < 0 ? strerrorname_np(errno) : "ok");
  }
  return 0;
}
"""
STATUS = "grep -E '^(Seccomp|CapEff|NoNewPrivs):' /proc/self/status"
#: podman's CapEff for root with containers.conf's 11 default capabilities.
DEFAULT_CAPEFF = "00000000800405fb"


@pytest.fixture(scope="module")
def probe_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox rootfs with ``/bin/probe`` (built with gcc -static)."""
    need_binary("busybox")
    gcc = need_binary("gcc", "gcc")
    need_file(f"/usr/lib/{os.uname().machine}-linux-gnu/libc.a", "libc6-dev")
    root = make_busybox_rootfs(str(tmp_path_factory.mktemp("probe-rootfs")))
    source = Path(root).parent / "probe.c"
    source.write_text(PROBE_C)
    subprocess.run([gcc, "-static", "-O2", "-o", f"{root}/bin/probe", str(source)],
                   check=True)
    return root


@pytest.fixture(params=["runc", "crun"])
def pypod(request: pytest.FixtureRequest, cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store with runc or crun."""
    need_binary(request.param)
    need_binary("conmon")
    flags = [*cli_flags, "--runtime", request.param]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pypod(*flags, *args)

    yield call
    run_pypod(*flags, "rm", "-a", "-f", "-t", "0")


def status(pypod: Pypod, rootfs: str, *flags: str, probe: str = "") -> dict[str, str]:
    """/proc/self/status's Seccomp, CapEff and NoNewPrivs, and the probe's outcomes, in
    a container run with ``flags``."""
    script = STATUS + (f"; probe {probe}" if probe else "")
    result = pypod("run", "--rm", *flags, "--rootfs", rootfs, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    pairs = (line.replace(":", "=", 1).split("=", 1) for line in result.stdout.splitlines())
    return {k.strip(): v.strip() for k, v in pairs}


def need_file(path: str, package: str) -> None:
    """Skip without ``path`` (fail under CI=true: the set-up should have installed it)."""
    if not os.path.exists(path):
        what = f"{path} is missing (Debian's {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what}: scripts/setup.sh should have installed it")
        pytest.skip(what)


def need_default_profile() -> None:
    need_file("/usr/share/containers/seccomp.json", "golang-github-containers-common")


def test_default_container_has_podmans_seccomp_filter(pypod: Pypod, probe_rootfs: str) -> None:
    need_default_profile()
    got = status(pypod, probe_rootfs, probe="add_key keyctl unshare_user personality")
    assert got == {"Seccomp": "2", "CapEff": DEFAULT_CAPEFF, "NoNewPrivs": "0",
                   "add_key": "ENOSYS", "keyctl": "ok", "unshare_user": "ok",
                   "personality": "ENOSYS"}


def test_unconfined_has_no_filter(pypod: Pypod, probe_rootfs: str) -> None:
    got = status(pypod, probe_rootfs, "--security-opt", "seccomp=unconfined",
                 probe="add_key keyctl unshare_user personality")
    assert got == {"Seccomp": "0", "CapEff": DEFAULT_CAPEFF, "NoNewPrivs": "0",
                   "add_key": "ok", "keyctl": "ok", "unshare_user": "ok",
                   "personality": "ok"}


def test_capabilities_added_and_dropped(pypod: Pypod, probe_rootfs: str) -> None:
    need_default_profile()
    got = status(pypod, probe_rootfs, "--cap-add", "sys_admin", "--cap-drop", "CAP_CHOWN")
    assert got["CapEff"] == "00000000802405fa"  # + SYS_ADMIN (21), - CHOWN (0)
    only = status(pypod, probe_rootfs, "--cap-drop", "ALL", "--cap-add", "Net_Bind_Service")
    assert only["CapEff"] == f"{1 << 10:016x}"
    nobody = pypod("run", "--rm", "--user", "65534", "--cap-add", "net_admin", "--rootfs",
                   probe_rootfs, "grep", "-E", "^Cap(Eff|Amb):", "/proc/self/status")
    # As podman: a non-root user gets only what was added, as ambient capabilities.
    assert nobody.stdout.split() == ["CapEff:", f"{1 << 12:016x}", "CapAmb:",
                                     f"{1 << 12:016x}"]


def test_privileged_is_unconfined(pypod: Pypod, probe_rootfs: str) -> None:
    got = status(pypod, probe_rootfs, "--privileged", probe="add_key")
    bounding = sum(1 << n for n, c in enumerate(_all_caps()) if c in own_bounding_set())
    assert got == {"Seccomp": "0", "CapEff": f"{bounding:016x}", "NoNewPrivs": "0",
                   "add_key": "ok"}
    kcore = pypod("run", "--rm", "--privileged", "--rootfs", probe_rootfs, "sh", "-c",
                  "grep -c ' /proc/kcore ' /proc/self/mountinfo || true")
    assert kcore.stdout.strip() == "0"  # not masked


def _all_caps() -> tuple[str, ...]:
    from pypod_core.engine.bundle import ALL_CAPABILITIES

    return ALL_CAPABILITIES


def test_no_new_privileges_also_for_exec(pypod: Pypod, probe_rootfs: str) -> None:
    assert status(pypod, probe_rootfs, "--security-opt", "no-new-privileges")[
        "NoNewPrivs"] == "1"
    assert status(pypod, probe_rootfs, "--security-opt", "no-new-privileges=false")[
        "NoNewPrivs"] == "0"
    started = pypod("run", "-d", "--security-opt", "no-new-privileges", "--cap-drop", "chown",
                    "--rootfs", probe_rootfs, "sleep", "60")
    assert started.returncode == 0, started.stderr
    ctr = started.stdout.strip()
    execed = pypod("exec", ctr, "sh", "-c", f"{STATUS}; probe add_key")
    assert execed.stdout.split() == ["CapEff:", "00000000800405fa", "NoNewPrivs:", "1",
                                     "Seccomp:", "2", "add_key=ENOSYS"]
    (shown,) = json.loads(pypod("inspect", ctr).stdout)
    host = shown["HostConfig"]
    assert (host["CapDrop"], host["SecurityOpt"], host["Init"]) == (
        ["CAP_CHOWN"], ["no-new-privileges"], False)


def test_custom_profile_and_mask(pypod: Pypod, probe_rootfs: str, tmp_path: Path) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM"}]}))
    result = pypod("run", "--rm", "--security-opt", f"seccomp={profile}", "--security-opt",
                   "mask=/etc/hostname", "--rootfs", probe_rootfs, "sh", "-c",
                   "mkdir /tmp/x; grep Seccomp: /proc/self/status; wc -c < /etc/hostname")
    assert "Operation not permitted" in result.stderr
    assert result.stdout.split() == ["Seccomp:", "2", "0"]


@pytest.mark.parametrize("flags, message", [
    (["--cap-add", "bogus"], "--cap-add bogus: unknown capability"),
    (["--cap-add", "ALL", "--cap-drop", "all"], "cannot be combined"),
    (["--cap-add", "chown", "--cap-drop", "chown"], "both added and dropped"),
    (["--security-opt", "seccomp=/no/such.json"], "seccomp profile /no/such.json: No such"),
    (["--security-opt", "label=level:s0"], "no SELinux labels"),
    (["--security-opt", "proc-opts=hidepid=2"], "proc-opts"),
    (["--security-opt", "bogus=1"], "unknown option 'bogus'"),
    (["--security-opt", "no-new-privileges=maybe"], "expected true or false"),
    (["--security-opt", "mask=relative"], "not an absolute path"),
])
def test_bad_values_are_refused_leaving_no_record(
        pypod: Pypod, probe_rootfs: str, flags: list[str], message: str) -> None:
    result = pypod("create", *flags, "--rootfs", probe_rootfs, "true")
    assert result.returncode == 125 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert pypod("ps", "-a", "-q").stdout == ""


def test_malformed_profile_is_refused_at_create(make_runtime: Callable[..., Any],
                                                rootfs: str, tmp_path: Path) -> None:
    runtime = make_runtime(state_type="memory")
    bad = tmp_path / "bad.json"
    for text, message in (("{", "invalid JSON"),
                          ('{"defaultAction": "SCMP_ACT_NOPE"}', "unknown action"),
                          ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": '
                           '["read"], "action": "SCMP_ACT_ERRNO", "errno": "EWHAT"}]}',
                           "unknown errno")):
        bad.write_text(text)
        with pytest.raises(InvalidArgError, match=message):
            runtime.create_container(rootfs, ["true"], seccomp_profile=str(bad))
    assert runtime.containers(all=True) == []


def test_apparmor_without_apparmor(make_runtime: Callable[..., Any], rootfs: str,
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pypod_core.engine import security

    runtime = make_runtime(state_type="memory")
    flag = tmp_path / "enabled"
    flag.write_text("N\n")
    monkeypatch.setattr(security, "APPARMOR_ENABLED", str(flag))
    with pytest.raises(InvalidArgError, match="AppArmor is not enabled"):
        runtime.create_container(rootfs, ["true"], apparmor_profile="my-profile")
    ctr = runtime.create_container(rootfs, ["true"], apparmor_profile="unconfined")
    assert ctr.config.apparmor_profile == "unconfined"
    flag.write_text("Y\n")
    confined = runtime.create_container(rootfs, ["true"], apparmor_profile="my-profile")
    spec = build_spec(confined.config, user=ExecUser())
    assert spec["process"]["apparmorProfile"] == "my-profile"


def test_default_profile_paths(make_runtime: Callable[..., Any], rootfs: str,
                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine.json"
    mine.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    runtime = make_runtime(state_type="memory", seccomp_profile=str(mine))
    assert runtime.create_container(rootfs, ["true"]).config.seccomp_profile == str(mine)
    privileged = runtime.create_container(rootfs, ["true"], privileged=True)
    assert privileged.config.seccomp_profile == "unconfined"  # as podman
    monkeypatch.setattr(seccomp, "DEFAULT_PROFILES", (str(tmp_path / "none.json"),))
    runtime.config.seccomp_profile = ""
    with pytest.raises(InvalidArgError, match="no default seccomp profile.*unconfined"):
        runtime.create_container(rootfs, ["true"])
    assert runtime.create_container(rootfs, ["true"], seccomp_profile="unconfined")
    assert len(runtime.containers(all=True)) == 3


def test_label_true_is_refused(make_runtime: Callable[..., Any], rootfs: str) -> None:
    runtime = make_runtime(state_type="memory", label=True)
    with pytest.raises(ConfigError, match="label = true: .*set label = false"):
        runtime.create_container(rootfs, ["true"])
    assert runtime.containers(all=True) == []


def test_records_made_before_keep_loading() -> None:
    from pypod_core.serialize import from_dict, to_dict

    old = to_dict(ContainerConfig(id=new_id(), name="c", rootfs="/r", command=("true",)))
    for key in ("cap_add", "cap_drop", "seccomp_profile", "no_new_privileges",
                "apparmor_profile", "mask", "unmask", "init", "init_path"):
        del old[key]
    loaded = from_dict(old, ContainerConfig)
    assert (loaded.cap_add, loaded.seccomp_profile, loaded.init) == ((), "", False)
    assert "seccomp" not in build_spec(loaded, user=ExecUser())["linux"]


# -- the translation and the merge, without containers -------------------------------


PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                 "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM",
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"name": "personality", "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    ],
}


def test_translate_filters_blocks_by_capabilities_and_arch() -> None:
    amd64 = seccomp.translate(PROFILE, ["CAP_CHOWN"], arch="amd64")
    assert amd64 is not None
    assert amd64["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert amd64["defaultErrnoRet"] == 38
    assert [(s["names"], s["action"], s.get("errnoRet")) for s in amd64["syscalls"]] == [
        (["read"], "SCMP_ACT_ALLOW", None), (["arch_prctl"], "SCMP_ACT_ALLOW", None),
        (["bpf"], "SCMP_ACT_ERRNO", 1), (["personality"], "SCMP_ACT_ALLOW", None)]
    assert amd64["syscalls"][-1]["args"] == [
        {"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]
    arm = seccomp.translate(PROFILE, ["CAP_SYS_ADMIN"], arch="arm64")
    assert arm is not None and arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert [s["names"][0] for s in arm["syscalls"]] == ["read", "bpf", "personality"]
    assert arm["syscalls"][1]["action"] == "SCMP_ACT_ALLOW"
    assert seccomp.translate({"syscalls": []}, []) is None  # seccomp disabled


@pytest.mark.parametrize("profile, message", [
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "both 'architectures'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}, "both 'name'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}, "operator"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": "read"}, "must be an array"),
])
def test_translate_refuses_malformed_profiles(profile: dict, message: str) -> None:
    with pytest.raises(InvalidArgError, match=message):
        seccomp.translate(profile, [], arch="amd64", where="p.json")


def test_capability_names_and_merge() -> None:
    assert normalize_capabilities(["net_admin", "CAP_CHOWN", "all"], "--cap-add") == (
        "CAP_NET_ADMIN", "CAP_CHOWN", "ALL")
    with pytest.raises(InvalidArgError, match="--cap-drop CAP_NOPE: unknown capability"):
        normalize_capabilities(["CAP_NOPE"], "--cap-drop")
    bounding = ("CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN")
    assert merge_capabilities(["CAP_CHOWN", "CAP_KILL"], ["CAP_NET_ADMIN"], ["CAP_KILL"],
                              bounding) == ["CAP_CHOWN", "CAP_NET_ADMIN"]
    assert merge_capabilities(["CAP_CHOWN"], ["ALL"], ["CAP_KILL"], bounding) == [
        "CAP_CHOWN", "CAP_NET_ADMIN"]
    assert merge_capabilities(["CAP_CHOWN"], ["CAP_KILL", "CAP_SYS_TIME"], ["ALL"],
                              bounding) == ["CAP_KILL"]  # none beyond our bounding set


def test_unmask_and_mask_in_the_spec() -> None:
    def linux(**fields: Any) -> dict[str, Any]:
        config = ContainerConfig(id=new_id(), name="c", rootfs="/r", command=("true",),
                                 **fields)
        return build_spec(config, user=ExecUser())["linux"]

    some = linux(unmask=("/proc/k*", "/sys/firmware"), mask=("/srv",))
    assert "/proc/kcore" not in some["maskedPaths"] and "/proc/keys" not in some["maskedPaths"]
    assert "/sys/firmware" not in some["maskedPaths"] and "/proc/acpi" in some["maskedPaths"]
    assert some["maskedPaths"][-1] == "/srv"
    everything = linux(unmask=("ALL",))
    assert everything["maskedPaths"] == [] and everything["readonlyPaths"] == []
    assert linux(privileged=True, mask=("/srv",))["maskedPaths"] == ["/srv"]


def test_security_opt_parsing() -> None:
    from pypod_core.cli.options import parse_security_opts

    assert parse_security_opts(["seccomp=unconfined", "no-new-privileges",
                                "apparmor:unconfined", "mask=/a:/b", "unmask=all",
                                "systempaths=unconfined", "label=disable"]) == {
        "seccomp_profile": "unconfined", "no_new_privileges": True,
        "apparmor_profile": "unconfined", "mask": ("/a", "/b"), "unmask": ("ALL", "ALL")}
    assert parse_security_opts(["seccomp=rel.json"])["seccomp_profile"] == \
        os.path.abspath("rel.json")
    for bad in ("seccomp", "seccomp=", "systempaths=x", "label=user:u"):
        with pytest.raises(InvalidArgError):
            parse_security_opts([bad])
