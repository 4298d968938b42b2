"""The SQLite state under real processes: concurrent writers, writers killed with SIGKILL
in the middle of transactions, and broken or foreign database files.

Processes are forked (multiprocessing's ``fork`` context): each opens its own
connection after the fork, as separate ``pypod`` commands would.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pypod_state_sqlite.schema import SCHEMA_VERSION
from pypod_state_sqlite.store import SQLiteState

from conftest import run_pypod
from pypod_core.engine.names import generate_name
from pypod_core.errors import (
    DBBadConfigError,
    NameInUseError,
    NoSuchCtrError,
    NoSuchPodError,
    PypodError,
    StateCorruptError,
    StateSchemaError,
)
from pypod_core.model import ContainerConfig, ContainerState, ContainerStatus
from pypod_core.serialize import from_json
from pypod_core.testing.state import ctr_record, pod_record

FORK = multiprocessing.get_context("fork")
WRITERS, PER_WRITER = 8, 100


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def name_in_use(state: SQLiteState, name: str) -> bool:
    """The runtime's check: a container or a pod has this name."""
    for lookup, missing in ((state.lookup_container, NoSuchCtrError),
                            (state.lookup_pod, NoSuchPodError)):
        try:
            if lookup(name).config.name == name:
                return True
        except missing:
            pass
    return False


# -- eight concurrent writers ----------------------------------------------------------


def _add_with_generated_names(path: str, start: Any, results: Any) -> None:
    """A child: open the state (all children race to create it), wait for the start,
    add PER_WRITER containers named by generate_name; report retries or the error."""
    try:
        state = SQLiteState(path)
        start.wait(30)
        retries = 0
        added = 0
        while added < PER_WRITER:
            name = generate_name(lambda n: name_in_use(state, n))
            try:
                state.add_container(ctr_record(name))
            except NameInUseError:  # another process took it since our check
                retries += 1
                continue
            added += 1
        state.close()
        results.put(("ok", retries))
    except BaseException as exc:  # reported, so the test shows it
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def test_eight_processes_add_800_containers_with_generated_names(tmp_path: Path) -> None:
    path = str(tmp_path / "static" / "db.sql")
    start, results = FORK.Event(), FORK.Queue()
    children = [FORK.Process(target=_add_with_generated_names, args=(path, start, results))
                for _ in range(WRITERS)]
    for child in children:
        child.start()
    time.sleep(0.2)
    began = time.monotonic()
    start.set()
    outcomes = [results.get(timeout=120) for _ in children]
    elapsed = time.monotonic() - began
    for child in children:
        child.join(10)
    assert [o for o in outcomes if o[0] != "ok"] == []
    state = SQLiteState(path)
    records = state.all_containers()
    state.close()
    names = {r.config.name for r in records}
    assert len(records) == WRITERS * PER_WRITER
    assert len(names) == WRITERS * PER_WRITER
    print(f"\n800 adds by 8 processes in {elapsed:.2f} s; "
          f"{sum(o[1] for o in outcomes)} name races retried")


# -- writers killed mid-transaction ----------------------------------------------------


def _random_writes(path: str, seed: int, ready: Any, busy: Any) -> None:
    """A child: write forever (pods with members and dependencies, state saves, removals,
    refreshes); ``busy`` is 1 while a State call is in progress.  What exists is read
    once and then tracked here, so that the child spends its time writing."""
    rng = random.Random(seed)
    state = SQLiteState(path)
    pods = [p.config.id for p in state.all_pods()]
    loners = [c.config.id for c in state.all_containers() if not c.config.pod]
    ready.set()

    def call(fn: Callable[..., Any], *args: Any) -> bool:
        busy.value = 1
        try:
            fn(*args)
            return True
        except PypodError:
            return False
        finally:
            busy.value = 0

    while True:
        roll = rng.random()
        if roll < 0.3:
            pod = pod_record()
            base = ctr_record(pod=pod.config.id)
            if call(state.add_pod, pod):
                pods.append(pod.config.id)
            call(state.add_container_to_pod, pod.config.id, base)
            call(state.add_container_to_pod, pod.config.id,
                 ctr_record(pod=pod.config.id, deps=(base.config.id,)))
        elif roll < 0.55:
            record = ctr_record(deps=(rng.choice(loners),) if loners else ())
            if call(state.add_container, record):
                loners.append(record.config.id)
        elif roll < 0.8 and loners:
            call(state.save_container_state, rng.choice(loners),
                 ContainerState(state=ContainerStatus.RUNNING, pid=rng.randint(2, 99999),
                                network_status={"n": {"ip": "10.0.0.1"}}))
        elif roll < 0.95 and pods:
            pod_id = pods.pop(rng.randrange(len(pods)))
            call(state.remove_pod_containers, pod_id)
            call(state.remove_pod, pod_id)
        else:
            call(state.refresh)


