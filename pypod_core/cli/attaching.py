"""The command line's attached sessions: ``run``/``start -a`` (with ``-i``, ``-t``),
``attach`` and ``exec -i``/``-t`` (as podman's ``pkg/domain/infra/abi/terminal``).

The local terminal is the user's: in raw mode while keys go to a container's terminal,
restored before anything is printed (an error, the end); its window followed by
SIGWINCH.  Signals that reach ``pypod`` while attached are forwarded to the container
(podman's ``--sig-proxy``).  A detach (the detach keys) ends the command with 0, as
podman's, leaving the container (or exec session) running.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from pypod_core.cli.output import error_line
from pypod_core.errors import (
    CommandNotExecutableError,
    CommandNotFoundError,
    CtrStateInvalidError,
    DetachedError,
    NetworkError,
    OCIRuntimeError,
)
from pypod_core.host import tty

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: Exit codes when the command cannot run (podman's).
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127
#: podman's warning for ``-it`` without a terminal to read from.
NOT_A_TTY = ("The input device is not a TTY. The --tty and --interactive flags might not "
             "work properly")


@contextmanager
def local_terminal(terminal: bool, interactive: bool,
                   warn: bool = True) -> Iterator[tty.WindowWatcher | None]:
    """For a session with a container terminal: the window watcher of our stdin (None
    if it is no terminal; then ``run -it`` warns, as podman's), and raw mode while the
    user's keys go to the container."""
    if not terminal:
        yield None
        return
    fd = _stdin_fd()
    if not tty.is_terminal(fd):
        if interactive and warn:
            print(f"Warning: {NOT_A_TTY}", file=sys.stderr)
        yield None
        return
    assert fd is not None
    with ExitStack() as stack:
        watcher = stack.enter_context(tty.WindowWatcher(fd))
        if interactive:
            sys.stdout.flush()
            stack.enter_context(tty.raw_mode(fd))
        yield watcher


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _stdin(interactive: bool) -> Any:
    return sys.stdin.buffer if interactive and sys.stdin is not None else None


def start_attached(ctr: Container, interactive: bool, detach_keys: str,
                   streams: frozenset[str] = frozenset({"stdout", "stderr"})) -> int:
    """``run`` and ``start -a``: start ``ctr`` attached; the container's exit code.
    Only the output ``streams`` named reach ours (``run --attach``)."""
    stdout = sys.stdout.buffer if "stdout" in streams else None
    stderr = sys.stderr.buffer if "stderr" in streams else None

    def session() -> int:
        with SigProxy(ctr), local_terminal(ctr.config.terminal, interactive) as window:
            sys.stdout.flush()  # what was printed before (the id) comes first
            return ctr.start_attached(stdout, stderr,
                                      stdin=_stdin(interactive), detach_keys=detach_keys,
                                      resize=window)

    try:
        return _exit_code(session)
    except (OCIRuntimeError, NetworkError) as exc:  # could not start: podman's 126/127
        return start_failed(exc)


def start_failed(exc: OCIRuntimeError | NetworkError) -> int:
    """``run``'s exit code when the OCI runtime could not start the container (podman's
    define.ExitCode): 127 for a missing file, else 126; the error on one line."""
    error_line(str(exc))
    text = str(exc).lower()
    return EXIT_NOT_FOUND if "not found" in text or "no such file" in text \
        else EXIT_CANNOT_INVOKE


def attach(ctr: Container, interactive: bool, detach_keys: str, sig_proxy: bool = True,
           newline: bool = True) -> int:
    """``attach``: to a running container until its output ends or the user detaches;
    0 either way, with a new line after (as podman's; not for ``start -a``)."""
    ctr.sync()
    if ctr.state.state.value != "running":
        raise CtrStateInvalidError("you can only attach to running containers")
    stdin = _stdin(interactive)
    with ExitStack() as stack:
        if sig_proxy:
            stack.enter_context(SigProxy(ctr))
        window = stack.enter_context(local_terminal(ctr.config.terminal, stdin is not None,
                                                    warn=False))
        try:
            ctr.attach(sys.stdout.buffer, sys.stderr.buffer, stdin=stdin,
                       detach_keys=detach_keys, resize=window)
        except DetachedError:
            pass
    if newline:
        sys.stdout.write("\n")
    return 0


def exec_attached(ctr: Container, command: list[str], interactive: bool, tty: bool,
                  detach_keys: str, **options: Any) -> int:
    """``exec -i``/``-t``: the command's exit code (0 after a detach)."""
    def session() -> int:
        with local_terminal(tty, interactive) as window:
            return ctr.exec(command, stdout=sys.stdout.buffer, stderr=sys.stderr.buffer,
                            stdin=_stdin(interactive), terminal=tty,
                            detach_keys=detach_keys, resize=window, **options)

    return _exit_code(session)


def _exit_code(session: Callable[[], int]) -> int:
    """What an attached session exits with, as podman's: its own code, 0 after a detach,
    127 (command not found) or 126 (not executable) with the error on one line."""
    try:
        return session()
    except DetachedError:
        return 0
    except CommandNotFoundError as exc:
        error_line(str(exc))
        return EXIT_NOT_FOUND
    except CommandNotExecutableError as exc:
        error_line(str(exc))
        return EXIT_CANNOT_INVOKE


class SigProxy:
    """Forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container
    while attached (podman's --sig-proxy)."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")

    def __init__(self, ctr: Container):
        self.ctr = ctr
        self.saved: dict[int, Any] = {}

    def _forward(self, signum: int, frame: Any) -> None:
        try:
            self.ctr.oci.kill_container(self.ctr, signum)
        except Exception:  # the container may be gone already
            pass

    def __enter__(self) -> SigProxy:
        for name in self.SIGNALS:
            number = getattr(signal, name)
            self.saved[number] = signal.signal(number, self._forward)
        return self

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self.saved.items():
            signal.signal(number, handler)
