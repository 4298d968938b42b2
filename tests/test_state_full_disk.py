"""A graph root that a container's log filled, or that is read-only: reads still work
(``ps``, ``inspect``, ``logs``), ``run`` still returns the container's exit code,
``rm -f`` frees the space, and a write that cannot happen is one clear error.

Real mounts made by the test (a 20 MB tmpfs as the graph root, a read-only bind
remount of it), real containers under runc and conmon, the real SQLite state.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary
from pypod_core.errors import StateUnwritableError
from pypod_core.model import Mount

FULL = "no space left on the file system"
READ_ONLY = "read-only file system"
#: A container that waits for the test (a file in the /sig volume), then exits 3 after
#: writing more output than the graph root holds.
FILLER = ("while [ ! -e /sig/go ]; do sleep 0.05; done; "
          "head -c 25000000 /dev/zero | tr '\\0' a; exit 3")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def graph_root(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB tmpfs, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    need_binary("runc")
    need_binary("conmon")
    root = tmp_path / "root"
    root.mkdir()
    _mount("-t", "tmpfs", "-o", "size=20m", "tmpfs", str(root))
    yield root
    subprocess.run(["umount", "-R", "-l", str(root)], capture_output=True)


@pytest.fixture
def runtime_options(runtime_options: dict[str, Any], graph_root: Path) -> dict[str, Any]:
    return {**runtime_options, "graph_root": str(graph_root), "runtime": "runc"}


@pytest.fixture
def sig(tmp_path: Path) -> Path:
    """The host side of the containers' /sig volume: ``touch sig/go`` lets them go on."""
    directory = tmp_path / "sig"
    directory.mkdir()
    return directory


