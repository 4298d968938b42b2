"""Hooks are called through pluggy: a plugin's wrappers (``wrapper=True`` and the older
``hookwrapper=True``) see and may change what the implementations under them give, on
stages and on events alike, and pypod still says which plugin served each stage."""

from __future__ import annotations

from typing import Any

import pytest
from test_stages import manager_with

from pypod_core import hookimpl
from pypod_core.engine.pipeline import DEFERRED, STAGES
from pypod_core.errors import HookError


class ChangesAStage:
    """Wraps make_storage and replaces its result by a marker object."""

    @hookimpl(wrapper=True)
    def pypod_make_storage(self, runtime):
        real = yield
        return ("wrapped", real)


class TimesAStage:
    """An old-style wrapper that times the state stage."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.results: list[Any] = []

    @hookimpl(hookwrapper=True)
    def pypod_make_state(self, runtime):
        self.calls.append("before")  # where a timer would start
        outcome = yield
        self.calls.append(f"after {getattr(runtime, 'state', None) is None}")  # not stored yet
        self.results.append(outcome.get_result())


class RaisesInAStage:
    @hookimpl(tryfirst=True)
    def pypod_set_namespace(self, runtime):
        raise RuntimeError("namespace service down")


class SwallowsTheError:
    """Wraps set_namespace: an exception under it becomes the stage's answer."""

    def __init__(self) -> None:
        self.seen: list[BaseException] = []

    @hookimpl(wrapper=True)
    def pypod_set_namespace(self, runtime):
        try:
            return (yield)
        except HookError as exc:
            self.seen.append(exc)
            return True


class WrapsAnEvent:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl(wrapper=True)
    def pypod_container_created(self, runtime, container):
        self.heard.append(f"before {container.name}")
        yield
        self.heard.append(f"after {container.name}")


def test_a_wrapper_changes_a_stage_result(make_runtime):
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(ChangesAStage()))
    marker, real = runtime.storage
    assert marker == "wrapped"
    assert type(real).__name__ == "DirStorage"
    # The stage was still served by the default implementation under the wrapper.
    assert dict((s, p) for s, p, _ in runtime.stage_timings)["make_storage"] == \
        "pypod_core.engine.defaults"


def test_an_old_style_hookwrapper_times_a_stage(make_runtime):
    timer = TimesAStage()
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(timer))
    assert timer.calls == ["before", "after True"]
    assert timer.results == [runtime.state]


def test_a_wrapper_swallows_an_exception_raised_under_it(make_runtime):
    swallower = SwallowsTheError()
    runtime = make_runtime(state_type="memory",
                           plugin_manager=manager_with(RaisesInAStage(), swallower))
    assert runtime.valid
    [error] = swallower.seen
    assert "test_inline_0" in str(error) and "pypod_set_namespace" in str(error)


def test_an_unwrapped_exception_names_plugin_and_hook(make_runtime):
    with pytest.raises(HookError, match="test_inline_0.*pypod_set_namespace.*service down"):
        make_runtime(state_type="memory", plugin_manager=manager_with(RaisesInAStage()))


def test_a_wrapper_wraps_an_event(make_runtime, rootfs):
    wrapper = WrapsAnEvent()
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(wrapper))
    runtime.create_container(rootfs, ["true"], name="heard")
    assert wrapper.heard == ["before heard", "after heard"]


def test_pluggy_monitoring_sees_every_stage(make_runtime):
    manager = manager_with()
    calls: list[str] = []
    manager.pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name),
                                       lambda outcome, name, impls, kwargs: None)
    runtime = make_runtime(state_type="memory", plugin_manager=manager)
    stages = [f"pypod_{stage}" for stage, _ in STAGES]
    eager = [f"pypod_{stage}" for stage, _ in STAGES if stage not in DEFERRED]
    assert [name for name in calls if name in stages] == eager
    assert calls[-1] == "pypod_runtime_ready"
    # A deferred stage goes through pluggy too: once, at the first read of its attribute.
    del calls[:]
    for _ in range(2):
        assert None not in (runtime.oci_runtime, runtime.firewall, runtime.storage)
    assert [name for name in calls if name in stages] == [
        "pypod_make_oci_runtime", "pypod_make_firewall", "pypod_make_network",
        "pypod_make_storage"]  # the firewall asks for the network it guards


def test_a_wrapper_on_a_deferred_stage_runs_once_at_first_use(make_runtime):
    wrapper = ChangesAStage()
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(wrapper))
    assert "make_storage" not in {s for s, _, _ in runtime.stage_timings}
    assert runtime.storage is runtime.storage
    assert [s for s, _, _ in runtime.stage_timings].count("make_storage") == 1
