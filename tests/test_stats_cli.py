"""``pypod stats``, ``container stats`` and ``pod stats``: real runc containers' memory,
pids, CPU time and network traffic read from their cgroups and network namespaces, in
podman's columns, JSON and templates; a container that is not running shows zeros;
streaming redraws until Ctrl-C, which ends it with exit 0; bad input is one line."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import PYPOD, need_binary, run_pypod
from pypod_core.cli.stats import GoFloat, bytes_size
from pypod_core.host import cgroupfs

Pypod = Callable[..., subprocess.CompletedProcess[str]]

HEADER = ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET IO", "BLOCK IO", "PIDS",
          "CPU TIME", "AVG CPU %"]
#: A shell that holds ~48 MiB of anonymous memory (a variable) and waits for its child
#: (a last command of its own would replace it: busybox's sh execs that).
HOLD_MEMORY = "x=$(head -c 50000000 /dev/zero | tr '\\0' a); echo held; wait"


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    need_binary("runc")
    need_binary("conmon")
    yield lambda *args, **kw: run_pypod(*cli_flags, *args, **kw)
    run_pypod(*cli_flags, "pod", "rm", "-a", "-f", "-t", "0")
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def _columns(line: str) -> list[str]:
    """A table line's cells (they are two or more spaces apart)."""
    import re

    return re.split(r"\s{2,}", line.strip())


def _wait_for_output(pypod: Pypod, name: str, text: str) -> None:
    for _ in range(100):
        if text in pypod("logs", name).stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never printed {text!r}")


def test_memory_pids_and_the_default_table(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "hog", "--memory", "200m", "--rootfs", rootfs,
          "sh", "-c", f"sleep 1000 & sleep 1001 & {HOLD_MEMORY}")
    _wait_for_output(pypod, "hog", "held")
    result = pypod("stats", "--no-stream")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert _columns(lines[0]) == HEADER
    [row] = [_columns(line) for line in lines[1:]]
    assert row[1] == "hog" and len(row[0]) == 12
    used, limit = row[3].split(" / ")
    assert used.endswith("MB") and float(used[:-2]) > 50  # 50,000,000 bytes held
    assert limit == "209.7MB"  # --memory 200m, in go-units' decimal units
    assert 23 < float(row[4].rstrip("%")) < 60  # MEM % of that limit
    assert row[7] == "3"  # the shell and its two sleeps: the cgroup's pids
    assert row[5] == "0B / 0B"  # no network namespace interface but loopback
    figures = pypod("stats", "--no-stream", "--format",
                    "{{.MemUsageBytes}}|{{.MemLimit}}|{{.PIDs}}|{{.CPUNano}}", "hog").stdout
    usage, mem_limit, pids, cpu_nano = figures.strip().split("|")
    assert usage.endswith(" / 200MiB") and mem_limit == str(200 * 1024 * 1024)
    assert pids == "3" and int(cpu_nano) > 0


def test_json_keys_no_trunc_and_templates(pypod: Pypod, rootfs: str) -> None:
    cid = pypod("run", "-d", "--name", "j", "--rootfs", rootfs,
                "sleep", "1000").stdout.strip()
    [entry] = json.loads(pypod("stats", "--no-stream", "--format", "json").stdout)
    assert list(entry) == ["id", "name", "cpu_time", "cpu_percent", "avg_cpu", "mem_usage",
                           "mem_percent", "net_io", "block_io", "pids"]
    assert entry["id"] == cid[:12] and entry["name"] == "j" and entry["pids"] == "1"
    assert entry["cpu_percent"].endswith("%") and entry["mem_usage"].count(" / ") == 1
    table = pypod("container", "stats", "--no-stream", "--no-trunc", "--format",
                  "table {{.ID}} {{.Name}} {{.PIDS}}").stdout.splitlines()
    assert [_columns(line) for line in table] == [["ID", "NAME", "PIDS"], [cid, "j", "1"]]
    plain = pypod("stats", "--no-stream", "--format", "{{.ContainerID}} {{.UpTime}}", "j")
    assert plain.stdout.split()[0] == cid and plain.stdout.split()[1].endswith("s")


def test_cpu_time_and_percent_of_a_busy_container(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "busy", "--rootfs", rootfs,
          "sh", "-c", "while :; do :; done")
    deadline = time.monotonic() + 30  # how soon it has run 50 ms depends on the load
    while True:
        cpu, avg, nano = pypod("stats", "--no-stream", "--format",
                               "{{.CPU}} {{.AvgCPU}} {{.CPUNano}}").stdout.split()
        if int(nano) > 50_000_000 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # The first sample measures from the start: CPU % is the average then.
    assert float(cpu) > 5 and abs(float(cpu) - float(avg)) < 5
    assert int(nano) > 50_000_000


