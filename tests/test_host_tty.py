"""The local terminal: raw mode and back, its size, SIGWINCH as a descriptor."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import termios
from collections.abc import Iterator

import pytest

from pypod_core.host import tty


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_raw_mode_and_back(pty_pair: tuple[int, int]) -> None:
    _, slave = pty_pair
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ICANON and before[3] & termios.ECHO
    with tty.raw_mode(slave):
        raw = termios.tcgetattr(slave)
        assert not raw[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
        assert not raw[0] & (termios.ICRNL | termios.IXON) and not raw[1] & termios.OPOST
    assert termios.tcgetattr(slave) == before


def test_raw_mode_is_restored_after_an_error(pty_pair: tuple[int, int]) -> None:
    _, slave = pty_pair
    before = termios.tcgetattr(slave)
    with pytest.raises(RuntimeError):
        with tty.raw_mode(slave):
            raise RuntimeError("inside")
    assert termios.tcgetattr(slave) == before


def test_no_terminal_is_left_alone() -> None:
    read_end, write_end = os.pipe()
    try:
        assert not tty.is_terminal(read_end)
        assert tty.window_size(read_end) is None
        with tty.raw_mode(read_end):
            pass
    finally:
        os.close(read_end)
        os.close(write_end)
    assert not tty.is_terminal(None)


def test_window_size(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    assert tty.is_terminal(slave)
    assert tty.window_size(slave) is None  # a terminal nobody sized: 0x0
    set_size(master, 37, 91)
    assert tty.window_size(slave) == (37, 91)


def test_sigwinch_wakes_the_watcher(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    set_size(master, 24, 80)
    before = signal.getsignal(signal.SIGWINCH)
    with tty.WindowWatcher(slave) as watcher:
        assert watcher.size() == (24, 80)
        assert select.select([watcher.fileno()], [], [], 0)[0] == []
        set_size(master, 50, 132)
        os.kill(os.getpid(), signal.SIGWINCH)
        assert select.select([watcher.fileno()], [], [], 10)[0] == [watcher.fileno()]
        assert watcher.size() == (50, 132)
        assert select.select([watcher.fileno()], [], [], 0)[0] == []  # read: cleared
    assert signal.getsignal(signal.SIGWINCH) == before
