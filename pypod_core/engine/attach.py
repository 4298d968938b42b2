"""Attached sessions: a user's stdin, stdout, stderr and window joined to a container's
(``run -i``/``-t``, ``start -a``, ``attach``, ``exec -i``/``-t``; libpod's
``oci_conmon_attach_linux.go`` and ``container_attach``).

:func:`relay` is the loop: one thread waits on the OCI runtime's attachment (output to
show, room for input), the user's stdin and the window-size watcher at once.  Input
goes through a :class:`~pypod_core.engine.detach_keys.DetachScanner`: the detach keys
end the session and leave the container running (:class:`~pypod_core.errors.
DetachedError`).  Input waits while the container is not taking it, and nothing is
read from the user meanwhile: a container that does not read its stdin holds the user's
input back, never the loop.  Input's end closes the container's stdin; the end of the
container's output ends the session.

The functions below it are the sessions of a :class:`~pypod_core.engine.container.
Container` (its methods call them), each with its locking and clean-up.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pypod_core.engine.bundle import exec_spec
from pypod_core.engine.detach_keys import DEFAULT_DETACH_KEYS, DetachScanner, parse_detach_keys
from pypod_core.errors import (
    DetachedError,
    InvalidArgError,
    NoSuchCtrError,
    NotImplementedByBackendError,
)
from pypod_core.host.private import private_dir
from pypod_core.model import ContainerStatus

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.plugin.oci import Attachment

__all__ = ["DEFAULT_DETACH_KEYS", "ResizeSource", "attach", "exec_attached", "relay",
           "start_attached"]

S = ContainerStatus
#: How much is read from the user's stdin at a time.
READ_SIZE = 65536
#: At most this many frames of output are taken per wake-up (about 256 KiB of conmon's).
BATCH = 32


class ResizeSource(Protocol):
    """Where a terminal's size comes from (:class:`pypod_core.host.tty.WindowWatcher`):
    a descriptor readable when the size may have changed, and the size."""

    def fileno(self) -> int:
        """Readable once :meth:`size` may have changed."""

    def size(self) -> tuple[int, int] | None:
        """The current (rows, columns), or None if unknown."""


#: What ``resize=`` takes: a source that follows a window, or one fixed (rows, columns).
Resize = ResizeSource | tuple[int, int] | None


# -- the loop --------------------------------------------------------------------------


def relay(attachment: Attachment, stdin: Any = None, stdout: Any = None, stderr: Any = None,
          detach_keys: bytes = b"\x10\x11", resize: ResizeSource | None = None) -> bool:
    """Join ``attachment`` to the user's streams until the container's output ends
    (False) or the user types ``detach_keys`` (True; looked for only in input from a
    terminal).  ``stdin`` is a descriptor, a file, or anything with ``read()`` (None:
    no input); ``stdout``/``stderr`` are binary files or descriptors (None drops that
    stream)."""
    source = _Input(stdin) if stdin is not None else None
    try:
        return _Loop(attachment, source, detach_keys, resize).run(
            _writer(stdout), _writer(stderr))
    finally:
        if source is not None:
            source.close()


class _Loop:
    """One session's state: input waiting to be sent, and what is being watched."""

    def __init__(self, attachment: Attachment, source: _Input | None, keys: bytes,
                 resize: ResizeSource | None):
        self.attachment = attachment
        self.source = source
        # Keys are typed: input from a pipe or a file is data, passed on whole (podman,
        # reading such input in large blocks, never finds keys in it either).
        typed = source is not None and os.isatty(source.fileno())
        self.scanner = DetachScanner(keys if typed else b"")
        self.resize = resize
        self.pending = b""
        self.input_ended = source is None
        # poll, not epoll: epoll refuses regular files (stdin redirected from a file).
        self.sel = selectors.PollSelector()

    def run(self, out: Callable[[bytes], None], err: Callable[[bytes], None]) -> bool:
        sock = self.attachment.fileno()
        self.sel.register(sock, selectors.EVENT_READ, "container")
        if self.source is not None:
            self.sel.register(self.source.fileno(), selectors.EVENT_READ, "stdin")
        if self.resize is not None:
            self.sel.register(self.resize.fileno(), selectors.EVENT_READ, "resize")
        try:
            while True:
                for key, events in self.sel.select():
                    if key.data == "container":
                        if events & selectors.EVENT_READ and not self._output(out, err):
                            return False
                        if events & selectors.EVENT_WRITE:
                            self._flush()
                    elif key.data == "stdin":
                        if self._input():
                            return True
                    elif self.resize is not None:
                        _apply_size(self.attachment, self.resize.size())
        finally:
            self.sel.close()

    def _output(self, out: Callable[[bytes], None], err: Callable[[bytes], None]) -> bool:
        """Show what has come (frames that are there already, in a batch: one write per
        run of a stream); False once the output has ended."""
        runs: list[tuple[str, bytearray]] = []
        ended = False
        for _ in range(BATCH):
            frame = self.attachment.receive()
            if frame is None:
                ended = True
                break
            stream, data = frame
            if not data:
                break  # nothing more now (or a frame that carried nothing)
            if runs and runs[-1][0] == stream:
                runs[-1][1].extend(data)
            else:
                runs.append((stream, bytearray(data)))
        for name, run in runs:
            (err if name == "stderr" else out)(bytes(run))
        return not ended

    def _input(self) -> bool:
        """Read what the user typed; True if it completed the detach keys."""
        assert self.source is not None
        data = self.source.read()
        if not data:
            self.pending += self.scanner.pending()
            self.input_ended = True
            self.sel.unregister(self.source.fileno())
            self._flush()
            return False
        data, detached = self.scanner.feed(data)
        self.pending += data
        if detached:
            return True
        self._flush()
        return False

    def _flush(self) -> None:
        """Send what is pending; while some is left, wait for room instead of reading
        more from the user.  After the input's end, close the container's stdin."""
        if self.pending:
            taken = self.attachment.send(self.pending)
            self.pending = self.pending[taken:]
        sock = self.attachment.fileno()
        reading = self.source is not None and not self.input_ended
        if self.pending:
            self.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, "container")
            if reading:
                self._watch_input(False)
            return
        self.sel.modify(sock, selectors.EVENT_READ, "container")
        if reading:
            self._watch_input(True)
        elif self.source is not None and self.input_ended:
            self.attachment.close_stdin()
            self.source = None

    def _watch_input(self, on: bool) -> None:
        assert self.source is not None
        fd = self.source.fileno()
        registered = fd in self.sel.get_map()
        if on and not registered:
            self.sel.register(fd, selectors.EVENT_READ, "stdin")
        elif not on and registered:
            self.sel.unregister(fd)


