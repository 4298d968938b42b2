"""conmon's attach socket: a container's stdout and stderr, frame by frame.

conmon listens on a SOCK_SEQPACKET socket ``attach`` in the bundle directory
(``--full-attach``).  Each packet is one byte naming the stream (2 stdout, 3 stderr)
followed by the data; conmon closes the connection once the container's output ends.
The bundle path may be longer than a socket address allows, so we connect through
``/proc/self/fd/N/attach`` on an ``O_PATH`` descriptor of the directory, as podman does.
"""

from __future__ import annotations

import os
import socket
from typing import BinaryIO

from pypod_core.errors import OCIRuntimeError
from pypod_core.plugin.oci import Attachment

STDOUT = 2
STDERR = 3
#: conmon's STDIO_BUF_SIZE plus the stream byte.
PACKET_SIZE = 8192 + 1


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


class SocketAttachment(Attachment):
    """A connection to conmon's attach socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

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
            self.close()

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()
