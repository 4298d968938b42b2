"""Interactive containers from Python: ``create_container(terminal=, stdin=)``,
``start_attached``/``attach``/``exec`` with ``stdin``, ``detach_keys`` and ``resize``,
``Container.resize``, and their typed errors.  Real runc under conmon; the user's
terminal is a pseudo-terminal the test types into."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import need_binary
from pypod_core.errors import (
    CommandNotFoundError,
    CtrStateInvalidError,
    DetachedError,
    InvalidArgError,
    NotImplementedByBackendError,
)
from pypod_core.model import ContainerStatus
from pypod_core.plugin.oci import Attachment

DETACH = b"\x10\x11"


class Screen:
    """A binary file that keeps what is written, for a test to wait on."""

    def __init__(self) -> None:
        self.data = b""
        self._changed = threading.Condition()

    def write(self, data: bytes) -> int:
        with self._changed:
            self.data += data
            self._changed.notify_all()
        return len(data)

    def flush(self) -> None:
        pass

    def expect(self, pattern: bytes, timeout: float = 30, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not re.search(pattern, self.data[after:]):
                left = deadline - time.monotonic()
                assert left > 0, f"{pattern!r} not shown: {self.data!r}"
                self._changed.wait(left)


def wait_for_size(screen: Screen, keys: int, size: bytes) -> None:
    """Ask ``stty size`` until it shows ``size``: conmon resizes in its own time."""
    deadline = time.monotonic() + 30
    while True:
        seen = len(screen.data)
        os.write(keys, b"stty size\r")
        screen.expect(rb"\r\n\d+ \d+\r\n", after=seen)
        if re.search(rb"\r\n" + size + rb"\r\n", screen.data[seen:]):
            return
        assert time.monotonic() < deadline, f"not {size!r}: {screen.data[seen:]!r}"


class Session:
    """A call that blocks (start_attached, attach) on a thread of its own."""

    def __init__(self, call: Callable[[], Any]):
        self.outcome: tuple[str, Any] = ("running", None)
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.outcome = ("returned", call())
        except BaseException as exc:
            self.outcome = ("raised", exc)

    def result(self, timeout: float = 30) -> tuple[str, Any]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the session did not end"
        return self.outcome


@pytest.fixture
def runtime(make_runtime: Callable[..., Any]) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime(runtime="runc")


@pytest.fixture
def keyboard() -> Iterator[tuple[int, int]]:
    """(the side a test types into, the terminal pypod reads): a pseudo-terminal in raw
    mode, as the command line puts the user's (keys pass as they are typed)."""
    from pypod_core.host.tty import raw_mode

    master, slave = os.openpty()
    with raw_mode(slave):
        yield master, slave
    os.close(master)
    os.close(slave)


def test_a_terminal_session_sizes_detaches_and_attaches_again(
        runtime: Any, rootfs: str, keyboard: tuple[int, int]) -> None:
    keys, terminal = keyboard
    ctr = runtime.create_container(rootfs, ["sh"], terminal=True, stdin=True)
    screen = Screen()
    session = Session(lambda: ctr.start_attached(screen, screen, stdin=terminal,
                                                 resize=(40, 100)))
    screen.expect(rb"/ # ")
    os.write(keys, b"stty size; echo $TERM\r")
    screen.expect(rb"\r\n40 100\r\nxterm\r\n")
    os.write(keys, DETACH)
    kind, error = session.result()
    assert kind == "raised" and isinstance(error, DetachedError)
    assert ctr.sync().state.state is ContainerStatus.RUNNING

    again = Screen()
    attached = Session(lambda: ctr.attach(again, again, stdin=terminal,
                                          detach_keys="ctrl-a,d", resize=(20, 60)))
    wait_for_size(again, keys, b"20 60")  # the attach's size
    ctr.resize(30, 90)
    wait_for_size(again, keys, b"30 90")
    os.write(keys, b"\x01d")
    kind, error = attached.result()
    assert kind == "raised" and isinstance(error, DetachedError)
    assert ctr.sync().state.state is ContainerStatus.RUNNING
    ctr.kill(9)
    assert ctr.wait(timeout=30) == 137


def test_stdin_from_a_file_object_ends_with_its_data(runtime: Any, rootfs: str) -> None:
    ctr = runtime.create_container(rootfs, ["sh", "-c", "cat; exit 3"], stdin=True)
    out, err = io.BytesIO(), io.BytesIO()
    assert ctr.start_attached(out, err, stdin=io.BytesIO(b"no descriptor\n")) == 3
    assert out.getvalue() == b"no descriptor\n"


def test_exec_with_stdin_or_a_terminal(runtime: Any, rootfs: str) -> None:
    ctr = runtime.create_container(rootfs, ["sleep", "600"])
    ctr.start()
    out = io.BytesIO()
    assert ctr.exec(["sh", "-c", "cat; exit 4"], stdin=io.BytesIO(b"to exec\n"),
                    stdout=out) == 4
    assert out.getvalue() == b"to exec\n"
    out = io.BytesIO()
    assert ctr.exec(["sh", "-c", "tty; stty size; echo $TERM"], terminal=True,
                    resize=(12, 34), stdout=out) == 0
    assert re.fullmatch(rb"/dev/pts/\d+\r\n12 34\r\nxterm\r\n", out.getvalue())
    with pytest.raises(CommandNotFoundError):
        ctr.exec(["/no/such/command"], terminal=True)
    ctr.stop(timeout=0)


def test_bad_arguments_are_refused_before_anything_runs(runtime: Any, rootfs: str) -> None:
    with pytest.raises(TypeError, match="terminal"):
        runtime.create_container(rootfs, ["sh"], terminal="yes")
    ctr = runtime.create_container(rootfs, ["sh"], terminal=True, stdin=True)
    with pytest.raises(InvalidArgError, match="invalid detach keys"):
        ctr.start_attached(None, None, stdin=io.BytesIO(), detach_keys="ctrl-9")
    with pytest.raises(InvalidArgError, match="resize"):
        ctr.start_attached(None, None, resize=(0, 80))
    with pytest.raises(InvalidArgError, match="stdin"):
        ctr.start_attached(None, None, stdin=object())
    assert ctr.sync().state.state is ContainerStatus.CONFIGURED  # nothing ran
    plain = runtime.create_container(rootfs, ["sleep", "600"])
    plain.start()
    with pytest.raises(CtrStateInvalidError, match="no terminal"):
        plain.resize(24, 80)
    plain.stop(timeout=0)


class OutputOnly(Attachment):
    """What a backend without stdin or terminals gives (only the required methods)."""

    def stream(self, stdout: Any, stderr: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_backend_without_input_is_told_apart(runtime: Any, rootfs: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    attachment = OutputOnly()
    with pytest.raises(NotImplementedByBackendError):
        attachment.send(b"x")
    monkeypatch.setattr(runtime.oci_runtime, "attach_container", lambda ctr: attachment)
    ctr = runtime.create_container(rootfs, ["true"], stdin=True)
    with pytest.raises(NotImplementedByBackendError, match="stdin or terminals"):
        ctr.start_attached(None, None, stdin=io.BytesIO(b""))
    assert attachment.closed
    assert ctr.sync().state.state is ContainerStatus.CREATED  # not started
