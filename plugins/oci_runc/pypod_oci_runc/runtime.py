"""``runc`` and ``crun`` under conmon: pypod's OCIRuntime (libpod's oci_conmon_linux.go).

Each container runs under its own conmon, which creates it with ``RUNTIME create``,
keeps its output in a k8s-file log and on an attach socket, writes its exit code to
``exit_dir/ID`` and then runs pypod's exit command (``pypod ... container cleanup ID``),
so that a container is cleaned up (and a ``--rm`` one removed) even when the ``pypod``
process that started it is gone.  The runtime's own state lives under pypod's per-boot
tmp dir (``--root``), apart from other users of the same binary.
"""

from __future__ import annotations

import json
import os
import signal as signals
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, BinaryIO

from pypod_core.errors import OCIRuntimeError
from pypod_core.host.private import private_dir
from pypod_core.model import ContainerStatus
from pypod_core.plugin.oci import Attachment, ExecAttachment, OCIRuntime
from pypod_oci_runc import conmon
from pypod_oci_runc.exitcmd import exit_command_prefix

if TYPE_CHECKING:
    from pypod_core.plugin import ContainerView as Container
    from pypod_core.plugin import ExecSpec
    from pypod_core.plugin import RuntimeView as Runtime

#: How long to wait for a container to exit after SIGKILL before giving up.
KILL_WAIT = 30.0
#: How long one call of the runtime binary (create, start, kill, state...) may take.
RUNTIME_TIMEOUT = 120.0
#: Environment variables handed on to conmon and so to the exit command: they select
#: plugins, and the cleanup must build the same runtime.
PASSED_ENV = ("PYPOD_PLUGINS", "PYPOD_DISABLE_PLUGINS", "PYPOD_DISABLE_PLUGIN_AUTOLOAD",
              "PYPOD_STRICT_PLUGINS", "PYTHONPATH")
_GONE = ("does not exist", "not exist", "not found", "no such")
#: The exit command's shell: while the pypod process attached to the container (whose
#: pid is in $0, the attached marker) lives, it will clean up itself: wait for it; then
#: start the clean-up process only if there is still something to clean up ($1 exists).
#: A Python process saved per ``pypod run``, yet a killed ``pypod`` is still covered.
DEFER_TO_ATTACHED = ('while read -r p < "$0" && kill -0 "$p"; do sleep 0.05; done 2>/dev/null;'
                     ' [ -e "$1" ] || exit 0; shift; exec "$@"')


def _warn_sigkill(ctr: Container, timeout: int) -> None:
    """podman's warning when the stop signal did not stop a container in time."""
    try:
        name = signals.Signals(ctr.config.stop_signal).name
    except ValueError:
        name = str(ctr.config.stop_signal)
    sys.stderr.write(f"WARN: StopSignal {name} failed to stop container {ctr.name} in "
                     f"{timeout} seconds, resorting to SIGKILL\n")


