"""Starting conmon (api-version 1) and reading what it reports on its sync pipe.

conmon double-forks: the process we start exits at once, and its child monitors the
container.  It reports on the sync pipe (``_OCI_SYNCPIPE``) one JSON line,
``{"data": PID}`` once ``runtime create`` succeeded or ``{"data": -1, "message": ...}``
with the runtime's error; it keeps the pipe open until it exits, after writing the exit
file.  So the process that created a container learns of its exit from EOF on that pipe,
without polling.  The start pipe (``_OCI_STARTPIPE``) holds conmon back until we write
to it.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pypod_core.errors import CommandNotExecutableError, CommandNotFoundError, OCIRuntimeError

#: How long conmon may take to report the container created (runc create).
CREATE_TIMEOUT = 120.0

# podman's classification of the runtime's error text (libpod/oci_util.go).
_PERMISSION = re.compile(r"(?i).*permission denied.*|.*operation not permitted.*")
_NOT_FOUND = re.compile(r"(?i).*executable file not found in.*|.*no such file or directory.*")
#: runc logs its errors as logrus lines: time="..." level=error msg="..."
_LOGRUS_MSG = re.compile(r'level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"')


class ConmonArgs(NamedTuple):
    """What conmon needs to monitor one container."""

    conmon: str
    runtime: str
    runtime_args: tuple[str, ...]
    ctr_id: str
    name: str
    bundle: str
    pidfile: str
    conmon_pidfile: str
    exit_dir: str
    persist_dir: str
    socket_dir: str
    log_path: str
    log_level: str = "error"
    log_size_max: int = -1
    exit_command: tuple[str, ...] = ()
    systemd_cgroup: bool = False
    #: Config ``no_pivot_root``: the runtime's create moves the root instead of
    #: pivot_root (for roots on a ramfs, where pivot_root cannot work).
    no_pivot: bool = False
    #: ``-t``: conmon makes a console socket, the runtime hands it the terminal.
    terminal: bool = False
    #: ``-i``: the process's stdin is a pipe fed from the attach socket.
    stdin: bool = False
    #: An exec session's process spec (``runtime exec --process``): conmon runs an exec
    #: attached, holding it back until the start pipe's second message.
    exec_spec: str = ""
    #: The log driver: ``k8s-file`` (at ``log_path``) or ``none`` (exec sessions).
    log_driver: str = "k8s-file"
    #: ``--timeout``: conmon kills the container after this many seconds (0: never).
    timeout: int = 0
    #: ``--preserve-fds``: our fds 3 to 3+N-1 are handed on to the container's process.
    preserve_fds: int = 0

    def argv(self) -> list[str]:
        """conmon's command line (conmon 2.1's flags)."""
        argv = [
            self.conmon, "--api-version", "1",
            "-c", self.ctr_id, "-u", self.ctr_id, "-n", self.name,
            "-r", self.runtime, "-b", self.bundle,
            "-p", self.pidfile, "-P", self.conmon_pidfile,
            "--exit-dir", self.exit_dir, "--persist-dir", self.persist_dir,
            "--socket-dir-path", self.socket_dir, "--full-attach",
            "-l", f"k8s-file:{self.log_path}" if self.log_driver == "k8s-file"
            else self.log_driver, "--log-level", self.log_level,
        ]
        argv += self._stdio_args()
        if self.timeout > 0:
            argv += ["--timeout", str(self.timeout)]
        if self.preserve_fds > 0:  # for the runtime's create (conmon keeps the fds)
            argv += ["--runtime-opt", "--preserve-fds", "--runtime-opt",
                     str(self.preserve_fds)]
        if self.log_size_max > 0:
            argv += ["--log-size-max", str(self.log_size_max)]
        if self.systemd_cgroup:
            argv.append("--systemd-cgroup")
        if self.no_pivot:
            argv.append("--no-pivot")
        for arg in self.runtime_args:
            argv += ["--runtime-arg", arg]
        if self.exit_command:
            argv += ["--exit-command", self.exit_command[0]]
            for arg in self.exit_command[1:]:
                argv += ["--exit-command-arg", arg]
        return argv

    def _stdio_args(self) -> list[str]:
        """A container gets a terminal, or else maybe stdin (podman's choice: with a
        terminal, input reaches it whatever ``-i`` says); an exec may get both."""
        if self.exec_spec:
            return [*(["-t"] if self.terminal else []), *(["-i"] if self.stdin else []),
                    "-e", "--exec-attach", "--exec-process-spec", self.exec_spec]
        return ["-t"] if self.terminal else ["-i"] if self.stdin else []


def _unquote(text: str) -> str:
    """A Go-quoted string's content (JSON's escapes cover what runc writes)."""
    try:
        return str(json.loads(f'"{text}"'))
    except ValueError:
        return text


def runtime_error(runtime: str, message: str) -> OCIRuntimeError:
    """The error for a runtime's failure message, classified as podman does: a command
    not found (exit 127), not executable (126), or another runtime error (125)."""
    found = _LOGRUS_MSG.findall(message)
    if found:
        message = "; ".join(_unquote(m) for m in found)
    message = message.strip().replace("\n", " ") or "unknown error"
    text = f"{runtime}: {message}"
    if _PERMISSION.match(message):
        return CommandNotExecutableError(f"{text}: OCI permission denied")
    if _NOT_FOUND.match(message):
        return CommandNotFoundError(
            f"{text}: OCI runtime attempted to invoke a command that was not found")
    return OCIRuntimeError(text)


def spawn(args: ConmonArgs, env: Mapping[str, str], cwd: str) -> int:
    """Start conmon in ``cwd``; return the read end of its sync pipe.

    ``cwd`` is the container's run dir: conmon writes some files relative to its working
    directory (``oom`` with cgroup v1), and they must not land in the caller's."""
    sync_r, start_w, _ = _spawn(args, env, cwd, attach_pipe=False)
    os.close(start_w)
    return sync_r


