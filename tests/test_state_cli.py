"""``pypod system migrate`` and ``pypod system reset``, through the real command."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from pypod_state_sqlite.schema import SCHEMA_VERSION
from pypod_state_sqlite.store import SQLiteState

from conftest import run_pypod
from pypod_core.cli.state_admin import check_removable
from pypod_core.errors import InvalidArgError
from pypod_core.host import mounts

DATA = Path(__file__).parent / "data"


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(graph root, run root) of this test."""
    return tmp_path / "root", tmp_path / "run"


@pytest.fixture
def flags(dirs: tuple[Path, Path]) -> list[str]:
    root, run = dirs
    return ["--root", str(root), "--runroot", str(run), "--config", os.devnull]


def _v1_database_at(root: Path, run: Path) -> Path:
    """The committed v1 database, recorded as made by a runtime on these roots."""
    db = root / "static" / "db.sql"
    db.parent.mkdir(parents=True)
    shutil.copyfile(DATA / "state_v1.db", db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE DBConfig SET StaticDir = ?, TmpDir = ?, GraphRoot = ?, RunRoot = ?, "
                 "VolumeDir = ?", (str(root / "static"), str(run / "tmp"), str(root),
                                   str(run), str(root / "volumes")))
    conn.commit()
    conn.close()
    return db


def test_migrate_reports_the_versions(dirs: tuple[Path, Path], flags: list[str]) -> None:
    db = _v1_database_at(*dirs)
    first = run_pypod(*flags, "system", "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout == ("migrated the sqlite state database from schema version 1 to "
                            f"{SCHEMA_VERSION}\n")
    again = run_pypod(*flags, "system", "migrate")
    assert again.stdout == (f"the sqlite state database is at schema version {SCHEMA_VERSION}: "
                            "nothing to migrate\n")
    state = SQLiteState(str(db))
    assert len(state.all_containers()) == 5
    assert state.schema_versions() == (SCHEMA_VERSION, SCHEMA_VERSION)
    state.close()


def test_migrate_a_new_or_schemaless_state(flags: list[str]) -> None:
    created = run_pypod(*flags, "system", "migrate")
    assert created.stdout == ("created a new sqlite state database at schema version "
                              f"{SCHEMA_VERSION}\n")
    memory = run_pypod(*flags, "--state-type", "memory", "system", "migrate")
    assert memory.stdout == "the memory state has no schema: nothing to migrate\n"