class ConmonOCIRuntime(OCIRuntime):
    """An OCI runtime binary (runc, crun) whose containers are monitored by conmon."""

    def __init__(self, name: str, path: str, conmon_path: str, state_root: str,
                 runtime: Runtime | None = None):
        self.name = name
        self.path = path
        self.conmon_path = conmon_path
        self.state_root = state_root
        self.runtime = runtime
        #: Sync pipes of containers this process created: EOF means conmon is done.
        self._sync_fds: dict[str, int] = {}
        self._exit_prefix: list[str] | None = None

    @classmethod
    def for_runtime(cls, runtime: Runtime, name: str) -> ConmonOCIRuntime:
        """The backend for ``runtime``: the binary of the find_runtime_path stage, the
        conmon of find_conmon_path, state under ``tmp_dir/oci/NAME``."""
        if not runtime.conmon_binary:
            raise OCIRuntimeError("no conmon binary found (conmon_path)")
        state_root = os.path.join(runtime.config.tmp_dir, "oci", name)
        private_dir(state_root)
        return cls(name, runtime.runtime_binary, runtime.conmon_binary, state_root, runtime)

    # -- helpers -----------------------------------------------------------------------

    @property
    def global_args(self) -> tuple[str, ...]:
        """The runtime binary's global flags: its state root, then config
        ``runtime_flags`` (podman's ``--runtime-flag``), each with its ``--``."""
        flags = self.runtime.config.runtime_flags if self.runtime else []
        return ("--root", self.state_root, *(f"--{flag}" for flag in flags))

    def _cmd(self, *args: str) -> list[str]:
        return [self.path, *self.global_args, *args]

    def _call(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run a command of the runtime binary, bounded in time (a hung runtime must not
        hold the container's lock for ever); OCIRuntimeError if it cannot run or hangs."""
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=RUNTIME_TIMEOUT)
        except subprocess.TimeoutExpired:
            command = " ".join(argv[1:])[:80]
            raise OCIRuntimeError(f"{self.name} {command} did not finish within "
                                  f"{RUNTIME_TIMEOUT:.0f}s") from None
        except OSError as exc:
            raise OCIRuntimeError(f"{self.name}: cannot run {self.path}: {exc.strerror}") \
                from None

    def _run(self, *args: str, ok_if_gone: bool = False) -> str:
        """Run the runtime binary; raise its error (classified) on failure."""
        proc = self._call(self._cmd(*args))
        if proc.returncode != 0:
            message = proc.stderr.strip() or proc.stdout.strip()
            if ok_if_gone and any(g in message.lower() for g in _GONE):
                return ""
            raise conmon.runtime_error(self.name, message or f"{args[0]} failed")
        return proc.stdout

    def _exit_command(self, ctr: Container) -> tuple[str, ...]:
        if self.runtime is None:
            return ()
        if self._exit_prefix is None:
            self._exit_prefix = exit_command_prefix(self.runtime, self.name)
        rm = ["--rm"] if ctr.config.auto_remove else []
        # Still to do once no attached pypod is alive: the files the clean-up removes.
        pending = ctr.bundle_dir if ctr.config.auto_remove else ctr.run_dir
        return ("/bin/sh", "-c", DEFER_TO_ATTACHED, ctr.attached_marker, pending,
                *self._exit_prefix, "container", "cleanup", *rm, ctr.id)

    def conmon_env(self) -> dict[str, str]:
        """conmon's environment: ``conmon_env_vars`` and the plugin selection."""
        base = self.runtime.config.conmon_env_vars if self.runtime else []
        extra = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        return conmon.environment(base, extra)

    # -- lifecycle ---------------------------------------------------------------------

    def create_container(self, ctr: Container) -> None:
        """Start conmon, which runs ``RUNTIME create``; wait for the container's pid."""
        config = self.runtime.config if self.runtime else None
        args = conmon.ConmonArgs(
            conmon=self.conmon_path, runtime=self.path,
            runtime_args=self.global_args,
            ctr_id=ctr.id, name=ctr.name, bundle=ctr.bundle_dir,
            pidfile=ctr.pidfile, conmon_pidfile=ctr.conmon_pidfile,
            exit_dir=ctr.exit_dir, persist_dir=ctr.run_dir, socket_dir=ctr.run_dir,
            log_path=ctr.log_path,
            # The container's own limit (--log-opt max-size), else the runtime's.
            log_size_max=ctr.config.log_size_max if ctr.config.log_size_max > 0
            else (config.max_log_size if config else -1),
            exit_command=self._exit_command(ctr),
            systemd_cgroup=bool(config and config.cgroup_manager == "systemd"),
            no_pivot=bool(config and config.no_pivot_root),
            terminal=ctr.config.terminal, stdin=ctr.config.stdin,
            log_driver="none" if ctr.config.log_driver == "none" else "k8s-file",
            timeout=ctr.config.timeout,
            # Set by ``run`` on its Container object (not a config field: another
            # process's fds 3.. are its own files, never to be handed on).
            preserve_fds=getattr(ctr, "preserve_fds", 0),
        )
        self._forget(ctr.id)
        sync_fd = conmon.spawn(args, self.conmon_env(), ctr.run_dir)
        try:
            ctr.state.pid = conmon.read_sync(sync_fd, self.name)
        except BaseException:
            os.close(sync_fd)
            raise
        self._sync_fds[ctr.id] = sync_fd
        ctr.state.conmon_pid = _read_int(ctr.conmon_pidfile)

    def start_container(self, ctr: Container) -> None:
        """``RUNTIME start``: the user's command begins."""
        self._run("start", ctr.id)

    def attach_container(self, ctr: Container) -> Attachment:
        """Connect to conmon's attach socket in the bundle directory."""
        from pypod_oci_runc import attach  # lazy: only attached commands (socket, ~3 ms)

        return attach.SocketAttachment(attach.connect(ctr.bundle_dir), ctr.bundle_dir)

    def resize_container(self, ctr: Container, height: int, width: int) -> None:
        """Through conmon's ``ctl`` fifo in the bundle directory."""
        from pypod_oci_runc import attach  # lazy: only attached commands (socket, ~3 ms)

        attach.write_resize(ctr.bundle_dir, height, width)

    def wait_container(self, ctr: Container, timeout: float | None = None) -> bool:
        """Wait for the container's exit: on the sync pipe if we created the container,
        else by polling for the exit file.  Done too once the runtime no longer has the
        container (another process cleaned up), or once conmon is gone and so is the
        container's process: a killed conmon writes no exit file, and the container it
        left behind is waited for by its pid, as podman's stop does."""
        if os.path.exists(ctr.exit_file):
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self._sync_fds.get(ctr.id)
        if fd is not None:
            if not conmon.wait_eof(fd, timeout):
                return False
            self._forget(ctr.id)
        delay = 0.002
        while True:
            if self._exited(ctr):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(delay if deadline is None else
                       max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, 0.05)

    def _exited(self, ctr: Container) -> bool:
        """Whether the container is done: its exit file, no runtime state left, or
        neither conmon nor the container's process alive (read in this order: conmon
        writes the exit file before it exits)."""
        if os.path.exists(ctr.exit_file):
            return True
        if not os.path.isdir(os.path.join(self.state_root, ctr.id)):
            return True
        if conmon.process_alive(ctr.state.conmon_pid):
            return False
        return os.path.exists(ctr.exit_file) or not conmon.process_alive(ctr.state.pid, comm=None)

    def kill_container(self, ctr: Container, signal: int, all_processes: bool = False) -> None:
        """``RUNTIME kill [--all] ID SIGNAL``."""
        self._run("kill", *(["--all"] if all_processes else []), ctr.id, str(int(signal)))

    def stop_container(self, ctr: Container, timeout: int) -> None:
        """The stop signal, up to ``timeout`` seconds, then SIGKILL to every process."""
        if timeout > 0:
            try:
                self.kill_container(ctr, ctr.config.stop_signal)
            except OCIRuntimeError:
                if self.wait_container(ctr, 0):
                    return
                raise
            if self.wait_container(ctr, timeout):
                return
            _warn_sigkill(ctr, timeout)
        try:
            self.kill_container(ctr, signals.SIGKILL, all_processes=True)
        except OCIRuntimeError:
            if not self.wait_container(ctr, 0):
                raise
        if not self.wait_container(ctr, KILL_WAIT):
            raise OCIRuntimeError(
                f"{self.name}: container {ctr.id} did not exit {KILL_WAIT:.0f}s after SIGKILL")

    def delete_container(self, ctr: Container) -> None:
        """``RUNTIME delete --force``; a container the runtime no longer has is fine (and
        costs no process: runc and crun keep a directory per container in their root)."""
        self._forget(ctr.id)
        if not os.path.isdir(os.path.join(self.state_root, ctr.id)):
            return
        self._stop_monitor(ctr)
        self._run("delete", "--force", ctr.id, ok_if_gone=True)

    def _stop_monitor(self, ctr: Container) -> None:
        """Kill the conmon of a container deleted before it exited (a failed init, or
        what an init cut short by SIGKILL left behind): it would otherwise write an exit
        file and run the exit command after the delete, for a container that may be
        running again by then under a new conmon."""
        if os.path.exists(ctr.exit_file):
            return  # it exited: its conmon is done or running the exit command
        pid = ctr.state.conmon_pid or _read_int(ctr.conmon_pidfile)
        if conmon.process_alive(pid):
            try:
                os.kill(pid, signals.SIGKILL)
            except ProcessLookupError:
                pass

    def pause_container(self, ctr: Container) -> None:
        """``RUNTIME pause``."""
        self._run("pause", ctr.id)

    def unpause_container(self, ctr: Container) -> None:
        """``RUNTIME resume``."""
        self._run("resume", ctr.id)

    def update_container_status(self, ctr: Container) -> None:
        """An exit file means the container exited (its code, time and OOM kill); a live
        conmon means it still runs; otherwise ask the runtime."""
        state = ctr.state
        if state.state not in (ContainerStatus.CREATED, ContainerStatus.RUNNING,
                               ContainerStatus.PAUSED, ContainerStatus.STOPPING):
            return
        code = _read_exit_file(ctr.exit_file)
        if code is not None:
            self._record_exit(ctr, code[0], code[1])
            return
        if conmon.process_alive(state.conmon_pid):
            return
        status = self._runtime_status(ctr)
        if status in ("", "stopped"):
            # conmon died without writing an exit file: the code is unknown.
            self._record_exit(ctr, -1, time.time())

    def _record_exit(self, ctr: Container, code: int, when: float) -> None:
        state = ctr.state
        state.state = ContainerStatus.EXITED
        state.exit_code = code
        # The exit file's mtime comes from the kernel's coarse clock (a few ms behind
        # time.time()): a command that exits at once would seem to end before it began.
        state.finished_at = max(when, state.started_at)
        state.oom_killed = os.path.exists(os.path.join(ctr.run_dir, "oom"))
        state.pid = 0
        state.conmon_pid = 0

    def _runtime_status(self, ctr: Container) -> str:
        """The runtime's status word for the container ("" if it does not know it)."""
        proc = self._call(self._cmd("state", ctr.id))
        if proc.returncode != 0:
            return ""
        try:
            return str(json.loads(proc.stdout).get("status", ""))
        except ValueError:
            return ""

    def exec_container(self, ctr: Container, spec: ExecSpec, stdout: Any = None,
                       stderr: Any = None) -> int:
        """``RUNTIME exec`` with stdin /dev/null and our stdout; its stderr is relayed,
        so that the runtime's own error (command not found) can be told from the
        command's output."""
        # Spelled out in full: crun (unlike runc) does not take the process's env, user
        # and cwd from the container's config.json for an exec.
        args = ["exec", "--user", f"{spec.uid}:{spec.gid}", "--cwd", spec.cwd]
        for item in spec.env:
            args += ["--env", item]
        # The capabilities and seccomp filter are the container's; crun does not take
        # no-new-privileges from its config.json for an exec, so it is spelled out too.
        if spec.no_new_privileges:
            args.append("--no-new-privs")
        if spec.apparmor_profile:
            args += ["--apparmor", spec.apparmor_profile]
        try:
            proc = subprocess.Popen(self._cmd(*args, ctr.id, *spec.args),
                                    stdin=subprocess.DEVNULL, stdout=stdout,
                                    stderr=subprocess.PIPE)
        except OSError as exc:
            raise OCIRuntimeError(f"{self.name}: cannot run {self.path}: {exc.strerror}") \
                from None
        assert proc.stderr is not None
        target = stderr if stderr is not None else 2
        tail = b""
        while chunk := os.read(proc.stderr.fileno(), 65536):
            _write_all(target, chunk)
            tail = (tail + chunk)[-4096:]
        proc.stderr.close()
        code = proc.wait()
        if code != 0 and self._is_runtime_error(tail):
            err = conmon.runtime_error(self.name, tail.decode(errors="replace"))
            return 127 if "not found" in str(err) else 126 if "permission" in str(err) else code
        return code

    def exec_attached(self, ctr: Container, spec: ExecSpec, stdin: bool) -> ExecAttachment:
        """An exec session under a conmon of its own (see :mod:`.execsession`)."""
        from pypod_oci_runc import execsession  # lazy: only exec -i/-t (~1 ms)

        return execsession.start(self, ctr, spec, stdin)

    def _is_runtime_error(self, tail: bytes) -> bool:
        text = tail.decode(errors="replace").lower()
        return ("exec failed" in text or "executable file" in text
                or text.startswith(self.name) or "unable to start container process" in text)

    def version(self) -> str:
        """The first line of ``RUNTIME --version``."""
        proc = self._call([self.path, "--version"])
        return proc.stdout.splitlines()[0] if proc.stdout else ""

    def _forget(self, ctr_id: str) -> None:
        fd = self._sync_fds.pop(ctr_id, None)
        if fd is not None:
            os.close(fd)


def _read_int(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _read_exit_file(path: str) -> tuple[int, float] | None:
    """(exit code, time written) from conmon's exit file, or None if there is none."""
    try:
        with open(path) as f:
            text = f.read().strip()
            when = os.fstat(f.fileno()).st_mtime
    except OSError:
        return None
    try:
        return int(text), when
    except ValueError:
        return -1, when


def _write_all(target: BinaryIO | int, data: bytes) -> None:
    if isinstance(target, int):
        view = memoryview(data)
        while view:
            view = view[os.write(target, view):]
    else:
        target.write(data)
        target.flush()
