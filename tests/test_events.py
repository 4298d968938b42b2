"""Container event hooks: every plugin hears of a container's creation, start, exit and
removal, in that order, with the container as it is at that moment."""

from __future__ import annotations

from typing import Any

import pytest
from test_stages import manager_with

from pypod_core import hookimpl
from pypod_core.errors import HookError


class Recorder:
    """An in-process plugin that records every container event it hears."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, int]] = []

    def _note(self, event: str, container: Any) -> None:
        state = container.state
        self.events.append((event, container.name, state.state.value, state.exit_code))

    @hookimpl
    def pypod_container_created(self, runtime, container):
        self._note("created", container)

    @hookimpl
    def pypod_container_started(self, runtime, container):
        self._note("started", container)

    @hookimpl
    def pypod_container_exited(self, runtime, container):
        self._note("exited", container)

    @hookimpl
    def pypod_container_removed(self, runtime, container):
        self._note("removed", container)


@pytest.fixture
def recorded(make_runtime, rootfs):
    """A runtime with a Recorder plugin, and a container that ran `exit 3` and was removed."""
    recorder = Recorder()
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(recorder))
    ctr = runtime.create_container(rootfs, ["sh", "-c", "exit 3"], name="evented")
    ctr.start()
    assert ctr.wait() == 3
    runtime.remove_container(ctr)
    return recorder.events


def test_pypod_container_created_is_heard_first(recorded):
    assert recorded[0] == ("created", "evented", "configured", 0)


def test_pypod_container_started_is_heard_while_running(recorded):
    started = [e for e in recorded if e[0] == "started"]
    assert len(started) == 1 and started[0][2] in ("running", "exited")
    assert recorded.index(started[0]) == 1


def test_pypod_container_exited_carries_the_exit_code(recorded):
    exited = [e for e in recorded if e[0] == "exited"]
    assert exited == [("exited", "evented", "exited", 3)]


def test_pypod_container_removed_is_heard_last(recorded):
    assert recorded[-1][:2] == ("removed", "evented")
    assert [e[0] for e in recorded] == ["created", "started", "exited", "removed"]


class BrokenListener:
    @hookimpl
    def pypod_container_created(self, runtime, container):
        raise ValueError("audit log unavailable")


def test_an_event_hook_that_raises_is_a_warning_naming_its_plugin(make_runtime, rootfs,
                                                                  capsys):
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(BrokenListener()))
    ctr = runtime.create_container(rootfs, ["true"], name="x")
    warning = capsys.readouterr().err
    assert "test_inline_0" in warning and "pypod_container_created" in warning
    assert "audit log unavailable" in warning
    assert runtime.lookup_container("x").id == ctr.id  # the operation completed


def test_a_failing_event_hook_is_fatal_when_strict_and_leaves_nothing(
        make_runtime, rootfs, monkeypatch):
    monkeypatch.setenv("PYPOD_STRICT_PLUGINS", "1")
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(BrokenListener()))
    with pytest.raises(HookError, match="test_inline_0.*pypod_container_created.*audit log"):
        runtime.create_container(rootfs, ["true"], name="x")
    assert runtime.state.all_containers() == []