class _Input:
    """The user's stdin as a descriptor to wait on: its own, or a pipe fed by a thread
    from an object that has none (``io.BytesIO``)."""

    def __init__(self, stdin: Any):
        self._pipe: tuple[int, int] | None = None
        _check_stdin(stdin)
        fd = stdin if isinstance(stdin, int) else _fileno(stdin)
        if fd is None:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            self._pipe = (read_end, write_end)
            threading.Thread(target=self._feed, args=(stdin, write_end), daemon=True,
                             name="pypod-stdin").start()
            fd = read_end
        self.fd = fd

    @staticmethod
    def _feed(stdin: Any, fd: int) -> None:
        try:
            while data := stdin.read(READ_SIZE):
                _write_all(fd, data if isinstance(data, bytes) else data.encode())
        except OSError:
            pass  # the session ended first: the pipe is closed
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bytes:
        """What is there (b"" at the end; an error reading counts as the end)."""
        try:
            return os.read(self.fd, READ_SIZE)
        except OSError:
            return b""

    def close(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe[0])
            self._pipe = None


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _writer(target: Any) -> Callable[[bytes], None]:
    """Write-and-flush to a binary file or a descriptor; None drops the data."""
    if target is None:
        return lambda data: None
    if isinstance(target, int):
        return lambda data: _write_all(target, data)

    def write(data: bytes) -> None:
        target.write(data)
        target.flush()

    return write


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _apply_size(attachment: Attachment, size: tuple[int, int] | None) -> None:
    if size is not None:
        attachment.resize(*size)