def check_consistent(path: Path) -> int:
    """Assert the database is whole: SQLite's checks, no half-written object, indexed
    columns that agree with the JSON; return the number of containers."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT ID FROM IDNamespace WHERE ID NOT IN (SELECT ID FROM ContainerConfig) "
            "AND ID NOT IN (SELECT ID FROM PodConfig) "
            "UNION ALL SELECT ID FROM ContainerState WHERE ID NOT IN "
            "(SELECT ID FROM ContainerConfig) "
            "UNION ALL SELECT ID FROM PodState WHERE ID NOT IN (SELECT ID FROM PodConfig)"
        ).fetchall()
        assert orphans == []
        rows = conn.execute(
            "SELECT c.ID, c.Name, c.PodID, c.Namespace, c.JSON, s.ID FROM ContainerConfig c "
            "LEFT JOIN ContainerState s ON s.ID = c.ID").fetchall()
        for ctr_id, name, pod, namespace, text, state_id in rows:
            config = from_json(text, ContainerConfig)
            assert state_id == ctr_id, f"container {ctr_id} has no state"
            assert (config.id, config.name, config.pod or None, config.namespace) == (
                ctr_id, name, pod, namespace)
            deps = conn.execute("SELECT DependencyID FROM ContainerDependency WHERE ID = ? "
                                "ORDER BY DependencyID", (ctr_id,)).fetchall()
            assert [d[0] for d in deps] == config.dependencies()
        return len(rows)
    finally:
        conn.close()


def test_writers_killed_mid_transaction_leave_a_whole_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sql"
    SQLiteState(str(path)).close()
    rng = random.Random(20261201)
    kills, mid_call = 30, 0
    for round_ in range(kills):
        ready, busy = FORK.Event(), FORK.Value("i", 0, lock=False)
        child = FORK.Process(target=_random_writes, args=(str(path), round_, ready, busy))
        child.start()
        assert ready.wait(10), "the writer did not open the state"
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(10)
        mid_call += busy.value
        check_consistent(path)
    state = SQLiteState(str(path))  # the next process opens normally
    count = len(state.all_containers())
    state.close()
    assert count > 0
    # Most kills must land inside a State call, else the test proves little.
    assert mid_call >= kills // 2, f"only {mid_call} of {kills} kills hit a write"
    print(f"\n{mid_call} of {kills} kills landed inside a write; {count} containers")


# -- files that are refused, and left as they were -------------------------------------


def _filled(path: Path, count: int = 300) -> None:
    state = SQLiteState(str(path))
    for _ in range(count):
        state.add_container(ctr_record(labels={"padding": "x" * 200}))
    state.close()


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(16384))


def _truncated(path: Path) -> None:
    _filled(path)
    os.truncate(path, path.stat().st_size // 3)


def _zeroed_pages(path: Path) -> None:
    _filled(path)
    data = bytearray(path.read_bytes())
    data[4096:len(data) - 8192] = bytes(len(data) - 12288)
    path.write_bytes(bytes(data))


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos(id INTEGER PRIMARY KEY, caption TEXT)")
    conn.commit()
    conn.close()


def _newer_schema(path: Path) -> None:
    _filled(path, 3)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE DBConfig SET SchemaVersion = SchemaVersion + 1")
    conn.close()  # the last close checkpoints: everything is in the main file


@pytest.mark.parametrize("spoil,error,words", [
    (_garbage, StateCorruptError, "is corrupt: not a SQLite database file"),
    (_truncated, StateCorruptError, "is corrupt"),
    (_zeroed_pages, StateCorruptError, "is corrupt"),
    (_foreign_sqlite, StateCorruptError, "is not a pypod state database"),
    (_newer_schema, StateSchemaError,
     f"has schema version {SCHEMA_VERSION + 1}, newer than the {SCHEMA_VERSION}"),
], ids=["garbage", "truncated", "zeroed-pages", "foreign-sqlite", "newer-schema"])
def test_broken_database_is_refused_and_left_untouched(
        tmp_path: Path, spoil: Callable[[Path], None], error: type[Exception],
        words: str) -> None:
    path = tmp_path / "db.sql"
    spoil(path)
    before = digest(path)
    with pytest.raises(error) as info:
        state = SQLiteState(str(path))
        try:
            state.all_containers()
            state.lookup_container("x")
        finally:
            state.close()
    message = str(info.value)
    assert words in message and str(path) in message and "\n" not in message
    assert digest(path) == before
    assert sorted(os.listdir(tmp_path)) == ["db.sql"]


def test_database_of_another_static_dir_is_refused(make_runtime: Any, tmp_path: Path) -> None:
    make_runtime(graph_root=str(tmp_path / "a")).shutdown()
    moved = tmp_path / "b" / "static" / "db.sql"
    moved.parent.mkdir(parents=True)
    moved.write_bytes((tmp_path / "a" / "static" / "db.sql").read_bytes())
    before = digest(moved)
    with pytest.raises(DBBadConfigError) as info:
        # static_dir set explicitly: a path nobody set would be taken from the database
        make_runtime(graph_root=str(tmp_path / "b"), static_dir=str(moved.parent))
    assert str(info.value) == (
        f'database static dir "{tmp_path / "a" / "static"}" does not match our static dir '
        f'"{tmp_path / "b" / "static"}": database configuration mismatch')
    assert digest(moved) == before


def test_the_command_prints_one_line_for_a_corrupt_database(tmp_path: Path) -> None:
    root, runroot = tmp_path / "root", tmp_path / "run"
    (root / "static").mkdir(parents=True)
    db = root / "static" / "db.sql"
    _garbage(db)
    before = digest(db)
    result = run_pypod("--root", str(root), "--runroot", str(runroot), "--config",
                       os.devnull, "info")
    assert result.returncode == 125
    assert result.stderr.splitlines() == [
        f"Error: state database {db} is corrupt: not a SQLite database file (left "
        f"untouched; move it away or run 'pypod system reset')"]
    assert digest(db) == before
