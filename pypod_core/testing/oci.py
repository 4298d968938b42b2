"""The OCI runtime conformance kit: :class:`OCIRuntimeTests`, the OCIRuntime contract as
tests with real containers.

Subclass it and provide one fixture, ``oci_runtime_name``: the name under which an
installed plugin declares the backend (``pypod_oci_runtimes``).  The kit builds pypod
runtimes that select it (``runtime = NAME``), keeping every file under ``tmp_path``;
an optional ``oci_runtime_options`` fixture adds config keys (``runtime_path`` for a
binary outside the usual directories)::

    class TestMyRuntime(OCIRuntimeTests):
        @pytest.fixture
        def oci_runtime_name(self):
            return "youki"

Each test drives the backend directly (``runtime.oci_runtime``) on containers whose OCI
bundle the kit writes with :func:`pypod_core.engine.bundle.write_bundle`; it holds each
container's lock meanwhile, so the backend's own exit handling (conmon's exit command,
for the bundled backend) waits until the test is done.  The containers run busybox from
Debian's ``busybox-static``.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from pypod_core.engine.bundle import exec_spec, write_bundle
from pypod_core.engine.runtime import new_runtime
from pypod_core.errors import (
    CommandNotExecutableError,
    CommandNotFoundError,
    NotImplementedByBackendError,
    OCIRuntimeError,
)
from pypod_core.host.rootfs import make_busybox_rootfs
from pypod_core.model import ContainerStatus, Mount
from pypod_core.testing.host import need_binary

MakeContainer = Callable[..., Any]


class OCIRuntimeTests:
    """Behaviour every OCI runtime backend must have; subclass and give
    ``oci_runtime_name``."""

    @pytest.fixture
    def oci_runtime_name(self) -> str:
        """The backend's declared name (override)."""
        raise NotImplementedError("subclass OCIRuntimeTests and provide `oci_runtime_name`")

    @pytest.fixture
    def oci_runtime_options(self) -> dict[str, Any]:
        """Extra config keys for the runtimes the kit builds (override if needed)."""
        return {}

    @pytest.fixture(scope="class")
    @classmethod
    def oci_rootfs(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        """A busybox root filesystem for the kit's containers."""
        need_binary("busybox", "busybox-static")
        return make_busybox_rootfs(str(tmp_path_factory.mktemp("oci-rootfs")))

    @pytest.fixture
    def build_runtime(self, tmp_path: Path, oci_runtime_name: str,
                      oci_runtime_options: dict[str, Any]) -> Iterator[Callable[[], Any]]:
        """Build pypod runtimes on one set of directories under tmp_path (each call is
        another "process" on the same store)."""
        built: list[Any] = []

        def build() -> Any:
            runtime = new_runtime(
                config_path=os.devnull, state_type="sqlite", runtime=oci_runtime_name,
                graph_root=str(tmp_path / "root"), run_root=str(tmp_path / "run"),
                cni_config_dir=str(tmp_path / "cni"), **oci_runtime_options)
            built.append(runtime)
            return runtime

        yield build
        for runtime in built:
            if runtime.valid:
                runtime.shutdown()

    @pytest.fixture
    def runtime(self, build_runtime: Callable[[], Any]) -> Any:
        """A pypod runtime whose OCI runtime is the backend under test."""
        return build_runtime()

    @pytest.fixture
    def backend(self, runtime: Any) -> Any:
        """The backend under test."""
        return runtime.oci_runtime

    @pytest.fixture
    def make_container(self, runtime: Any, oci_rootfs: str) -> Iterator[MakeContainer]:
        """``make_container(command, spec_edit=None, **config fields)``: a container with
        its bundle written, locked for the test; killed and deleted afterwards."""
        made: list[tuple[Any, Any]] = []

        def make(command: list[str], spec_edit: Callable[[dict], None] | None = None,
                 **fields: Any) -> Any:
            ctr = runtime.create_container(oci_rootfs, command, **fields)
            lock = runtime.container_lock(ctr.id)
            lock.acquire()
            made.append((ctr, lock))
            os.makedirs(ctr.run_dir, exist_ok=True)
            os.makedirs(ctr.exit_dir, exist_ok=True)
            path = write_bundle(ctr)
            if spec_edit is not None:
                with open(path) as f:
                    spec = json.load(f)
                spec_edit(spec)
                with open(path, "w") as f:
                    json.dump(spec, f)
            return ctr

        yield make
        for ctr, lock in reversed(made):
            _destroy(runtime.oci_runtime, ctr)
            runtime.state.remove_container(ctr.id)
            shutil.rmtree(ctr.run_dir, ignore_errors=True)
            lock.release()

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def run_to_exit(backend: Any, ctr: Any) -> tuple[bytes, bytes, int]:
        """Create, attach, start, read all output, wait: (stdout, stderr, exit code)."""
        backend.create_container(ctr)
        attachment = backend.attach_container(ctr)
        backend.start_container(ctr)
        ctr.state.state = ContainerStatus.RUNNING
        out, err = BytesIO(), BytesIO()
        attachment.stream(out, err)
        assert backend.wait_container(ctr, 30)
        backend.update_container_status(ctr)
        assert ctr.state.state is ContainerStatus.EXITED
        return out.getvalue(), err.getvalue(), ctr.state.exit_code

    @staticmethod
    def start_running(backend: Any, ctr: Any) -> None:
        """Create and start a container (for long-running commands)."""
        backend.create_container(ctr)
        backend.start_container(ctr)
        ctr.state.state = ContainerStatus.RUNNING

    # -- create and start --------------------------------------------------------------

    def test_version_names_the_runtime(self, backend: Any) -> None:
        assert backend.version().strip()
        assert backend.name and os.path.exists(backend.path)

    def test_create_makes_a_process_that_waits_for_start(self, backend: Any,
                                                         make_container: MakeContainer,
                                                         tmp_path: Path) -> None:
        mark = tmp_path / "mark"
        mark.mkdir()
        ctr = make_container(["touch", "/mark/started"],
                             mounts=(Mount(str(mark), "/mark"),))
        backend.create_container(ctr)
        assert ctr.state.pid > 0 and os.path.exists(f"/proc/{ctr.state.pid}")
        assert ctr.state.conmon_pid > 0 and ctr.state.conmon_pid != ctr.state.pid
        time.sleep(0.2)
        assert not (mark / "started").exists(), "the command ran before start"
        backend.start_container(ctr)
        assert backend.wait_container(ctr, 30)
        assert (mark / "started").exists()

    def test_output_streams_stay_separate_and_exit_code_propagates(
            self, backend: Any, make_container: MakeContainer) -> None:
        ctr = make_container(["sh", "-c", "echo out; echo err >&2; echo out2; exit 42"])
        out, err, code = self.run_to_exit(backend, ctr)
        assert (out, err, code) == (b"out\nout2\n", b"err\n", 42)
        assert ctr.state.finished_at > 0 and not ctr.state.oom_killed

    def test_exit_zero(self, backend: Any, make_container: MakeContainer) -> None:
        assert self.run_to_exit(backend, make_container(["true"]))[2] == 0

    def test_the_log_keeps_both_streams(self, backend: Any,
                                        make_container: MakeContainer) -> None:
        ctr = make_container(["sh", "-c", "echo to-out; echo to-err >&2"])
        self.run_to_exit(backend, ctr)
        with open(ctr.log_path, "rb") as f:
            lines = f.read().splitlines()
        assert any(b" stdout F to-out" in line for line in lines)
        assert any(b" stderr F to-err" in line for line in lines)

    def test_missing_command_is_not_found(self, backend: Any,
                                          make_container: MakeContainer) -> None:
        with pytest.raises(CommandNotFoundError):
            backend.create_container(make_container(["/no/such/command"]))

    def test_unexecutable_command_cannot_be_invoked(self, backend: Any,
                                                    make_container: MakeContainer) -> None:
        with pytest.raises(CommandNotExecutableError):
            backend.create_container(make_container(["/etc/passwd"]))

    def test_a_bad_bundle_is_a_runtime_error(self, backend: Any,
                                             make_container: MakeContainer) -> None:
        def break_it(spec: dict) -> None:
            spec["root"]["path"] = "/no/such/rootfs"

        with pytest.raises(OCIRuntimeError):
            backend.create_container(make_container(["true"], spec_edit=break_it))

    # -- signals, stop, pause ----------------------------------------------------------

    def test_kill_sends_the_signal(self, backend: Any, make_container: MakeContainer) -> None:
        ctr = make_container(["sleep", "60"])
        self.start_running(backend, ctr)
        backend.kill_container(ctr, signal.SIGKILL)
        assert backend.wait_container(ctr, 30)
        backend.update_container_status(ctr)
        assert ctr.state.exit_code == 128 + signal.SIGKILL

    def test_stop_waits_the_timeout_then_kills(self, backend: Any,
                                               make_container: MakeContainer) -> None:
        ctr = make_container(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
        self.start_running(backend, ctr)
        time.sleep(0.2)  # let the shell install its trap
        started = time.monotonic()
        backend.stop_container(ctr, 1)
        took = time.monotonic() - started
        backend.update_container_status(ctr)
        assert ctr.state.state is ContainerStatus.EXITED
        assert ctr.state.exit_code == 137
        assert 0.9 <= took < 5, took

    def test_stop_with_the_stop_signal_is_quick(self, backend: Any,
                                                make_container: MakeContainer) -> None:
        ctr = make_container(["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])
        self.start_running(backend, ctr)
        time.sleep(0.2)
        started = time.monotonic()
        backend.stop_container(ctr, 10)
        assert time.monotonic() - started < 5
        backend.update_container_status(ctr)
        assert ctr.state.exit_code == 7

    def test_pause_freezes_and_unpause_thaws(self, backend: Any, make_container: MakeContainer,
                                             tmp_path: Path) -> None:
        out = tmp_path / "count"
        out.mkdir()
        ctr = make_container(
            ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done"],
            mounts=(Mount(str(out), "/out"),))
        self.start_running(backend, ctr)
        time.sleep(0.3)
        backend.pause_container(ctr)
        time.sleep(0.1)
        frozen = (out / "n").read_text()
        time.sleep(0.3)
        assert (out / "n").read_text() == frozen
        backend.unpause_container(ctr)
        time.sleep(0.3)
        assert (out / "n").read_text() != frozen
        backend.stop_container(ctr, 0)

    # -- status, wait, delete ----------------------------------------------------------

    def test_status_of_a_running_container_stays_running(
            self, backend: Any, make_container: MakeContainer) -> None:
        ctr = make_container(["sleep", "60"])
        self.start_running(backend, ctr)
        backend.update_container_status(ctr)
        assert ctr.state.state is ContainerStatus.RUNNING
        assert not backend.wait_container(ctr, 0.2)
        backend.stop_container(ctr, 0)

    def test_another_process_sees_the_exit(self, backend: Any, build_runtime: Callable,
                                           make_container: MakeContainer) -> None:
        ctr = make_container(["sh", "-c", "sleep 0.3; exit 5"])
        self.start_running(backend, ctr)
        ctr.runtime.state.save_container_state(ctr.id, ctr.state)
        other = build_runtime().get_container(ctr.id)  # no pipe to conmon there
        assert other.oci.wait_container(other, 30)
        other.oci.update_container_status(other)
        assert (other.state.state, other.state.exit_code) == (ContainerStatus.EXITED, 5)

    def test_delete_forgets_the_container(self, backend: Any,
                                          make_container: MakeContainer) -> None:
        ctr = make_container(["true"])
        self.run_to_exit(backend, ctr)
        backend.delete_container(ctr)
        backend.delete_container(ctr)  # twice is fine
        os.unlink(ctr.exit_file)
        ctr.state.state = ContainerStatus.CONFIGURED
        # The id is free again: the runtime no longer has the container.
        assert self.run_to_exit(backend, ctr)[2] == 0

    def test_oom_kill_is_recorded(self, backend: Any, make_container: MakeContainer) -> None:
        if not os.path.exists("/sys/fs/cgroup/memory") and not os.path.exists(
                "/sys/fs/cgroup/cgroup.controllers"):
            pytest.skip("no memory cgroup controller on this host")

        def limit(spec: dict) -> None:
            spec["linux"]["resources"]["memory"] = {"limit": 16 * 1024 * 1024}

        ctr = make_container(["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
                             spec_edit=limit)
        _, _, code = self.run_to_exit(backend, ctr)
        assert code == 137
        assert ctr.state.oom_killed

    # -- exec ----------------------------------------------------------------------------

    def test_exec_runs_in_the_container(self, backend: Any, make_container: MakeContainer,
                                        tmp_path: Path) -> None:
        ctr = make_container(["sleep", "60"], env={"FROM_CTR": "yes"}, hostname="exechost")
        self.start_running(backend, ctr)
        out_path = tmp_path / "exec.out"
        with open(out_path, "wb") as out:
            spec = exec_spec(ctr.config,
                             ["sh", "-c", "hostname; echo $FROM_CTR $EXTRA; pwd; id -u; exit 3"],
                             env={"EXTRA": "more"}, user="nobody", workdir="/tmp")
            code = backend.exec_container(ctr, spec, stdout=out)
        assert code == 3
        assert out_path.read_bytes().split() == [b"exechost", b"yes", b"more", b"/tmp",
                                                  b"65534"]
        err_path = tmp_path / "exec.err"
        with open(err_path, "wb") as err:
            missing = exec_spec(ctr.config, ["/no/such/command"])
            assert backend.exec_container(ctr, missing, stderr=err) == 127
        backend.stop_container(ctr, 0)


    # -- terminals and stdin (backends whose attachments are interactive) ------------------

    def test_a_terminal_container_is_driven_through_its_attachment(
            self, backend: Any, make_container: MakeContainer) -> None:
        def sized(spec: dict) -> None:
            spec["process"]["consoleSize"] = {"height": 31, "width": 97}

        ctr = make_container(["sh"], spec_edit=sized, terminal=True, stdin=True)
        backend.create_container(ctr)
        attachment = backend.attach_container(ctr)
        _need_interactive(attachment)
        backend.start_container(ctr)
        ctr.state.state = ContainerStatus.RUNNING
        attachment.send(b"stty size; tty\r")
        shown = _read_until(attachment, rb"/dev/pts/\d+\r\n")
        assert b"31 97\r\n" in shown  # the bundle's consoleSize, a terminal's \r\n
        attachment.resize(44, 120)
        attachment.send(b"stty size\r")
        assert b"\r\n44 120\r\n" in _read_until(attachment, rb"\r\n44 120\r\n")
        attachment.send(b"exit 3\r")
        assert _read_until(attachment, None) is not None  # the output ends
        attachment.close()
        assert backend.wait_container(ctr, 30)
        backend.update_container_status(ctr)
        assert ctr.state.exit_code == 3

    def test_stdin_reaches_the_container_and_its_end_closes_it(
            self, backend: Any, make_container: MakeContainer) -> None:
        ctr = make_container(["sh", "-c", "cat; echo end-of-input >&2; exit 4"], stdin=True)
        backend.create_container(ctr)
        attachment = backend.attach_container(ctr)
        _need_interactive(attachment)
        backend.start_container(ctr)
        ctr.state.state = ContainerStatus.RUNNING
        data = bytes(range(256)) * 400  # more than one packet, every byte value
        while data:
            data = data[attachment.send(data):]
        attachment.close_stdin()
        out, err = _read_streams(attachment)
        assert (out, err) == (bytes(range(256)) * 400, b"end-of-input\n")
        attachment.close()
        assert backend.wait_container(ctr, 30)
        backend.update_container_status(ctr)
        assert ctr.state.exit_code == 4

    def test_an_attached_exec_has_a_terminal_stdin_and_an_exit_code(
            self, backend: Any, make_container: MakeContainer) -> None:
        ctr = make_container(["sleep", "60"])
        self.start_running(backend, ctr)
        spec = exec_spec(ctr.config, ["sh", "-c", "stty size; read x; echo got-$x; exit 6"])
        try:
            session = backend.exec_attached(
                ctr, spec._replace(terminal=True, console_size=(23, 67)), stdin=True)
        except NotImplementedByBackendError:
            pytest.skip(f"{type(backend).__name__} does not exec attached")
        assert b"23 67\r\n" in _read_until(session, rb"23 67\r\n")
        session.send(b"typed\r")
        assert b"got-typed\r\n" in _read_until(session, rb"got-typed\r\n")
        _read_until(session, None)
        assert session.wait() == 6
        piped = backend.exec_attached(ctr, exec_spec(ctr.config, ["cat"]), stdin=True)
        piped.send(b"through a pipe\n")
        piped.close_stdin()
        assert _read_streams(piped) == (b"through a pipe\n", b"")
        assert piped.wait() == 0
        with pytest.raises(CommandNotFoundError):
            backend.exec_attached(ctr, exec_spec(ctr.config, ["/no/such/command"])._replace(
                terminal=True), stdin=True)
        backend.stop_container(ctr, 0)


def _need_interactive(attachment: Any) -> None:
    if not attachment.interactive:
        attachment.close()
        pytest.skip(f"{type(attachment).__name__} does not attach stdin or terminals")


def _read_until(attachment: Any, pattern: bytes | None, timeout: float = 30) -> bytes:
    """The output until ``pattern`` shows (None: until the output ends)."""
    shown = b""
    deadline = time.monotonic() + timeout
    while pattern is None or not re.search(pattern, shown):
        left = deadline - time.monotonic()
        assert left > 0, f"{pattern!r} not shown: {shown!r}"
        ready, _, _ = select.select([attachment.fileno()], [], [], left)
        if not ready:
            continue
        frame = attachment.receive()
        if frame is None:
            assert pattern is None, f"the output ended before {pattern!r}: {shown!r}"
            return shown
        shown += frame[1]
    return shown


def _read_streams(attachment: Any, timeout: float = 30) -> tuple[bytes, bytes]:
    """(stdout, stderr) until the output ends."""
    streams = {"stdout": b"", "stderr": b""}
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the output did not end: {streams!r}"
        ready, _, _ = select.select([attachment.fileno()], [], [], left)
        if not ready:
            continue
        frame = attachment.receive()
        if frame is None:
            return streams["stdout"], streams["stderr"]
        streams[frame[0]] += frame[1]


def _destroy(backend: Any, ctr: Any) -> None:
    """Kill and delete whatever is left of a kit container."""
    try:
        backend.update_container_status(ctr)
        if ctr.state.state in (ContainerStatus.RUNNING, ContainerStatus.CREATED,
                               ContainerStatus.PAUSED):
            backend.stop_container(ctr, 0)
    except Exception:
        pass
    try:
        backend.delete_container(ctr)
    except Exception:
        pass