def test_not_running_containers_show_zeros_and_only_with_all(pypod: Pypod,
                                                             rootfs: str) -> None:
    pypod("create", "--name", "idle", "--rootfs", rootfs, "true")
    pypod("run", "-d", "--name", "up", "--rootfs", rootfs, "sleep", "1000")
    names = pypod("stats", "--no-stream", "--format", "{{.Name}}").stdout.split()
    assert names == ["up"]  # running containers only, by default
    rows = pypod("stats", "-a", "--no-stream").stdout.splitlines()[1:]
    assert sorted(_columns(r)[1] for r in rows) == ["idle", "up"]
    named = pypod("stats", "--no-stream", "idle")
    assert named.returncode == 0, named.stderr
    assert _columns(named.stdout.splitlines()[1])[2:] == [
        "0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0", "0s", "0.00%"]
    pypod("stop", "-t", "0", "up")
    assert pypod("stats", "--no-stream").stdout.splitlines() == [
        pypod("stats", "--no-stream").stdout.splitlines()[0]]  # the header alone
    latest = pypod("stats", "--no-stream", "--latest", "--format", "{{.Name}}").stdout
    assert latest.strip() == "up"


def test_pod_stats_covers_each_container_of_the_pod(pypod: Pypod, rootfs: str) -> None:
    pod_id = pypod("pod", "create", "--name", "tp").stdout.strip()
    for name in ("one", "two"):
        pypod("run", "-d", "--pod", "tp", "--name", name, "--rootfs", rootfs,
              "sleep", "1000")
    pypod("create", "--pod", "tp", "--name", "waiting", "--rootfs", rootfs, "true")
    lines = pypod("pod", "stats", "--no-stream").stdout.splitlines()
    assert _columns(lines[0]) == ["POD", "CID", "NAME", "CPU %", "MEM USAGE/ LIMIT", "MEM %",
                                  "NET IO", "BLOCK IO", "PIDS"]
    rows = {_columns(line)[2]: _columns(line) for line in lines[1:]}
    assert set(rows) == {"one", "two", "waiting", f"{pod_id[:12]}-infra"}
    assert {r[0] for r in rows.values()} == {pod_id[:12]}
    assert rows["one"][8] == "1" and rows["one"][4].count("B / ") == 1
    assert rows["waiting"][3:] == ["--", "-- / --", "--", "-- / --", "-- / --", "--"]
    entries = json.loads(pypod("pod", "stats", "tp", "--no-stream", "--format",
                               "json").stdout)
    assert set(entries[0]) == {"CPU", "MemUsage", "MemUsageBytes", "Mem", "NetIO",
                               "BlockIO", "PIDS", "Pod", "CID", "Name"}
    assert len(entries) == 4
    names = pypod("pod", "stats", "--no-stream", "--format", "{{.Name}}").stdout.split()
    assert sorted(names) == sorted(rows)


