"""The OCIRuntime interface: what runs a container (libpod's ``OCIRuntime``).

A backend acts on a live :class:`pypod_core.engine.container.Container`: it reads
``ctr.config`` and the paths the container gives (``bundle_dir``, ``run_dir``,
``exit_file``, ``log_path``) and writes what it learns into ``ctr.state``; the caller
holds the container's lock, checks the state transition and saves the state.

The conformance kit, :class:`pypod_core.testing.oci.OCIRuntimeTests`, checks a backend
against this contract with real containers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from pypod_core.errors import NotImplementedByBackendError

if TYPE_CHECKING:
    from pypod_core.plugin.views import ContainerView as Container


class ExecSpec(NamedTuple):
    """A process to run in a container (``pypod exec``), resolved by the engine against
    the container's config and /etc files: an OCI runtime runs it as it is."""

    args: tuple[str, ...]
    #: ``KEY=VALUE`` strings: the container's environment, then the exec's own.
    env: tuple[str, ...]
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    cwd: str = "/"
    #: The container's: an exec gets no more privileges than its container.
    no_new_privileges: bool = False
    #: An AppArmor profile to confine the process with ("" for none).
    apparmor_profile: str = ""
    #: ``exec -t``: the process runs on a pseudo-terminal of its own.
    terminal: bool = False
    #: The terminal's first size, (rows, columns); (0, 0) leaves it to the runtime.
    console_size: tuple[int, int] = (0, 0)


class Attachment(ABC):
    """A connection to a container's stdout and stderr (see
    :meth:`OCIRuntime.attach_container`), and to its stdin and terminal where the
    backend can (:attr:`interactive`).

    :meth:`stream` is all a backend must give.  An interactive one also gives the
    primitives of the engine's attach loop (``pypod_core.engine.attach``), which waits on
    :meth:`fileno` beside the user's stdin and window: :meth:`receive`, :meth:`send`,
    :meth:`close_stdin` and :meth:`resize`; their defaults raise
    :class:`~pypod_core.errors.NotImplementedByBackendError`."""

    #: Whether :meth:`fileno`, :meth:`receive`, :meth:`send`, :meth:`close_stdin` and
    #: :meth:`resize` work (the engine checks before it starts anything).
    interactive: bool = False

    @abstractmethod
    def stream(self, stdout: BinaryIO | None, stderr: BinaryIO | None) -> None:
        """Copy the container's output to ``stdout`` and ``stderr`` (None drops that
        stream), flushing as it goes, until the container closes its output; then
        close the connection."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection without reading further."""

    def fileno(self) -> int:
        """A descriptor that is readable when :meth:`receive` will not block, and
        writable when :meth:`send` can take input."""
        raise _not_interactive(self, "fileno")

    def receive(self) -> tuple[str, bytes] | None:
        """The next piece of output, ("stdout" or "stderr", data), once :meth:`fileno`
        is readable; None once the container's output has ended (the connection stays
        to be closed).  Data may be empty (a frame that carried nothing to show)."""
        raise _not_interactive(self, "receive")

    def send(self, data: bytes) -> int:
        """Write up to ``data`` to the container's stdin (or terminal) without blocking;
        return how many bytes were taken (0: try again once :meth:`fileno` is
        writable).  A container whose stdin is not open drops the input."""
        raise _not_interactive(self, "send")

    def close_stdin(self) -> None:
        """No more input: the container's stdin sees end-of-file (a container made with
        ``stdin``; a terminal is not closed)."""
        raise _not_interactive(self, "close_stdin")

    def resize(self, height: int, width: int) -> None:
        """Set the size of the container's (or exec session's) terminal."""
        raise _not_interactive(self, "resize")


class ExecAttachment(Attachment):
    """An exec session started attached (see :meth:`OCIRuntime.exec_attached`): its
    output, its input, and at the end its exit code."""

    #: The session's id (64 hex digits, as podman's), shown by ``exec --detach``.
    session: str = ""

    @abstractmethod
    def wait(self) -> int:
        """After the output ended: block until the process has exited; its exit code
        (127 not found, 126 not executable, as ``pypod exec``).  Closes the session."""


def _not_interactive(attachment: Attachment, what: str) -> Exception:
    return NotImplementedByBackendError(
        f"{type(attachment).__name__} cannot {what}: the OCI runtime backend does not "
        "attach stdin or terminals")


