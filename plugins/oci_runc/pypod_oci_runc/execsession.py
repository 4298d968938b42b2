"""Attached exec sessions (``pypod exec -i``/``-t``) under a conmon of their own, as
podman runs every exec (libpod's ``oci_conmon_exec_linux.go``).

Each session has a directory under the container's run dir: the process spec, conmon's
attach socket and ``ctl`` fifo, the pid file.  The order, as conmon's
``--exec-attach`` wants it: conmon reports on the attach pipe once its socket listens;
we connect; the start pipe's second message lets ``RUNTIME exec`` begin, so that no
output is lost; the sync pipe brings the process's pid (or the runtime's error), and at
the end its exit code.  conmon's exit command removes the directory, so that a session
left running (the user detached) is cleaned up when it ends.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from typing import TYPE_CHECKING, Any

from pypod_core.errors import OCIRuntimeError
from pypod_core.host.private import private_dir
from pypod_core.plugin.oci import ExecAttachment
from pypod_oci_runc import attach, conmon

if TYPE_CHECKING:
    from pypod_core.plugin import ContainerView as Container
    from pypod_core.plugin import ExecSpec
    from pypod_oci_runc.runtime import ConmonOCIRuntime


def process_spec(ctr: Container, spec: ExecSpec) -> dict[str, Any]:
    """The OCI process of the session: the container's own (its capabilities, rlimits,
    seccomp-relevant flags) with the exec's command, user, environment, directory and
    terminal, as podman copies it; ``runtime exec --process`` takes nothing else."""
    try:
        with open(os.path.join(ctr.bundle_dir, "config.json")) as f:
            process = dict(json.load(f)["process"])
    except (OSError, ValueError, KeyError) as exc:
        raise OCIRuntimeError(f"cannot read the bundle of container {ctr.name}: {exc}") \
            from None
    process.pop("consoleSize", None)
    process.update(
        args=list(spec.args), env=list(spec.env), cwd=spec.cwd, terminal=spec.terminal,
        noNewPrivileges=spec.no_new_privileges,
        user={"uid": spec.uid, "gid": spec.gid,
              **({"additionalGids": list(spec.additional_gids)}
                 if spec.additional_gids else {})})
    if spec.apparmor_profile:
        process["apparmorProfile"] = spec.apparmor_profile
    else:
        process.pop("apparmorProfile", None)
    if spec.terminal and spec.console_size[0] > 0 and spec.console_size[1] > 0:
        process["consoleSize"] = {"height": spec.console_size[0],
                                  "width": spec.console_size[1]}
    return process


def start(backend: ConmonOCIRuntime, ctr: Container, spec: ExecSpec,
          stdin: bool) -> ConmonExecAttachment:
    """Start the session and connect to it; the process runs when this returns."""
    session = secrets.token_hex(32)
    directory = os.path.join(ctr.run_dir, "exec", session[:16])
    private_dir(directory)
    try:
        return _start(backend, ctr, spec, stdin, session, directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _start(backend: ConmonOCIRuntime, ctr: Container, spec: ExecSpec, stdin: bool,
           session: str, directory: str) -> ConmonExecAttachment:
    spec_path = os.path.join(directory, "process.json")
    with open(spec_path, "w") as f:
        json.dump(process_spec(ctr, spec), f)
    exits = os.path.join(directory, "exits")  # not "exit": conmon's file in persist-dir
    private_dir(exits)
    args = conmon.ConmonArgs(
        conmon=backend.conmon_path, runtime=backend.path,
        # The runtime's errors also go to a log of the session's: crun reports a command
        # it cannot run on the terminal, and conmon passes on no message then.
        runtime_args=(*backend.global_args, "--log-format=json",
                      f"--log={os.path.join(directory, 'oci-log')}"),
        ctr_id=ctr.id, name=ctr.name,
        bundle=directory, pidfile=os.path.join(directory, "pid"),
        conmon_pidfile=os.path.join(directory, "conmon.pid"), exit_dir=exits,
        persist_dir=directory, socket_dir=directory, log_path="", log_driver="none",
        exit_command=(shutil.which("rm") or "/bin/rm", "-rf", directory),
        terminal=spec.terminal, stdin=stdin, exec_spec=spec_path)
    pipes = conmon.spawn_exec(args, backend.conmon_env(), directory)
    reports = conmon.Reports(pipes.sync, backend.name)
    sock = None
    try:
        if conmon.Reports(pipes.attach, backend.name).next() is None:
            raise OCIRuntimeError(f"{backend.name}: conmon exited before the exec started")
        sock = attach.connect(directory)
        os.write(pipes.start, b"1")  # the runtime's exec may begin
        first = reports.next()
        if first is None or int(first["data"]) <= 0:
            said = str(first.get("message", "")) if first else ""
            said = _logged_errors(directory) or said
            if not said:
                raise OCIRuntimeError(
                    f"{backend.name}: conmon exited without starting the exec")
            raise conmon.runtime_error(backend.name, said)
    except BaseException:
        if sock is not None:
            sock.close()
        os.close(pipes.sync)
        raise
    finally:
        os.close(pipes.start)
        os.close(pipes.attach)
    return ConmonExecAttachment(sock, directory, reports, session)


def _logged_errors(directory: str) -> str:
    """The errors the runtime logged (``--log-format=json``: one object a line)."""
    messages = []
    try:
        with open(os.path.join(directory, "oci-log")) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                    messages.append(str(entry.get("msg", "")))
    except OSError:
        return ""
    return "; ".join(m for m in messages if m)


class ConmonExecAttachment(attach.SocketAttachment, ExecAttachment):
    """An attached exec session: the attach socket, then the exit code conmon reports."""

    def __init__(self, sock: Any, directory: str, reports: conmon.Reports, session: str):
        super().__init__(sock, directory)
        self.reports = reports
        self.session = session

    def wait(self) -> int:
        """The exit code conmon reports once the process exited (after its output);
        then the connection and the session's files go."""
        if self.reports.fd < 0:
            raise OCIRuntimeError(f"exec session {self.session[:12]} was closed")
        try:
            report = self.reports.next(timeout=None)
        finally:
            self.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        if report is None:
            raise OCIRuntimeError(f"{self.reports.runtime}: conmon of exec session "
                                  f"{self.session[:12]} exited without an exit code")
        code = int(report["data"])
        if code < 0:  # the runtime failed after the start (conmon's negative status)
            raise conmon.runtime_error(self.reports.runtime, str(report.get("message", "")))
        return code

    def close(self) -> None:
        """Close the connection without waiting; a session still running goes on (its
        conmon's exit command removes its files)."""
        super().close()
        if self.reports.fd >= 0:
            os.close(self.reports.fd)
            self.reports.fd = -1