class ExecPipes(NamedTuple):
    """The pipes of an exec session's conmon (api-version 1, ``--exec-attach``)."""

    #: conmon's reports: the process's pid, then its exit code.
    sync: int
    #: Its second message lets the runtime's exec begin (once we are attached).
    start: int
    #: conmon reports ``{"data": 0}`` here once its attach socket listens.
    attach: int


def spawn_exec(args: ConmonArgs, env: Mapping[str, str], cwd: str) -> ExecPipes:
    """Start conmon for an attached exec session; the caller reads ``attach``, connects,
    writes ``start`` and reads ``sync`` (then closes all three)."""
    return ExecPipes(*_spawn(args, env, cwd, attach_pipe=True))


def _spawn(args: ConmonArgs, env: Mapping[str, str], cwd: str,
           attach_pipe: bool) -> tuple[int, int, int]:
    """Start conmon with its pipes; let it go (the start pipe's first message) and wait
    for the process we started to fork the monitor.  (sync, start, attach or -1)."""
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    start_r, start_w = os.pipe2(os.O_CLOEXEC)
    attach_r, attach_w = os.pipe2(os.O_CLOEXEC) if attach_pipe else (-1, -1)
    mine, theirs = [sync_r, start_w, attach_r], [sync_w, start_r, attach_w]
    try:
        full_env = {**env, "_OCI_SYNCPIPE": str(sync_w), "_OCI_STARTPIPE": str(start_r)}
        if attach_pipe:
            full_env["_OCI_ATTACHPIPE"] = str(attach_w)
        # conmon hands fds 3.. on to the runtime with --preserve-fds: they keep their
        # numbers (the pipes above got higher ones, as 3.. were open already).
        kept = list(range(3, 3 + args.preserve_fds))
        proc = subprocess.Popen(
            args.argv(), env=full_env, cwd=cwd,
            pass_fds=[*kept, *(fd for fd in theirs if fd >= 0)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except BaseException as exc:
        _close(mine)
        if isinstance(exc, OSError):
            raise OCIRuntimeError(f"cannot run conmon {args.conmon}: {exc.strerror}") from None
        raise
    finally:
        _close(theirs)
    # Nothing to do before conmon runs (podman moves it into a cgroup here): let it go.
    try:
        os.write(start_w, b"0")
    except BrokenPipeError:
        pass  # conmon died already: read_sync reports it ("exited without creating")
    # The process we started exits as soon as it has forked the monitor; one that does
    # not is stuck, and waiting on it would hold the container's lock for ever.
    try:
        proc.wait(timeout=CREATE_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        _close(mine)
        raise OCIRuntimeError(f"conmon did not detach within {CREATE_TIMEOUT:.0f}s") from None
    return sync_r, start_w, attach_r


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        if fd >= 0:
            os.close(fd)


def read_sync(fd: int, runtime: str, timeout: float = CREATE_TIMEOUT) -> int:
    """Read conmon's first report from the sync pipe: the container's pid, or raise the
    runtime's error."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise OCIRuntimeError(f"{runtime}: conmon did not report within {timeout:.0f}s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\n", 1)[0]
    if not line:
        raise OCIRuntimeError(f"{runtime}: conmon exited without creating the container")
    try:
        report = json.loads(line)
        value = int(report["data"])
    except (ValueError, KeyError, TypeError):
        raise OCIRuntimeError(f"{runtime}: unreadable report from conmon: {line!r}") from None
    if value <= 0:
        raise runtime_error(runtime, str(report.get("message", "")))
    return value


class Reports:
    """conmon's reports on a pipe, one JSON line each, taken one at a time: an exec
    session's conmon writes the pid, then the exit code (both may come in one read)."""

    def __init__(self, fd: int, runtime: str):
        self.fd = fd
        self.runtime = runtime
        self._buffer = b""

    def next(self, timeout: float | None = CREATE_TIMEOUT) -> dict[str, Any] | None:
        """The next report (``{"data": N, "message": ...}``); None once conmon closed
        the pipe without one.  OCIRuntimeError if none comes within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                raise OCIRuntimeError(
                    f"{self.runtime}: conmon did not report within {timeout:.0f}s")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            report = json.loads(line)
            int(report["data"])
        except (ValueError, KeyError, TypeError):
            raise OCIRuntimeError(
                f"{self.runtime}: unreadable report from conmon: {line!r}") from None
        return dict(report)


def wait_eof(fd: int, timeout: float | None) -> bool:
    """Wait for EOF on a sync pipe (conmon exited, after writing the exit file)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    while os.read(fd, 4096):
        pass
    return True


def process_alive(pid: int, comm: str | None = "conmon") -> bool:
    """Whether ``pid`` is a live process (not a zombie waiting to be reaped) named
    ``comm`` (not a reused pid); any name with ``comm=None``."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    name = stat[stat.index(b"(") + 1:stat.rindex(b")")]
    state = stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3]
    return (comm is None or name == comm.encode()) and state not in (b"Z", b"X")


def environment(base: Sequence[str], extra: Mapping[str, str]) -> dict[str, str]:
    """conmon's environment: ``conmon_env_vars`` (``K=V`` items) plus ``extra``."""
    env = dict(item.split("=", 1) for item in base if "=" in item)
    env.update(extra)
    return env