def test_streaming_redraws_until_ctrl_c(cli_flags: list[str], pypod: Pypod,
                                        rootfs: str) -> None:
    pypod("run", "-d", "--name", "s", "--rootfs", rootfs, "sleep", "1000")
    proc = subprocess.Popen([PYPOD, *cli_flags, "stats", "-i", "1", "--format",
                             "{{.Name}} {{.PIDS}}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first, second = proc.stdout.readline(), proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (first, second) == ("s 1\n", "s 1\n")
    assert proc.returncode == 0 and err == ""
    assert "\033[2J" not in first + out  # no screen clearing into a pipe


def _on_a_terminal(argv: list[str]) -> str:
    """What a command prints to a terminal (a pty of the test's)."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the pty closed: the command exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_a_terminal_is_cleared_before_each_sample_unless_no_reset(
        cli_flags: list[str], pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "t", "--rootfs", rootfs, "sleep", "1000")
    cleared = _on_a_terminal([PYPOD, *cli_flags, "stats", "--no-stream"])
    assert cleared.startswith("\033[2J\033[1;1HID ")
    kept = _on_a_terminal([PYPOD, *cli_flags, "stats", "--no-stream", "--no-reset"])
    assert kept.startswith("ID ") and "\033[" not in kept


def test_the_cgroup_path_a_bundle_gives(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pypod_core.engine.stats import cgroups_path
    from pypod_core.errors import CgroupError

    ctr = SimpleNamespace(id="c" * 64, bundle_dir=str(tmp_path))
    for spec_path, path in (("/pypod/ID", "/pypod/ID"),
                            ("machine.slice:pypod:ID", "/machine.slice/pypod-ID.scope"),
                            ("a-b.slice:p:ID", "/a.slice/a-b.slice/p-ID.scope")):
        (tmp_path / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": spec_path}}))
        assert cgroups_path(ctr) == path  # type: ignore[arg-type]
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CgroupError, match="has no cgroup of its own"):
        cgroups_path(ctr)  # type: ignore[arg-type]


def _send(host: str, port: int, data: bytes) -> None:
    """Connect (the listener may not be up yet) and send ``data``."""
    import socket

    for _ in range(100):
        try:
            with socket.create_connection((host, port), timeout=5) as conn:
                conn.sendall(data)
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {host}:{port}")


def test_network_traffic_of_the_containers_namespace(net_config: str, rootfs: str) -> None:
    need_binary("iptables")
    need_binary("runc")
    args = ("--config", net_config)
    try:
        run = run_pypod(*args, "run", "-d", "--name", "talk", "--network", "podman",
                        "--rootfs", rootfs, "sh", "-c",
                        "nc -l -p 8080 >/dev/null; echo done; sleep 1000")
        assert run.returncode == 0, run.stderr
        ip = run_pypod(*args, "inspect", "talk", "--format",
                       "{{.NetworkSettings.IPAddress}}").stdout.strip()
        _send(ip, 8080, b"x" * 300_000)
        for _ in range(100):
            if "done" in run_pypod(*args, "logs", "talk").stdout:
                break
            time.sleep(0.1)
        received, sent = map(int, run_pypod(*args, "stats", "--no-stream", "--format",
                                            "{{.NetInput}} {{.NetOutput}}").stdout.split())
        # In: the 300 kB sent to it; out: little more than its TCP acknowledgements.
        assert received > 300_000 and 0 < sent < received // 4
        net_io = run_pypod(*args, "stats", "--no-stream", "--format", "{{.NetIO}}").stdout
        assert net_io.startswith("3") and "kB / " in net_io
    finally:
        run_pypod(*args, "rm", "-a", "-f", "-t", "0")


def test_bad_input_is_one_line(pypod: Pypod, rootfs: str) -> None:
    cases = [
        (("stats", "--bogus"), "Error: unknown flag: --bogus"),
        (("stats", "-i", "0"), "Error: invalid interval, must be a positive number greater "
                               "zero"),
        (("stats", "-a", "x"), "Error: --all, --latest and containers cannot be used "
                               "together"),
        (("stats", "--no-stream", "nosuch"), "Error: no container with name or ID"),
        (("stats", "--no-stream", "--format", "{{.Nope"), "Error: "),
        (("pod", "stats", "-a", "-l"), "Error: --all, --latest and arguments cannot be "
                                       "used together"),
        (("pod", "stats", "--no-stream", "nosuch"), "Error: unable to get list of pods: "),
    ]
    for args, start in cases:
        result = pypod(*args)
        assert result.returncode == 125, (args, result.stdout)
        assert result.stderr.startswith(start) and result.stderr.count("\n") == 1, \
            (args, result.stderr)


def test_go_number_and_size_formats() -> None:
    assert [str(GoFloat(v)) for v in (0.0, 12.5, 1.5e-05, 3.0, 1234567.0)] == [
        "0", "12.5", "1.5e-05", "3", "1.234567e+06"]
    assert f"{GoFloat(2.345):.1f}" == "2.3"  # printf still takes it as a number
    assert [bytes_size(v) for v in (0, 1023, 1536, 200 * 1024 ** 2)] == [
        "0B", "1023B", "1.5KiB", "200MiB"]


def test_cgroup_hierarchies_from_mountinfo(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
        "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:10 - cgroup cgroup rw,cpu,cpuacct\n"
        "32 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
        f"33 25 0:29 / {tmp_path} rw - cgroup2 cgroup2 rw\n")
    (tmp_path / "cgroup.controllers").write_text("io pids\n")
    found = cgroupfs.hierarchies(str(mountinfo))
    assert dict(found.v1) == {"memory": "/sys/fs/cgroup/memory",
                              "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"}
    assert found.v2 == str(tmp_path) and found.v2_controllers == {"io", "pids"}


def test_cgroup_v2_files(tmp_path: Path) -> None:
    # This host is cgroup v1: a v2 cgroup's files are laid out by hand to read them.
    ctr = tmp_path / "pypod" / "c1"
    ctr.mkdir(parents=True)
    (ctr / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    (ctr / "memory.stat").write_text("anon 4096\nfile 8192\n")
    (ctr / "io.stat").write_text("254:0 rbytes=100 wbytes=20 rios=1 wios=1\n"
                                 "7:0 rbytes=5 wbytes=0 rios=1 wios=0\n")
    (ctr / "pids.current").write_text("4\n")
    where = cgroupfs.Hierarchies({}, str(tmp_path), frozenset({"cpu", "memory", "io", "pids"}))
    assert cgroupfs.read_usage("/pypod/c1", where) == cgroupfs.CgroupUsage(
        cpu_nano=1_500_000, cpu_system_nano=500_000, memory=4096, block_read=105,
        block_write=20, pids=4)
    with pytest.raises(FileNotFoundError):
        cgroupfs.read_usage("/pypod/gone", where)