# -- sessions --------------------------------------------------------------------------


def _size_source(resize: Resize) -> tuple[tuple[int, int] | None, ResizeSource | None]:
    """(the size at the start, a source of later sizes) from ``resize=``."""
    if resize is None:
        return None, None
    if isinstance(resize, tuple):
        if (len(resize) != 2 or not all(isinstance(n, int) and not isinstance(n, bool)
                                        and 0 < n <= 1000 for n in resize)):
            raise InvalidArgError(f"resize {resize!r}: (rows, columns), each 1 to 1000")
        return resize, None
    if not callable(getattr(resize, "fileno", None)) or not callable(
            getattr(resize, "size", None)):
        raise InvalidArgError("resize must be (rows, columns) or have fileno() and size()")
    return resize.size(), resize


def _check_stdin(stdin: Any) -> None:
    """InvalidArgError unless ``stdin`` is None, a descriptor or something readable."""
    if stdin is None or isinstance(stdin, int) or _fileno(stdin) is not None:
        return
    if not callable(getattr(stdin, "read", None)):
        raise InvalidArgError(f"stdin must be a descriptor or a readable file, "
                              f"not {type(stdin).__name__}")


def _check_interactive(attachment: Attachment) -> None:
    if not attachment.interactive:
        attachment.close()
        raise NotImplementedByBackendError(
            f"{type(attachment).__name__} does not attach stdin or terminals")


def start_attached(ctr: Container, stdout: Any, stderr: Any, stdin: Any = None,
                   detach_keys: str = DEFAULT_DETACH_KEYS, resize: Resize = None) -> int:
    """:meth:`Container.start_attached`: start attached from the first byte, relay
    until the container's output ends, return its exit code."""
    keys = parse_detach_keys(detach_keys)
    first_size, source = _size_source(resize)
    _check_stdin(stdin)
    # Without input or a terminal to size, the plain stream does (any backend has it).
    joined = stdin is not None or (resize is not None and ctr.config.terminal)
    private_dir(ctr.exit_dir)
    with open(ctr.attached_marker, "w") as f:
        f.write(str(os.getpid()))
    detached = False
    try:
        with ctr.locked():
            if ctr.config.terminal and first_size:
                ctr.console_size = first_size  # the bundle sizes the terminal at init
            ctr._prepare_start()
            attachment = ctr.oci.attach_container(ctr)
            if joined:
                _check_interactive(attachment)
            try:
                ctr._start()
            except BaseException:
                attachment.close()
                raise
        if not joined:
            attachment.stream(stdout, stderr)
        else:
            try:
                _relay(ctr, attachment, stdin, stdout, stderr, keys, source)
            except DetachedError:
                detached = True  # it runs on: not removed by --rm
                raise
        ctr.oci.wait_container(ctr)
        try:
            code = ctr.wait()
        except NoSuchCtrError:
            code = _exit_code_of_removed(ctr)  # rm -f by another process meanwhile
        # The exit command leaves the clean-up (and so the restart) to us.
        ctr.restart_if_due()
        return code
    finally:
        if ctr.config.auto_remove and not detached:
            ctr._remove_quietly()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ctr.attached_marker)


def _exit_code_of_removed(ctr: Container) -> int:
    """The exit code a removal left for this attached session (see
    ``runtime_ctr._leave_exit_code``); NoSuchCtrError if none was left."""
    try:
        with open(ctr.exit_file) as f:
            code = int(f.read().strip())
    except (OSError, ValueError):
        raise NoSuchCtrError(f"no container with id {ctr.id}") from None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(ctr.exit_file)
    return code


