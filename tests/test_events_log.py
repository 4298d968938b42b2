"""The events log: what the event hooks hear goes to podman's file backend, and ``pypod
events`` reads it back in podman's line, JSON and template forms, filtered, since and
until a time, streamed or not."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary, run_pypod
from pypod_core.engine.events import Event, go_time, log_path, parse_rfc3339_ns
from pypod_core.errors import ConfigError, InvalidArgError

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Pypod:
    need_binary("runc")
    need_binary("conmon")
    return lambda *args, **kw: run_pypod(*cli_flags, *args, **kw)


def test_a_container_life_is_logged_in_order(make_runtime: Any, rootfs: str) -> None:
    runtime = make_runtime(state_type="memory")
    ctr = runtime.create_container(rootfs, ["sh", "-c", "exit 3"], name="evented",
                                   labels={"team": "a"})
    ctr.start()
    assert ctr.wait() == 3
    runtime.remove_container(ctr)
    events = list(runtime.events(stream=False))
    assert [(e.type, e.status, e.name) for e in events] == [
        ("container", s, "evented") for s in ("create", "start", "died", "remove")]
    assert events[2].exit_code == 3 and events[0].attributes == {"team": "a"}
    assert all(e.id == ctr.id for e in events)
    # podman's place: under the temporary directory, one JSON line each.
    path = Path(log_path(runtime.config))
    assert path.parent.parent == Path(runtime.config.tmp_dir)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[2]["ContainerExitCode"] == 3 and lines[2]["Status"] == "died"


def test_pods_and_volumes_are_logged(make_runtime: Any) -> None:
    runtime = make_runtime(state_type="memory")
    pod = runtime.create_pod(name="evpod", infra=False)
    runtime.remove_pod(pod)
    volume = runtime.create_volume(name="evvol")
    runtime.remove_volume(volume)
    got = [(e.type, e.status, e.name) for e in runtime.events(stream=False)]
    assert got == [("pod", "create", "evpod"), ("pod", "remove", "evpod"),
                   ("volume", "create", "evvol"), ("volume", "remove", "evvol")]


def test_filters_since_and_until(make_runtime: Any, rootfs: str) -> None:
    runtime = make_runtime(state_type="memory")
    first = runtime.create_container(rootfs, ["true"], name="first")
    middle = time.time()
    time.sleep(0.01)
    runtime.create_container(rootfs, ["true"], name="second")
    names = lambda **kw: [e.name for e in runtime.events(stream=False, **kw)]  # noqa: E731
    assert names(filters=["container=second"]) == ["second"]
    assert names(filters=[f"container={first.id[:12]}"]) == ["first"]
    assert names(filters=["container=first", "container=second"]) == ["first", "second"]
    assert names(filters=["event=create", "type=pod"]) == []
    assert names(since=middle) == ["second"]
    assert names(until=middle) == ["first"]
    with pytest.raises(InvalidArgError, match="bogus=1 is an invalid filter"):
        runtime.events(filters=["bogus=1"])
    with pytest.raises(InvalidArgError, match="unknown event type"):
        runtime.events(filters=["type=nope"])


def test_none_logger_writes_nothing_and_journald_is_refused(make_runtime: Any,
                                                            rootfs: str) -> None:
    runtime = make_runtime(state_type="memory", events_logger="none")
    runtime.create_container(rootfs, ["true"])
    assert not Path(log_path(runtime.config)).exists()
    with pytest.raises(ConfigError, match="journald.*not supported by pypod"):
        make_runtime(state_type="memory", events_logger="journald")


def test_times_as_go_writes_them() -> None:
    ns = parse_rfc3339_ns("2024-03-01T10:00:00.120000000Z")
    assert ns == 1709287200_120000000
    event = Event.from_json({"Type": "volume", "Status": "create", "Name": "v",
                             "Time": "2024-03-01T10:00:00.12Z"})
    assert event.time_ns == ns
    assert go_time(ns).startswith("2024-03-01 ") and ".12 " in go_time(ns)


def test_cli_lines_json_and_templates(pypod: Pypod, rootfs: str) -> None:
    assert pypod("run", "--name", "evcli", "--rootfs", rootfs, "true").returncode == 0
    result = pypod("events", "--stream=false")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[4:6] for line in lines] == [
        ["container", s] for s in ("create", "start", "died")]
    assert lines[0].endswith(f"(image={rootfs}, name=evcli)")
    docs = [json.loads(line) for line in
            pypod("events", "--stream=false", "--format", "json").stdout.splitlines()]
    assert [d["Status"] for d in docs] == ["create", "start", "died"]
    templated = pypod("events", "--stream=false", "--filter", "event=died",
                      "--format", "{{.Name}} {{.Status}} {{.ContainerExitCode}}")
    assert templated.stdout == "evcli died 0\n"
    assert pypod("events", "--stream=false", "--since", "1m", "--until", "1000").stdout == ""
    bad = pypod("events", "--filter", "nope=1")
    assert (bad.returncode, bad.stderr) == (125, "Error: nope=1 is an invalid filter\n")


def _await_at_end_of_log(pid: int, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` reads the events log from its end: an event written
    before it got there would not be shown (a fixed pause was too short under load)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.endswith("events.log"):
                    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                        pos = int(info.readline().split()[1])
                    if pos == os.path.getsize(target):
                        return
        except OSError:
            pass  # an fd closed while listed: look again
        assert time.monotonic() < deadline, "pypod events never reached the log's end"
        time.sleep(0.02)


def test_cli_streams_new_events(pypod: Pypod, cli_flags: list[str], rootfs: str) -> None:
    pypod("create", "--name", "old", "--rootfs", rootfs, "true")
    follower = subprocess.Popen([PYPOD, *cli_flags, "events", "--format", "{{.Name}}"],
                                stdout=subprocess.PIPE, text=True)
    try:
        _await_at_end_of_log(follower.pid)
        pypod("create", "--name", "new", "--rootfs", rootfs, "true")
        assert follower.stdout is not None
        assert follower.stdout.readline() == "new\n"  # the old one is not shown
    finally:
        follower.kill()
        follower.wait()
