"""pypod's file locks: exclusive across processes, reentrant within one, released when
the holder dies, and never held on a lock file another process deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from pypod_core.host.locks import FileLock, LockTimeout

_HOLD = """
import sys, time
from pypod_core.host.locks import FileLock
lock = FileLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_in_child(path: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_another_process_holding_the_lock_excludes_us_until_it_lets_go(tmp_path: Path):
    path = tmp_path / "ctr.lock"
    child = hold_in_child(path, 0.5)
    lock = FileLock(str(path))
    with pytest.raises(LockTimeout):
        lock.acquire(timeout=0)
    start = time.monotonic()
    lock.acquire(timeout=10)
    assert 0.2 < time.monotonic() - start < 5
    assert lock.is_locked
    lock.release()
    child.wait()


def test_a_killed_holder_releases_the_lock(tmp_path: Path):
    path = tmp_path / "ctr.lock"
    child = hold_in_child(path, 60)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with FileLock(str(path)).acquire(timeout=2) as lock:
        assert lock.is_locked


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path):
    lock = FileLock(str(tmp_path / "x.lock"))
    with lock, lock:
        assert lock.is_locked
    assert not lock.is_locked
    other = FileLock(str(tmp_path / "x.lock"))
    other.acquire(timeout=0)  # free again: nothing leaked
    other.release()


def test_a_lock_file_deleted_by_its_holder_is_not_held_by_the_next(tmp_path: Path):
    path = tmp_path / "gone.lock"
    first = FileLock(str(path)).acquire()
    os.unlink(path)  # the holder removed the object and its lock file
    second = FileLock(str(path)).acquire(timeout=1)
    assert path.exists()  # the waiter took a lock on the file that now exists
    third = FileLock(str(path))
    with pytest.raises(LockTimeout):
        third.acquire(timeout=0)
    second.release()
    first.release()


def test_a_lock_table_gives_one_lock_per_name_and_forgets_with_the_file(tmp_path: Path):
    from pypod_core.host.locks import LockTable

    table = LockTable(str(tmp_path))
    lock = table.get("ctr-abc")
    assert table.get("ctr-abc") is lock and table.get("pod-abc") is not lock
    with lock:
        assert (tmp_path / "ctr-abc.lock").exists()
        table.forget("ctr-abc")
        assert not (tmp_path / "ctr-abc.lock").exists()
    assert table.get("ctr-abc") is not lock
    table.forget("never-taken")  # nothing to delete is fine
