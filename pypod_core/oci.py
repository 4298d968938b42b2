"""The OCIRuntime interface: what runs a container (libpod's ``OCIRuntime``).

A backend acts on a live :class:`pypod_core.container.Container`: it reads
``ctr.config`` and the paths the container gives (bundle, exit and log files) and
writes what it learns into ``ctr.state``; the caller saves the state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pypod_core.container import Container


class OCIRuntime(ABC):
    """An OCI runtime driven through conmon."""

    #: The backend's name (``runc``, ``crun``).
    name: str
    #: The runtime binary in use.
    path: str

    @abstractmethod
    def create_container(self, ctr: Container) -> None:
        """Create the container from its bundle, under a monitor (conmon); on return the
        container process exists, stopped before the user's command, and
        ``ctr.state.pid`` and ``ctr.state.conmon_pid`` are set."""

    @abstractmethod
    def start_container(self, ctr: Container) -> None:
        """Start the user's command in a created container."""

    @abstractmethod
    def kill_container(self, ctr: Container, signal: int, all_processes: bool = False) -> None:
        """Send ``signal`` to the container's init process (or to every process)."""

    @abstractmethod
    def stop_container(self, ctr: Container, timeout: int) -> None:
        """Send the stop signal, wait up to ``timeout`` seconds, then SIGKILL every process
        and wait for the container to exit.  A timeout of 0 kills at once."""

    @abstractmethod
    def delete_container(self, ctr: Container) -> None:
        """Delete the container from the OCI runtime (it must not be running)."""

    @abstractmethod
    def pause_container(self, ctr: Container) -> None:
        """Freeze every process of the container."""

    @abstractmethod
    def unpause_container(self, ctr: Container) -> None:
        """Thaw a paused container."""

    @abstractmethod
    def update_container_status(self, ctr: Container) -> None:
        """Ask the runtime for the container's status and set ``ctr.state`` from it; for a
        container that exited, read the exit code (and OOM kill) from conmon's files."""

    @abstractmethod
    def exec_container(
        self,
        ctr: Container,
        command: list[str],
        env: dict[str, str] | None = None,
        user: str = "",
        workdir: str = "",
    ) -> int:
        """Run ``command`` in the running container, its output on ours; return its exit
        code."""

    @abstractmethod
    def version(self) -> str:
        """The runtime binary's version line."""
