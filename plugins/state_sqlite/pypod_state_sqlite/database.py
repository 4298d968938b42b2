"""One connection to a state database file: the checks on opening, the schema (created
or migrated), exclusive write transactions, waiting out other writers, and SQLite's
errors turned into pypod's.

Choices, and why:

- **WAL journal.**  Readers never block the writer nor the writer the readers, so eight
  processes that look names up while others add containers do not queue behind each
  other; a process killed at any point leaves a WAL that the next opener recovers.  (WAL
  needs the database on a local file system, as ``static_dir`` is.)
- **``synchronous = FULL``** as podman: a committed container survives a power loss,
  not only a crashed process.
- **``BEGIN IMMEDIATE`` for every write**: the write lock is taken before the first
  read of the transaction, so a transaction never has to upgrade a read lock, which is
  where SQLite answers "database is locked" without waiting.  SQLite's busy handler
  waits up to the busy timeout; the few cases it does not cover are retried here with
  backoff until the same deadline, and only then does the user see an error
  (:class:`~pypod_core.errors.StateBusyError`, never SQLite's text).
- **Nothing is written before the file is known good**: a file that is not a pypod
  database, is corrupt, or has a newer schema is refused after reads only, so it stays
  byte for byte as it was.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final, TypeVar

from pypod_core.errors import (
    DBClosedError,
    InternalError,
    PypodError,
    StateBusyError,
    StateCorruptError,
    StateSchemaError,
)
from pypod_core.host.private import private_dir
from pypod_state_sqlite.schema import SCHEMA_VERSION, create_statements, migration_statements

T = TypeVar("T")

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC: Final = b"SQLite format 3\x00"
#: SQLite's primary result codes that this module tells apart.
_BUSY_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_CORRUPT_CODES: Final = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_IOERR_SHORT_READ: Final = 10 | (2 << 8)


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0)


def _is_busy(exc: sqlite3.Error) -> bool:
    if _code(exc):
        return _code(exc) & 0xFF in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


def prepare_file(path: str) -> None:
    """Make the directory (0700) and an empty database file (0600) if missing; refuse an
    existing file that is not a SQLite database, before SQLite touches it."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        private_dir(directory)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    with open(path, "rb") as f:
        header = f.read(100)
    # An empty file is a database nobody has written yet (SQLite agrees).
    if header and (len(header) < 100 or not header.startswith(SQLITE_MAGIC)):
        raise StateCorruptError(
            f"state database {path} is corrupt: not a SQLite database file "
            f"(left untouched; move it away or run 'pypod system reset')"
        )


