"""``run``/``create`` resource flags: ``--memory`` and its kin, ``--cpus``, the CFS pair,
cpusets, ``--pids-limit``, ``--blkio-weight``, ``--oom-score-adj``, ``--shm-size``,
``--device`` and ``--device-cgroup-rule``.  Real runc under conmon: each limit is read
back from the container's cgroup files on the host (this machine has cgroups v1: one
hierarchy per controller under /sys/fs/cgroup), from inside the container, from the
spec and from ``inspect`` under podman's keys; bad values get podman 4.3.1's messages.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]
CGROUP = Path("/sys/fs/cgroup")


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store with runc; containers removed afterwards."""
    need_binary("runc")
    need_binary("conmon")
    flags = [*cli_flags, "--runtime", "runc"]

    def call(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_pypod(*flags, *args, **kwargs)  # type: ignore[arg-type]

    yield call
    call("rm", "-a", "-f", "-t", "0")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def cgroup_file(controller: str, ctr_id: str, name: str) -> str:
    """A file of the container's cgroup (v1: ``CONTROLLER/pypod/ID/NAME``; v2: the one
    unified directory)."""
    v1 = CGROUP / controller / "pypod" / ctr_id / name
    path = v1 if (CGROUP / controller).is_dir() else CGROUP / "pypod" / ctr_id / name
    return path.read_text().strip()


def spec_of(pypod: Pypod, ctr: str) -> dict:
    path = ok(pypod("inspect", "--format", "{{.OCIConfigPath}}", ctr)).strip()
    return json.loads(Path(path).read_text())


def host_config(pypod: Pypod, ctr: str) -> dict:
    return json.loads(ok(pypod("inspect", ctr)))[0]["HostConfig"]


@pytest.mark.skipif(not (CGROUP / "memory").is_dir(), reason="cgroups v1 layout")
def test_runc_applies_the_limits_to_the_cgroup(pypod: Pypod, rootfs: str) -> None:
    ctr = ok(pypod("run", "-d", "-m", "512m", "--memory-reservation", "256m",
                   "--memory-swap", "1g", "--cpus", "1.5", "-c", "512",
                   "--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids-limit", "100",
                   "--blkio-weight", "300", "--rootfs", rootfs, "sleep", "100")).strip()
    assert cgroup_file("memory", ctr, "memory.limit_in_bytes") == str(512 << 20)
    assert cgroup_file("memory", ctr, "memory.soft_limit_in_bytes") == str(256 << 20)
    if (CGROUP / "memory" / "pypod" / ctr / "memory.memsw.limit_in_bytes").exists():
        assert cgroup_file("memory", ctr, "memory.memsw.limit_in_bytes") == str(1 << 30)
    assert cgroup_file("cpu", ctr, "cpu.shares") == "512"
    assert cgroup_file("cpu", ctr, "cpu.cfs_period_us") == "100000"
    assert cgroup_file("cpu", ctr, "cpu.cfs_quota_us") == "150000"
    assert cgroup_file("cpuset", ctr, "cpuset.cpus") == "0"
    assert cgroup_file("cpuset", ctr, "cpuset.mems") == "0"
    assert cgroup_file("pids", ctr, "pids.max") == "100"
    blkio = CGROUP / "blkio" / "pypod" / ctr
    weight = next((f for f in ("blkio.weight", "blkio.bfq.weight") if (blkio / f).exists()),
                  None)
    if weight is not None:  # the weight file the kernel's I/O scheduler has, if any
        assert cgroup_file("blkio", ctr, weight).split()[-1] == "300"
    hc = host_config(pypod, ctr)
    assert (hc["Memory"], hc["MemoryReservation"], hc["MemorySwap"], hc["NanoCpus"],
            hc["CpuShares"], hc["CpuPeriod"], hc["CpuQuota"], hc["CpusetCpus"],
            hc["CpusetMems"], hc["PidsLimit"], hc["BlkioWeight"]) == (
        512 << 20, 256 << 20, 1 << 30, 1_500_000_000, 512, 100000, 150000, "0", "0", 100,
        300)


def test_the_limits_are_written_into_the_spec(pypod: Pypod, rootfs: str) -> None:
    """``create`` records them; the spec of the started container carries them (with
    podman's default swap: twice the memory)."""
    ctr = ok(pypod("create", "--memory", "1g", "--cpu-period", "50000", "--cpu-quota",
                   "25000", "--pids-limit", "-1", "--oom-score-adj", "200",
                   "--rootfs", rootfs, "sleep", "100")).strip()
    assert host_config(pypod, ctr)["MemorySwap"] == 2 << 30
    ok(pypod("start", ctr))
    spec = spec_of(pypod, ctr)
    resources = spec["linux"]["resources"]
    assert resources["memory"] == {"limit": 1 << 30, "swap": 2 << 30}
    assert resources["cpu"] == {"period": 50000, "quota": 25000}
    assert resources["pids"] == {"limit": -1}
    assert spec["process"]["oomScoreAdj"] == 200
    out = ok(pypod("exec", ctr, "cat", "/proc/self/oom_score_adj"))
    assert out.strip() == "200"


def own_caps() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("CapEff:")[1].split()[0], 16)


def test_shm_size_and_oom_score_inside(pypod: Pypod, rootfs: str) -> None:
    out = ok(pypod("run", "--rm", "--shm-size", "1g", "--oom-score-adj", "300",
                   "--rootfs", rootfs, "sh", "-c",
                   "df -k /dev/shm | tail -1; cat /proc/self/oom_score_adj"))
    df, adj = out.splitlines()
    assert df.split()[1] == str(1 << 20)  # 1 KiB blocks
    assert adj == "300"
    lower = pypod("run", "--rm", "--oom-score-adj", "-100", "--rootfs", rootfs, "cat",
                  "/proc/self/oom_score_adj")
    if own_caps() >> 24 & 1:  # CAP_SYS_RESOURCE: the kernel lets the score go down
        assert ok(lower).strip() == "-100"
    else:  # refused at create, saying why
        assert lower.returncode == 125
        assert "needs CAP_SYS_RESOURCE" in lower.stderr
    default = ok(pypod("run", "--rm", "--rootfs", rootfs, "sh", "-c",
                       "df -k /dev/shm | tail -1"))
    assert default.split()[1] == "65536"  # podman's 64m


