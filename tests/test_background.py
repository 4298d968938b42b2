"""Steps side by side: a Background call returns its value or raises its exception in
the caller's thread, and really runs while the caller goes on."""

from __future__ import annotations

import threading

import pytest

from pypod_core.host.background import Background


def test_returns_the_value_and_runs_beside_the_caller() -> None:
    started, release = threading.Event(), threading.Event()

    def step(x: int) -> int:
        started.set()
        assert release.wait(5)
        return x * 2

    call = Background(step, 21)
    assert started.wait(5)  # running while this thread still has work to do
    release.set()
    assert call.result() == 42


def test_raises_the_exception_in_the_caller() -> None:
    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        Background(fails).result()


def test_wait_ends_without_raising() -> None:
    def fails() -> None:
        raise ValueError("boom")

    call = Background(fails)
    call.wait()  # after a failure elsewhere: only make sure the step is over
    with pytest.raises(ValueError):
        call.result()