class Database:
    """A SQLite connection to one state database, safe to share between threads."""

    def __init__(self, path: str, busy_timeout_ms: int):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        #: The schema version found on opening (0: a new database) and the current one.
        self.found_version = 0
        self.version = 0
        self._lock = threading.RLock()
        prepare_file(path)
        self._conn: sqlite3.Connection | None = self._connect()
        try:
            self._initialise()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            conn.close()  # now, not at garbage collection: it removes the -wal and -shm
            raise self._translate(exc) from exc
        return conn

    # -- opening: version checks, creation, migration ----------------------------------

    def _initialise(self) -> None:
        found = self._schema_version()
        self.found_version = self.version = found
        if found == 0:
            self._ensure_wal()  # before the first page is written: nothing to convert
        if found < SCHEMA_VERSION:
            self._create_or_migrate()
        # After a migration, not before: a migration that fails leaves the file as it was.
        self._ensure_wal()

    def _create_or_migrate(self) -> None:
        with self.transaction():
            # Another process may have created or migrated it since the first look.
            now = self.found_version = self._schema_version()
            if now == 0:
                for statement in create_statements():
                    self.execute(statement)
                self.execute("INSERT INTO DBConfig(ID, SchemaVersion) VALUES (1, ?)",
                             (SCHEMA_VERSION,))
            elif now < SCHEMA_VERSION:
                self._migrate(now)
        self.version = SCHEMA_VERSION

    def _migrate(self, found: int) -> None:
        """In the open transaction: every migration from ``found`` on, or nothing."""
        try:
            for statement in migration_statements(found):
                self.execute(statement)
            self.execute("UPDATE DBConfig SET SchemaVersion = ? WHERE ID = 1",
                         (SCHEMA_VERSION,))
        except (InternalError, StateCorruptError) as exc:
            raise StateCorruptError(
                f"state database {self.path}: migrating schema version {found} to "
                f"{SCHEMA_VERSION} failed ({exc.__cause__ or exc}); the file is unchanged"
            ) from exc

    def _schema_version(self) -> int:
        """The database's schema version, 0 if it is empty; refuses a foreign, broken or
        newer database (reads only)."""
        tables = {row[0] for row in self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return 0
        if "DBConfig" not in tables:
            raise StateCorruptError(
                f"state database {self.path} is not a pypod state database "
                f"(no DBConfig table; left untouched)")
        rows = self.query("SELECT SchemaVersion FROM DBConfig WHERE ID = 1")
        version = rows[0][0] if rows else None
        if not isinstance(version, int) or version < 1:
            raise StateCorruptError(
                f"state database {self.path} is corrupt: schema version {version!r}")
        if version > SCHEMA_VERSION:
            raise StateSchemaError(
                f"state database {self.path} has schema version {version}, newer than "
                f"the {SCHEMA_VERSION} this pypod supports: upgrade pypod (file left untouched)")
        return version

    def _ensure_wal(self) -> None:
        conn = self._open_conn()
        with self._translated():
            mode = self._retrying(lambda: conn.execute("PRAGMA journal_mode").fetchone()[0])
            if str(mode).lower() != "wal":
                self._retrying(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())

    # -- statements and transactions ---------------------------------------------------

    def check_open(self) -> None:
        """Raise DBClosedError if the database was closed."""
        self._open_conn()

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DBClosedError(f"the state database {self.path} is closed")
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a read; outside a transaction, retried while the file is busy."""
        with self._lock:
            conn = self._open_conn()
            with self._translated():
                if conn.in_transaction:
                    return conn.execute(sql, params).fetchall()
                return self._retrying(lambda: conn.execute(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement inside :meth:`transaction`; the number of rows changed."""
        with self._lock:
            conn = self._open_conn()
            with self._translated():
                return conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row inside :meth:`transaction`."""
        with self._lock:
            conn = self._open_conn()
            with self._translated():
                conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An exclusive write transaction: committed if the block ends normally, rolled
        back if it raises (a killed process's is rolled back by the next opener)."""
        with self._lock:
            conn = self._open_conn()
            if conn.in_transaction:
                raise InternalError("state transactions do not nest")
            with self._translated():
                self._retrying(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield
                with self._translated():
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection; later calls raise DBClosedError."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                with suppress(sqlite3.Error):
                    conn.close()

    # -- waiting and errors ------------------------------------------------------------

    def _retrying(self, action: Callable[[], T]) -> T:
        """Run ``action``; while SQLite says busy, retry with jittered backoff until the
        busy timeout has passed, then raise StateBusyError."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        delay = 0.002
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise self._busy_error() from exc
            import random  # only a busy database pays for it (~1 ms)

            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.1)

    def _busy_error(self) -> StateBusyError:
        return StateBusyError(
            f"state database {self.path} stayed locked by another process for "
            f"{self.busy_timeout_ms} ms (plugins.state_sqlite busy_timeout_ms)")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: sqlite3.Error) -> PypodError:
        """pypod's one-line error for a SQLite error: never SQLite's bare text."""
        code = _code(exc)
        if _is_busy(exc):
            return self._busy_error()
        if code & 0xFF in _CORRUPT_CODES or code == _IOERR_SHORT_READ:
            return StateCorruptError(
                f"state database {self.path} is corrupt: {exc} (left untouched; move it "
                f"away or run 'pypod system reset')")
        return InternalError(f"state database {self.path}: {exc}")