def _inspect(flags: list[str], name: str) -> dict:
    result = run_pypod(*flags, "inspect", name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


def test_reset_removes_containers_processes_and_directories(
        dirs: tuple[Path, Path], flags: list[str], rootfs: str) -> None:
    created = run_pypod(*flags, "create", "--name", "idle", "--rootfs", rootfs, "true")
    assert created.returncode == 0, created.stderr
    # sleep as PID 1 ignores SIGTERM: a short stop timeout keeps the test quick.
    made = run_pypod(*flags, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
                     "scratch")
    assert made.returncode == 0, made.stderr
    started = run_pypod(*flags, "run", "-d", "--name", "busy", "--stop-timeout", "1",
                        "-v", "scratch:/s", "--rootfs", rootfs, "sleep", "300")
    assert started.returncode == 0, started.stderr
    pid = _inspect(flags, "busy")["State"]["Pid"]
    assert pid > 0
    reset = run_pypod(*flags, "system", "reset", "--force")
    assert reset.returncode == 0, reset.stderr
    # sleep as PID 1 ignores SIGTERM: its stop warns of the SIGKILL, as podman's
    assert reset.stderr in ("", "WARN: StopSignal SIGTERM failed to stop container busy in 1 "
                                "seconds, resorting to SIGKILL\n")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not dirs[0].exists() and not dirs[1].exists()
    assert not any(str(dirs[0]) in line for line in open("/proc/self/mountinfo"))
    listed = run_pypod(*flags, "ps", "-a", "--format", "json")
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize("answer", ["n\n", "", "whatever\n"])
def test_reset_asks_first(dirs: tuple[Path, Path], flags: list[str], rootfs: str,
                          answer: str) -> None:
    assert run_pypod(*flags, "create", "--name", "kept", "--rootfs", rootfs,
                     "true").returncode == 0
    result = run_pypod(*flags, "system", "reset", input=answer)
    assert result.returncode == 0
    assert "WARNING! This will remove:" in result.stdout
    assert f"the graph root: {dirs[0]}" in result.stdout
    assert result.stdout.rstrip().endswith("Are you sure you want to continue? [y/N]")
    assert _inspect(flags, "kept")["Name"] == "kept"


def test_reset_yes_removes(dirs: tuple[Path, Path], flags: list[str], rootfs: str) -> None:
    assert run_pypod(*flags, "create", "--rootfs", rootfs, "true").returncode == 0
    result = run_pypod(*flags, "system", "reset", input="y\n")
    assert result.returncode == 0, result.stderr
    assert not dirs[0].exists()


def test_reset_refuses_xdg_runtime_dir(tmp_path: Path, rootfs: str) -> None:
    xdg = tmp_path / "xdg"
    flags = ["--root", str(tmp_path / "root"), "--runroot", str(xdg), "--config", os.devnull]
    env = {"XDG_RUNTIME_DIR": str(xdg)}
    assert run_pypod(*flags, "create", "--name", "safe", "--rootfs", rootfs, "true",
                     env=env).returncode == 0
    result = run_pypod(*flags, "system", "reset", "--force", env=env)
    assert result.returncode == 125
    assert result.stderr.splitlines() == [
        f"Error: refusing to reset: the run root {xdg} is or holds $XDG_RUNTIME_DIR ({xdg})"]
    assert xdg.is_dir() and (tmp_path / "root" / "static" / "db.sql").exists()
    assert _inspect(flags, "safe")["Name"] == "safe"


def test_removable_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "me"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    check_removable([("graph root", str(tmp_path / "home" / "me" / ".local" / "pypod"))])
    for path, held in (("/", "/"), (str(tmp_path / "home"), "$HOME"),
                       (str(tmp_path / "home" / "me"), "$HOME")):
        with pytest.raises(InvalidArgError) as info:
            check_removable([("graph root", path)])
        assert f"the graph root {path} is or holds {held}" in str(info.value)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(InvalidArgError):
        check_removable([("run root", str(tmp_path / "link"))])


def test_reset_works_when_the_state_is_corrupt(dirs: tuple[Path, Path],
                                               flags: list[str]) -> None:
    db = dirs[0] / "static" / "db.sql"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    broken = run_pypod(*flags, "ps", "-a")
    assert broken.returncode == 125 and "is corrupt" in broken.stderr
    reset = run_pypod(*flags, "system", "reset", "--force")
    assert reset.returncode == 0, reset.stderr
    assert reset.stderr.startswith("WARN: cannot open the runtime (state database ")
    assert not dirs[0].exists()
    assert run_pypod(*flags, "ps", "-a").returncode == 0


def test_reset_detaches_mounts_inside_the_roots_and_spares_what_they_show(
        dirs: tuple[Path, Path], flags: list[str], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    (elsewhere / "keep").write_text("not pypod's")
    assert run_pypod(*flags, "ps", "-a").returncode == 0  # the roots exist
    inner = dirs[0] / "a mount"  # a space: mountinfo escapes it
    inner.mkdir()
    subprocess.run(["mount", "--bind", str(elsewhere), str(inner)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(inner / "deep")], check=True)
    reset = run_pypod(*flags, "system", "reset", "--force")
    assert reset.returncode == 0, reset.stderr
    assert not dirs[0].exists()
    assert (elsewhere / "keep").read_text() == "not pypod's"
    assert mounts.mounts_under(str(tmp_path)) == []