class OCIRuntime(ABC):
    """An OCI runtime driven through a monitor process (conmon)."""

    #: The backend's name (``runc``, ``crun``).
    name: str
    #: The runtime binary in use.
    path: str

    @abstractmethod
    def create_container(self, ctr: Container) -> None:
        """Create the container from its bundle (``ctr.bundle_dir/config.json``) under a
        monitor; on return the container process exists, stopped before the user's
        command, and ``ctr.state.pid`` and ``ctr.state.conmon_pid`` are set.

        With ``ctr.config.terminal`` (the bundle's ``process.terminal``) the command gets
        a pseudo-terminal held by the monitor, its output one stream (stdout); with
        ``ctr.config.stdin`` (and no terminal) its stdin is a pipe that attachments
        write to, closed when one of them closes its input.  Otherwise stdin is
        /dev/null.

        The command's missing or unrunnable executable raises
        :class:`~pypod_core.errors.CommandNotFoundError` or
        :class:`~pypod_core.errors.CommandNotExecutableError`; any other failure
        :class:`~pypod_core.errors.OCIRuntimeError` with the runtime's message."""

    @abstractmethod
    def start_container(self, ctr: Container) -> None:
        """Start the user's command in a created container."""

    @abstractmethod
    def attach_container(self, ctr: Container) -> Attachment:
        """Connect to the output of a created or running container.  Output written
        before the connection is not replayed (the log has it): to miss nothing, attach
        before :meth:`start_container`, then :meth:`Attachment.stream`."""

    @abstractmethod
    def wait_container(self, ctr: Container, timeout: float | None = None) -> bool:
        """Block until the monitor recorded the container's exit (its exit file exists),
        at most ``timeout`` seconds (None: no limit); return whether it did.  A container
        whose monitor is gone (killed: no exit file will come) is waited for until its
        process is gone too."""

    @abstractmethod
    def kill_container(self, ctr: Container, signal: int, all_processes: bool = False) -> None:
        """Send ``signal`` to the container's init process (or to every process)."""

    @abstractmethod
    def stop_container(self, ctr: Container, timeout: int) -> None:
        """Send the stop signal, wait up to ``timeout`` seconds, then SIGKILL every process
        and wait for the container to exit.  A timeout of 0 kills at once."""

    @abstractmethod
    def delete_container(self, ctr: Container) -> None:
        """Delete the container from the OCI runtime (it must not be running); a
        container the runtime does not know is not an error."""

    @abstractmethod
    def pause_container(self, ctr: Container) -> None:
        """Freeze every process of the container."""

    @abstractmethod
    def unpause_container(self, ctr: Container) -> None:
        """Thaw a paused container."""

    @abstractmethod
    def update_container_status(self, ctr: Container) -> None:
        """Set ``ctr.state`` from what the monitor and the runtime know: for a container
        that exited, set ``state`` to exited, ``exit_code``, ``finished_at`` and
        ``oom_killed`` from the monitor's files."""

    @abstractmethod
    def exec_container(self, ctr: Container, spec: ExecSpec, stdout: Any = None,
                       stderr: Any = None) -> int:
        """Run the process ``spec`` describes in the running container; return its exit
        code (127 not found, 126 not executable, as ``pypod exec``).  Its stdin is
        /dev/null (``pypod exec`` without ``-i``, as podman's); its output goes to
        ``stdout``/``stderr`` (binary files or descriptors), ours where None.  The engine
        has resolved the user, environment and directory."""

    def exec_attached(self, ctr: Container, spec: ExecSpec, stdin: bool) -> ExecAttachment:
        """Start the process ``spec`` describes (on a terminal of its own with
        ``spec.terminal``) in the running container, connected before it starts so
        that no output is lost; with ``stdin``, its stdin is a pipe fed by
        :meth:`Attachment.send` (else /dev/null).  ``pypod exec -i``/``-t``.

        A missing or unrunnable command raises
        :class:`~pypod_core.errors.CommandNotFoundError` or
        :class:`~pypod_core.errors.CommandNotExecutableError`, here or from
        :meth:`ExecAttachment.wait`.  The default raises
        :class:`~pypod_core.errors.NotImplementedByBackendError`."""
        raise NotImplementedByBackendError(
            f"the OCI runtime backend {self.name} cannot exec attached (-i, -t)")

    def resize_container(self, ctr: Container, height: int, width: int) -> None:
        """Set the size of a ``terminal`` container's terminal (rows, columns).  The
        default raises :class:`~pypod_core.errors.NotImplementedByBackendError`."""
        raise NotImplementedByBackendError(
            f"the OCI runtime backend {self.name} cannot resize terminals")

    @abstractmethod
    def version(self) -> str:
        """The runtime binary's version line."""