def attach(ctr: Container, stdout: Any, stderr: Any, stdin: Any = None,
           detach_keys: str = DEFAULT_DETACH_KEYS, resize: Resize = None) -> None:
    """:meth:`Container.attach`: relay a created or running container's output (and
    input) until its output ends; DetachedError if the user detached."""
    keys = parse_detach_keys(detach_keys)
    first_size, source = _size_source(resize)
    _check_stdin(stdin)
    with ctr.locked():
        ctr._require(S.CREATED, S.RUNNING, S.PAUSED, action="attach to")
        attachment = ctr.oci.attach_container(ctr)
    if stdin is None and (resize is None or not ctr.config.terminal):
        attachment.stream(stdout, stderr)
        return
    _check_interactive(attachment)
    _relay(ctr, attachment, stdin, stdout, stderr, keys, source, first_size)


def _relay(ctr: Container, attachment: Attachment, stdin: Any, stdout: Any, stderr: Any,
           keys: bytes, source: ResizeSource | None,
           size: tuple[int, int] | None = None) -> None:
    """Relay through ``attachment`` (sized ``size`` first, on a terminal) until the
    container's output ends, then close it; DetachedError if the user detached."""
    try:
        if ctr.config.terminal:
            _apply_size(attachment, size)
        detached = relay(attachment, stdin, stdout, stderr, keys,
                         source if ctr.config.terminal else None)
    finally:
        attachment.close()
    if detached:
        raise DetachedError(f"detached from container {ctr.name}")


def exec_attached(ctr: Container, command: list[str], env: dict[str, str] | None = None,
                  user: str = "", workdir: str = "", stdin: Any = None, stdout: Any = None,
                  stderr: Any = None, terminal: bool = False,
                  detach_keys: str = DEFAULT_DETACH_KEYS, resize: Resize = None) -> int:
    """:meth:`Container.exec` with stdin or a terminal: a session of the OCI runtime's
    (``exec_attached``), relayed until its output ends; its exit code."""
    keys = parse_detach_keys(detach_keys)
    first_size, source = _size_source(resize)
    _check_stdin(stdin)
    with ctr.locked():
        ctr._require(S.RUNNING, action="exec in")
    spec = exec_spec(ctr.config, command, env=ctr.exec_env(env), user=user,
                     workdir=workdir, rootfs=ctr.state.mount_point)
    if terminal:
        # A terminal wants a TERM (podman's default environment has one).
        extra = () if any(e.startswith("TERM=") for e in spec.env) else ("TERM=xterm",)
        spec = spec._replace(terminal=True, env=spec.env + extra,
                             console_size=first_size or (0, 0))
    attachment = ctr.oci.exec_attached(ctr, spec, stdin=stdin is not None)
    try:
        detached = relay(attachment, stdin, stdout, stderr, keys,
                         source if terminal else None)
    except BaseException:
        attachment.close()
        raise
    if detached:
        attachment.close()
        raise DetachedError(f"detached from an exec session in container {ctr.name}")
    return attachment.wait()


def exec_detached(ctr: Container, command: list[str], env: dict[str, str] | None = None,
                  user: str = "", workdir: str = "", terminal: bool = False) -> str:
    """:meth:`Container.exec_detached`: start the session, leave it running, return
    its id."""
    with ctr.locked():
        ctr._require(S.RUNNING, action="exec in")
    spec = exec_spec(ctr.config, command, env=ctr.exec_env(env), user=user,
                     workdir=workdir, rootfs=ctr.state.mount_point)
    if terminal:
        extra = () if any(e.startswith("TERM=") for e in spec.env) else ("TERM=xterm",)
        spec = spec._replace(terminal=True, env=spec.env + extra)
    attachment = ctr.oci.exec_attached(ctr, spec, stdin=False)
    # The session's monitor keeps the process (and drops its output) once we go.
    attachment.close()
    return attachment.session
