"""The SQLite state backend beyond the conformance kit: migration from a v1 file, file
modes, its settings table, busy timeouts, the DB config through a runtime, and lookups
that use indexes."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from pypod_state_sqlite.schema import SCHEMA_VERSION
from pypod_state_sqlite.store import SQLiteState

from pypod_core.errors import (
    ConfigError,
    DBBadConfigError,
    StateBusyError,
    StateCorruptError,
)
from pypod_core.model import ContainerRecord, ContainerState, PodState
from pypod_core.testing.state import ctr_record, id_with_prefix, pod_record, using, vol_record

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"


def _v1_script() -> Any:
    spec = importlib.util.spec_from_file_location("make_state_v1", DATA / "make_state_v1.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def layout(path: Path) -> dict[str, Any]:
    """Every table's columns and every index, as SQLite reports them."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {
            table: (
                conn.execute(f"PRAGMA table_info({table})").fetchall(),
                sorted((r[1], r[2]) for r in conn.execute(f"PRAGMA index_list({table})")),
                conn.execute(f"PRAGMA foreign_key_list({table})").fetchall(),
            )
            for table in tables
        }
    finally:
        conn.close()


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    """A copy of the committed schema-1 database."""
    target = tmp_path / "static" / "db.sql"
    target.parent.mkdir()
    shutil.copyfile(DATA / "state_v1.db", target)
    return target


# -- migration -------------------------------------------------------------------------


def test_v1_database_is_migrated_with_every_record(v1_copy: Path) -> None:
    v1 = _v1_script()
    state = SQLiteState(str(v1_copy))
    try:
        assert state.schema_versions() == (1, SCHEMA_VERSION)
        expected = sorted((ContainerRecord(c, s) for c, s in v1.CONTAINERS),
                          key=lambda r: r.config.created)
        assert state.all_containers() == expected
        assert [p.config for p in state.all_pods()] == [v1.POD, v1.PROD_POD]
        assert state.pod_state(v1.POD.id) == PodState(infra_container_id=v1.hex_id("c"))
        assert state.pod_containers_by_id(v1.POD.id) == [v1.hex_id("c"), v1.hex_id("d")]
        assert state.container_in_use(v1.hex_id("a")) == ["abc" + v1.hex_id("b")[3:]]
        assert state.lookup_container("abc").config.name == "joins-net"
        db = state.get_db_config()
        assert db is not None and (db.static_dir, db.graph_driver) == v1.DB_CONFIG[1:6:4]
        state.set_namespace("prod")  # the namespace column was filled from the JSON
        assert [r.config.name for r in state.all_containers()] == ["prod-db"]
        assert [p.config.name for p in state.all_pods()] == ["prod-pod"]
    finally:
        state.close()
    again = SQLiteState(str(v1_copy))
    assert again.schema_versions() == (SCHEMA_VERSION, SCHEMA_VERSION)
    again.close()


def test_migrated_database_has_the_layout_of_a_new_one(v1_copy: Path, tmp_path: Path) -> None:
    SQLiteState(str(v1_copy)).close()
    SQLiteState(str(tmp_path / "new.sql")).close()
    assert layout(v1_copy) == layout(tmp_path / "new.sql")
    conn = sqlite3.connect(v1_copy)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_v2_database_is_migrated_to_hold_volumes(tmp_path: Path) -> None:
    """A version 2 file (before volumes) keeps every record, gets the layout of a new
    database, and then holds volumes and the containers that use them."""
    v2 = tmp_path / "static" / "db.sql"
    v2.parent.mkdir()
    shutil.copyfile(DATA / "state_v2.db", v2)
    v1 = _v1_script()
    state = SQLiteState(str(v2))
    try:
        assert state.schema_versions() == (2, SCHEMA_VERSION)
        assert state.all_containers() == sorted(
            (ContainerRecord(c, s) for c, s in v1.CONTAINERS), key=lambda r: r.config.created)
        assert state.all_volumes() == []
        state.add_volume(vol_record("after-migration"))
        user = ctr_record(named_volumes=using("after-migration"))
        state.add_container(user)
        assert state.volume_in_use("after-migration") == [user.config.id]
    finally:
        state.close()
    SQLiteState(str(tmp_path / "new.sql")).close()
    assert layout(v2) == layout(tmp_path / "new.sql")