def pypod(cli_flags: list[str], *args: str,
          quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``pypod``; with ``quiet``, its stdout is not kept (a container's 25 MB)."""
    return subprocess.run([PYPOD, *cli_flags, *args], text=True, timeout=300,
                          stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                          stderr=subprocess.PIPE)


def fill_up(directory: Path) -> None:
    """Take the last free bytes of the file system (a log rarely ends on the last one)."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def settled(cli_flags: list[str], name: str) -> None:
    """Wait until no process names the container any more: conmon, and the clean-up it
    runs at the exit, which holds the container's lock (``ps`` shows the stored state
    of a locked container rather than wait)."""
    ctr_id = pypod(cli_flags, "inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert ctr_id
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        busy = False
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    busy = busy or ctr_id.encode() in f.read()
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"container {name}: conmon or its clean-up still runs")


def read_only(directory: Path) -> None:
    _mount("--bind", str(directory), str(directory))
    _mount("-o", "remount,bind,ro", str(directory))


def integrity(graph_root: Path) -> list[Any]:
    conn = sqlite3.connect(f"file:{graph_root}/static/db.sql?immutable=1", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


# -- a full graph root ------------------------------------------------------------------


def test_a_log_that_fills_the_graph_root_wedges_nothing(cli_flags: list[str], rootfs: str,
                                                        graph_root: Path, sig: Path) -> None:
    assert pypod(cli_flags, "run", "--name", "keep", "--rootfs", rootfs, "echo",
                 "kept").returncode == 0
    (sig / "go").touch()
    ran = pypod(cli_flags, "run", "--name", "fill", "-v", f"{sig}:/sig", "--rootfs", rootfs,
                "sh", "-c", FILLER, quiet=True)
    assert ran.returncode == 3, ran.stderr
    settled(cli_flags, "fill")
    fill_up(graph_root)
    assert os.statvfs(graph_root).f_bavail == 0
    ps = pypod(cli_flags, "ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert ps.returncode == 0, ps.stderr
    assert "keep Exited (0)" in ps.stdout and "fill Exited (3)" in ps.stdout
    shown = pypod(cli_flags, "inspect", "--format", "{{.State.ExitCode}}", "fill")
    assert (shown.returncode, shown.stdout) == (0, "3\n")
    assert pypod(cli_flags, "logs", "keep").stdout == "kept\n"
    refused = pypod(cli_flags, "create", "--rootfs", rootfs, "true")
    assert refused.returncode == 125 and FULL in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    removed = pypod(cli_flags, "rm", "-f", "fill")
    assert removed.returncode == 0, removed.stderr
    assert pypod(cli_flags, "ps", "-a", "--format", "{{.Names}}").stdout == "keep\n"
    assert pypod(cli_flags, "run", "--rm", "--rootfs", rootfs, "true").returncode == 0
    assert integrity(graph_root) == [("ok",)]


def test_an_exit_that_cannot_be_saved_is_not_lost(
        make_runtime: Callable[..., Any], rootfs: str, graph_root: Path, sig: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["sh", "-c", FILLER],
                              mounts=(Mount(str(sig), "/sig"),))
    ctr.start()
    fill_up(graph_root)
    (sig / "go").touch()
    assert ctr.wait() == 3
    assert "exited with code 3, not recorded yet" in caplog.text and FULL in caplog.text
    assert os.path.exists(ctr.exit_file)  # the next process to look sees the exit too
    with pytest.raises(StateUnwritableError, match=FULL):
        rt.create_container(rootfs, ["true"])
    (graph_root / "filler").unlink()  # room again: the exit is recorded at the next look
    again = make_runtime().lookup_container(ctr.id).sync()
    assert (again.state.state.value, again.state.exit_code) == ("exited", 3)
    assert not os.path.exists(ctr.exit_file)


def test_rm_f_frees_the_space_a_log_took(make_runtime: Callable[..., Any], rootfs: str,
                                         graph_root: Path, sig: Path) -> None:
    rt = make_runtime()
    ctr = rt.create_container(rootfs, ["sh", "-c", FILLER],
                              mounts=(Mount(str(sig), "/sig"),))
    ctr.start()
    (sig / "go").touch()
    assert ctr.wait() == 3
    fill_up(graph_root)
    rt.remove_container(ctr, force=True)
    assert rt.state.all_containers() == []
    assert os.statvfs(graph_root).f_bavail > 1000


# -- a read-only graph root -----------------------------------------------------------


def test_a_read_only_graph_root_can_still_be_read(cli_flags: list[str], rootfs: str,
                                                  graph_root: Path, sig: Path) -> None:
    assert pypod(cli_flags, "run", "--name", "done", "--rootfs", rootfs, "echo",
                 "hi").returncode == 0
    started = pypod(cli_flags, "run", "-d", "--name", "late", "-v", f"{sig}:/sig",
                    "--rootfs", rootfs, "sh", "-c",
                    "while [ ! -e /sig/go ]; do sleep 0.05; done; exit 6")
    assert started.returncode == 0, started.stderr
    read_only(graph_root)
    (sig / "go").touch()
    waited = pypod(cli_flags, "wait", "late")  # exits while nothing can be saved
    assert waited.stdout == "6\n", waited.stderr
    settled(cli_flags, "late")
    ps = pypod(cli_flags, "ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert ps.returncode == 0, ps.stderr
    assert "done Exited (0)" in ps.stdout and "late Exited (6)" in ps.stdout
    assert pypod(cli_flags, "inspect", "--format", "{{.State.ExitCode}}", "late").stdout == "6\n"
    assert pypod(cli_flags, "logs", "done").stdout == "hi\n"
    for refused in (pypod(cli_flags, "rm", "-f", "done"),
                    pypod(cli_flags, "create", "--rootfs", rootfs, "true")):
        assert refused.returncode == 125 and READ_ONLY in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    subprocess.run(["umount", str(graph_root)], check=True)  # the bind: writable again
    ps = pypod(cli_flags, "ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert "late Exited (6)" in ps.stdout
    assert pypod(cli_flags, "rm", "done", "late").returncode == 0
    assert integrity(graph_root) == [("ok",)]


def test_a_read_only_store_with_changes_still_in_its_wal(graph_root: Path,
                                                         cli_flags: list[str]) -> None:
    from pypod_state_sqlite.store import SQLiteState

    from pypod_core.testing.state import ctr_record

    static = graph_root / "static"
    static.mkdir()
    writer = SQLiteState(str(static / "db.sql"))  # open: its WAL is not merged yet
    try:
        record = ctr_record("in-the-wal")
        writer.add_container(record)
        assert os.path.getsize(static / "db.sql-wal") > 0
        read_only(graph_root)
        reader = SQLiteState(str(static / "db.sql"))
        try:
            assert [r.config.name for r in reader.all_containers()] == ["in-the-wal"]
            with pytest.raises(StateUnwritableError, match=READ_ONLY):
                reader.remove_container(record.config.id)
        finally:
            reader.close()
    finally:
        # First: SQLite keeps a file open while another connection of the process
        # holds locks on it (POSIX locks are per process), so the bind stays busy.
        writer.close()
        subprocess.run(["umount", str(graph_root)], check=True)