@pytest.mark.parametrize(("flags", "message"), [
    (["--memory", "abc"], "Error: invalid value for memory: invalid size: 'abc'"),
    (["--memory", "-1"], "Error: invalid value for memory: invalid size: '-1'"),
    (["--memory", "1k"], "Error: minimum memory limit allowed is 6MB"),
    (["--memory-swap", "1g"], "Error: you should always set a memory limit when using a "
                              "memoryswap limit, see usage"),
    (["-m", "1g", "--memory-swap", "512m"],
     "Error: minimum memoryswap limit should be larger than memory limit, see usage"),
    (["-m", "100m", "--memory-reservation", "200m"],
     "Error: minimum memory limit cannot be less than memory reservation limit, see usage"),
    (["--cpus", "x"], 'Error: invalid argument "x" for "--cpus" flag: strconv.ParseFloat: '
                      'parsing "x": invalid syntax'),
    (["--cpu-period", "10"], "Error: CPU cfs period cannot be less than 1ms (i.e. 1000) or "
                             "larger than 1s (i.e. 1000000)"),
    (["--cpu-quota", "10"], "Error: CPU cfs quota cannot be less than 1ms (i.e. 1000)"),
    (["--cpuset-cpus", "a-b"], "Error: invalid value a-b for cpuset cpus"),
    (["--blkio-weight", "5"], "Error: range of blkio weight is from 10 to 1000"),
    (["--shm-size", "lots"], "Error: unable to translate --shm-size: invalid size: 'lots'"),
    (["--pids-limit", "many"], 'Error: invalid argument "many" for "--pids-limit" flag: '
                               'strconv.ParseInt: parsing "many": invalid syntax'),
    (["--device-cgroup-rule", "b 7:* rmX"],
     "Error: invalid device access in device-access-add: X"),
    (["--device-cgroup-rule", "b 7:2"], "Error: invalid device cgroup rule requires type, "
                                        'major:Minor, and access rules: "b 7:2"'),
    (["--device-cgroup-rule", "x 7:* rmw"],
     "Error: invalid device type in device-access-add: x"),
    (["--device-cgroup-rule", "a a:* rmw"],
     'Error: strconv.ParseUint: parsing "a": invalid syntax'),
    (["--device", "/no/such/dev"], "Error: --device /no/such/dev: No such file or directory"),
    (["--device", "/etc/passwd"], "Error: --device /etc/passwd: not a device node"),
])
def test_bad_limits_are_refused_as_podman(pypod: Pypod, rootfs: str, flags: list[str],
                                          message: str) -> None:
    result = pypod("create", *flags, "--rootfs", rootfs, "true")
    assert (result.returncode, result.stderr.strip()) == (125, message)
    assert ok(pypod("ps", "-a", "-q")) == ""  # nothing was made


def test_device_and_cgroup_rules(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    """``--device /dev/null:/dev/mynull:rw`` makes the node and allows it in the device
    cgroup (rw, not m); a rule allows a node made inside, and a node neither allows
    cannot be opened."""
    mem = tmp_path / "mem"  # 1:1, which runc's default rules do not allow
    os.mknod(mem, 0o600 | 0o020000, os.makedev(1, 1))
    ctr = ok(pypod("run", "-d", "--device", "/dev/null:/dev/mynull:rw",
                   "--device", f"{mem}:/dev/mymem:r",
                   "--device-cgroup-rule", "c 1:5 rwm", "--cap-add", "MKNOD",
                   "--rootfs", rootfs, "sleep", "100")).strip()
    out = ok(pypod("exec", ctr, "sh", "-c", "echo x > /dev/mynull && echo written; "
                   "mknod /tmp/zero c 1 5 && head -c 3 /tmp/zero | wc -c; "
                   "mknod /tmp/port c 1 4; head -c 1 /tmp/port >/dev/null 2>&1 || echo refused; "
                   # The rootfs is the session's: no device nodes left for later tests.
                   "rm -f /tmp/zero /tmp/port"))
    assert out.split() == ["written", "3", "refused"]
    if (CGROUP / "devices").is_dir():
        allowed = cgroup_file("devices", ctr, "devices.list").splitlines()
        assert "c 1:1 r" in allowed and "c 1:5 rwm" in allowed  # not runc's defaults
    hc = host_config(pypod, ctr)
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                              "CgroupPermissions": "rw"},
                             {"PathOnHost": str(mem), "PathInContainer": "/dev/mymem",
                              "CgroupPermissions": "r"}]
    assert ok(pypod("exec", ctr, "stat", "-c", "%t:%T", "/dev/mymem")).strip() == "1:1"
    assert hc["DeviceCgroupRules"] == ["c 1:5 rwm"]


def test_device_directory_gives_every_node(pypod: Pypod, rootfs: str,
                                           tmp_path: Path) -> None:
    devdir = tmp_path / "devs"
    devdir.mkdir()
    os.mknod(devdir / "null", 0o666 | 0o020000, os.makedev(1, 3))
    out = ok(pypod("run", "--rm", "--device", f"{devdir}:/dev/mine", "--rootfs", rootfs,
                   "sh", "-c", "ls /dev/mine; echo x > /dev/mine/null && echo ok"))
    assert out.split() == ["null", "ok"]