def test_failed_migration_changes_nothing(v1_copy: Path) -> None:
    conn = sqlite3.connect(v1_copy)
    conn.execute("UPDATE ContainerConfig SET JSON = 'not json' WHERE Name = 'prod-db'")
    conn.commit()
    conn.close()
    before = digest(v1_copy)
    with pytest.raises(StateCorruptError) as info:
        SQLiteState(str(v1_copy))
    message = str(info.value)
    assert f"migrating schema version 1 to {SCHEMA_VERSION} failed" in message
    assert "\n" not in message
    assert digest(v1_copy) == before
    assert not os.path.exists(f"{v1_copy}-journal") and not os.path.exists(f"{v1_copy}-wal")


def _rows(path: Path, new_fields: dict[str, Any] | None = None) -> list[Any]:
    """Every row of every table; with ``new_fields``, the keys of JSON records that the
    model gained after the file was made are dropped where they hold these defaults."""
    import json

    def plain(value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith("{")):
            return value
        record = json.loads(value)
        for key, default in (new_fields or {}).items():
            if record.get(key, default) == default:
                record.pop(key, None)
        return record

    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, [tuple(plain(v) for v in row)
                     for row in conn.execute(f"SELECT * FROM {t} ORDER BY rowid")])
                for t in tables]
    finally:
        conn.close()


#: ContainerConfig fields added since the committed file was made, with their defaults.
FIELDS_SINCE_V1 = {"log_path": "", "log_size_max": -1}


def test_v1_file_is_what_the_script_makes(tmp_path: Path) -> None:
    """The committed file and its generator agree (same schema, same rows, but for the
    fields the model gained since, which the old file rightly lacks)."""
    remade = tmp_path / "remade.db"
    _v1_script().write(str(remade))
    assert layout(remade) == layout(DATA / "state_v1.db")
    assert _rows(remade, FIELDS_SINCE_V1) == _rows(DATA / "state_v1.db")


# -- the file --------------------------------------------------------------------------


def test_new_database_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "static" / "db.sql"
    old = os.umask(0o022)
    try:
        SQLiteState(str(path)).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_runtime_keeps_its_state_in_static_dir(make_runtime: Any) -> None:
    runtime = make_runtime()
    assert isinstance(runtime.state, SQLiteState)
    path = Path(runtime.config.static_dir) / "db.sql"
    assert runtime.state.path == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# -- the settings table ----------------------------------------------------------------


def test_busy_timeout_setting(make_runtime: Any, tmp_path: Path) -> None:
    conf = tmp_path / "pypod.conf"
    conf.write_text("[plugins.state_sqlite]\nbusy_timeout_ms = 1234\n")
    runtime = make_runtime(config_path=str(conf))
    conn = runtime.state._db._conn
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (1234,)


EXPECTED_INT = "key 'busy_timeout_ms': expected a non-negative integer (milliseconds), got"


