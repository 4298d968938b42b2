"""conmon's attach socket: a container's stdout and stderr frame by frame, its stdin and
its terminal.

conmon listens on a SOCK_SEQPACKET socket ``attach`` in the bundle directory
(``--full-attach``).  Each packet it sends is one byte naming the stream (2 stdout, 3
stderr) followed by the data; conmon closes the connection once the container's output
ends.  Each packet a client sends is written as it is to the container's stdin (or its
terminal); a client that shuts down its sending side closes the stdin of a container
made with ``-i``.  The terminal's size is set through the ``ctl`` fifo beside the
socket: a line ``1 HEIGHT WIDTH``.

The bundle path may be longer than a socket address allows, so we connect through
``/proc/self/fd/N/attach`` on an ``O_PATH`` descriptor of the directory, as podman does.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import BinaryIO

from pypod_core.errors import OCIRuntimeError
from pypod_core.plugin.oci import Attachment

STDOUT = 2
STDERR = 3
#: conmon's STDIO_BUF_SIZE plus the stream byte.
PACKET_SIZE = 8192 + 1
#: conmon reads a client's packet into a buffer of CONN_SOCK_BUF_SIZE bytes: a longer
#: one would be cut short.
SEND_SIZE = 32768
#: conmon's control message for a new window size.
WIN_RESIZE_EVENT = 1
_STREAMS = {STDOUT: "stdout", STDERR: "stderr"}


def connect(directory: str, name: str = "attach") -> socket.socket:
    """Connect to the attach socket ``directory/name``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        dirfd = os.open(directory, os.O_PATH | os.O_CLOEXEC)
    except OSError as exc:
        sock.close()
        raise OCIRuntimeError(f"cannot attach: {directory}: {exc.strerror}") from None
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{name}")
    except OSError as exc:
        sock.close()
        raise OCIRuntimeError(
            f"cannot attach to {os.path.join(directory, name)}: {exc.strerror}") from None
    finally:
        os.close(dirfd)
    return sock


def write_resize(directory: str, height: int, width: int) -> None:
    """Ask the conmon whose ``ctl`` fifo is in ``directory`` to resize its terminal.
    A conmon that is gone (no fifo, or nobody reading it) is no error: its container
    has exited, and there is no terminal left to size."""
    try:
        fd = os.open(os.path.join(directory, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENXIO):
            return
        raise OCIRuntimeError(f"cannot resize the terminal: {exc.strerror}") from None
    try:
        os.write(fd, f"{WIN_RESIZE_EVENT} {height} {width}\n".encode())
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.EAGAIN):
            raise OCIRuntimeError(f"cannot resize the terminal: {exc.strerror}") from None
    finally:
        os.close(fd)


class SocketAttachment(Attachment):
    """A connection to conmon's attach socket in ``directory`` (a container's bundle, or
    an exec session's directory)."""

    interactive = True

    def __init__(self, sock: socket.socket, directory: str = ""):
        self.sock = sock
        self.directory = directory

    def stream(self, stdout: BinaryIO | None, stderr: BinaryIO | None) -> None:
        """Copy frames to ``stdout``/``stderr`` until conmon closes the connection."""
        sock = self.sock
        try:
            while True:
                try:
                    packet = sock.recv(PACKET_SIZE)
                except ConnectionResetError:
                    break
                if not packet:
                    break
                out = stdout if packet[0] == STDOUT else stderr if packet[0] == STDERR else None
                if out is not None:
                    out.write(packet[1:])
                    out.flush()
        finally:
            self.sock.close()

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def fileno(self) -> int:
        """The socket's descriptor."""
        return self.sock.fileno()

    def receive(self) -> tuple[str, bytes] | None:
        """One frame: (stream, data), or None once conmon closed the connection."""
        try:
            packet = self.sock.recv(PACKET_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return "stdout", b""
        except ConnectionResetError:
            return None
        if not packet:
            return None
        stream = _STREAMS.get(packet[0])
        return (stream, packet[1:]) if stream else ("stdout", b"")

    def send(self, data: bytes) -> int:
        """One packet of at most SEND_SIZE bytes, if the socket takes it now."""
        chunk = data[:SEND_SIZE]
        try:
            return self.sock.send(chunk, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        except BlockingIOError:
            return 0
        except (BrokenPipeError, ConnectionResetError):
            return len(chunk)  # conmon is gone: its output's end is noticed next

    def close_stdin(self) -> None:
        """Shut down our sending side: conmon closes the container's stdin (``-i``)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # closed already

    def resize(self, height: int, width: int) -> None:
        """Resize the terminal through conmon's ``ctl`` fifo."""
        if self.directory:
            write_resize(self.directory, height, width)