@pytest.mark.parametrize("line,message", [
    ('busy_timeout_ms = "10"', f"{EXPECTED_INT} str '10'"),
    ("busy_timeout_ms = true", f"{EXPECTED_INT} bool True"),
    ("busy_timeout_ms = -1", f"{EXPECTED_INT} int -1"),
    ("busy_timeout_ms = 1.5", f"{EXPECTED_INT} float 1.5"),
    ("busy_timout_ms = 10", "unknown key 'busy_timout_ms'"),
])
def test_bad_settings_are_config_errors(make_runtime: Any, tmp_path: Path, line: str,
                                        message: str) -> None:
    conf = tmp_path / "pypod.conf"
    conf.write_text(f"[plugins.state_sqlite]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        make_runtime(config_path=str(conf))
    assert str(info.value) == f"{conf}: [plugins.state_sqlite]: {message}"


def test_a_held_lock_gives_a_busy_error_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "db.sql"
    state = SQLiteState(str(path), busy_timeout_ms=300)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        with pytest.raises(StateBusyError) as info:
            state.add_container(ctr_record())
        waited = time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert 0.3 <= waited < 3
    assert "locked by another process for 300 ms" in str(info.value)
    assert "database is locked" not in str(info.value)
    record = ctr_record()
    state.add_container(record)  # the lock is gone: works again
    assert state.all_containers() == [record]
    state.close()


def test_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    """WAL: a lookup answers at once while another process holds the write lock."""
    path = tmp_path / "db.sql"
    state = SQLiteState(str(path), busy_timeout_ms=5000)
    record = ctr_record("visible")
    state.add_container(record)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE ContainerState SET ExitCode = 9")
    try:
        start = time.monotonic()
        assert state.lookup_container("visible") == record
        assert time.monotonic() - start < 0.5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        state.close()


# -- the DB config through a runtime ---------------------------------------------------


def test_symlinked_root_is_not_a_mismatch(make_runtime: Any, tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    make_runtime(graph_root=str(real)).shutdown()
    (tmp_path / "home-link").symlink_to(real)
    runtime = make_runtime(graph_root=str(tmp_path / "home-link"))
    assert runtime.state.get_db_config().graph_root == str(real)


def test_unset_paths_are_taken_from_the_database(make_runtime: Any, tmp_path: Path) -> None:
    custom = str(tmp_path / "custom-tmp")
    make_runtime(tmp_dir=custom).shutdown()
    runtime = make_runtime()
    assert runtime.config.tmp_dir == custom


def test_explicit_different_path_is_a_mismatch(make_runtime: Any, tmp_path: Path) -> None:
    first = make_runtime(tmp_dir=str(tmp_path / "tmp-a"))
    first.shutdown()
    with pytest.raises(DBBadConfigError) as info:
        make_runtime(tmp_dir=str(tmp_path / "tmp-b"))
    assert str(info.value) == (
        f'database tmp dir "{tmp_path / "tmp-a"}" does not match our tmp dir '
        f'"{tmp_path / "tmp-b"}": database configuration mismatch')


# -- lookups use indexes ---------------------------------------------------------------


def _vm_steps(state: SQLiteState, call: Any) -> int:
    """How many SQLite virtual-machine steps ``call`` costs (grows with a table scan)."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn = state._db._conn
    conn.set_progress_handler(count, 1)
    try:
        call()
    finally:
        conn.set_progress_handler(None, 1)
    return steps[0]


def _fill(state: SQLiteState, count: int) -> None:
    for _ in range(count):
        state.add_container(ctr_record(ctr_id=id_with_prefix("0")))


def test_lookups_do_not_grow_with_the_number_of_containers(tmp_path: Path) -> None:
    state = SQLiteState(str(tmp_path / "db.sql"))
    pod = pod_record("a-pod")
    state.add_pod(pod)
    target = ctr_record("target", ctr_id=id_with_prefix("f00d"))
    state.add_container(target)
    calls = {
        "by name": lambda: state.lookup_container("target"),
        "by prefix": lambda: state.lookup_container("f00d"),
        "by id": lambda: state.container(target.config.id),
        "has": lambda: state.has_container(target.config.id),
        "in use": lambda: state.container_in_use(target.config.id),
        "pod members": lambda: state.pod_containers_by_id(pod.config.id),
        "save": lambda: state.save_container_state(target.config.id, ContainerState()),
    }
    _fill(state, 40)
    small = {name: _vm_steps(state, call) for name, call in calls.items()}
    _fill(state, 1500)
    large = {name: _vm_steps(state, call) for name, call in calls.items()}
    state.close()
    for name in calls:
        assert large[name] <= small[name] * 1.5 + 50, (name, small[name], large[name])
