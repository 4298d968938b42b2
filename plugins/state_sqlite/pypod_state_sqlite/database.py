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
- **Reads need neither free space nor a writable file system.**  A WAL reader maps a
  32 KiB ``-shm`` index next to the file; when the last connection closed, that file is
  gone, and on a full file system (a container's log filled it) it cannot be made
  again.  Then each statement runs on a connection of its own in exclusive locking
  mode, whose index lives in memory (other processes wait their turn, as for a write).
  On a read-only file system nothing can be locked either, and nobody can write: the
  file is opened ``immutable`` (or, if a WAL is left unmerged, a copy of both files is
  read).  Writes then fail with :class:`~pypod_core.errors.StateUnwritableError`,
  never with a half-written database.
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
    StateUnwritableError,
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
_FULL: Final = 13
_READONLY: Final = 8
#: SQLITE_IOERR_SHMOPEN, _SHMSIZE, _SHMLOCK, _SHMMAP: the WAL index cannot be made.
_SHM_CODES: Final = frozenset(10 | (n << 8) for n in (18, 19, 20, 21))
#: The ways a connection works (see the module's docstring).
SHARED: Final = "shared"
EXCLUSIVE: Final = "exclusive"
READ_ONLY: Final = "read-only"


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0)


def _is_busy(exc: sqlite3.Error) -> bool:
    if _code(exc):
        return _code(exc) & 0xFF in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


def _read_only_fs(directory: str) -> bool:
    """Whether nothing can be written in ``directory`` (a read-only mount, or no
    permission)."""
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY) or not os.access(
            directory, os.W_OK)
    except OSError:
        return False


def prepare_file(path: str) -> None:
    """Make the directory (0700) and an empty database file (0600) if missing; refuse an
    existing file that is not a SQLite database, before SQLite touches it."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.isdir(directory):
            private_dir(directory)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError as exc:  # a read-only or full file system, no permission
        raise StateUnwritableError(
            f"state database {path} cannot be created: {exc.strerror}") from exc
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
        #: SHARED, or EXCLUSIVE / READ_ONLY when the file system is full / read-only.
        self.mode = SHARED
        self._lock = threading.RLock()
        self._closed = False
        self._txn: sqlite3.Connection | None = None  # the open transaction's connection
        self._copy_dir = ""  # READ_ONLY: where the copy of a file and its WAL is
        prepare_file(path)
        self._conn: sqlite3.Connection | None = None
        try:
            try:
                self._conn = self._connect()
                self._initialise()
            except StateUnwritableError:
                if not self._readable_elsewise():
                    raise
                self._initialise()
        except BaseException:
            self.close()
            raise

    def _connect(self, uri: str = "", exclusive: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(uri or self.path, timeout=self.busy_timeout_ms / 1000,
                                   isolation_level=None, check_same_thread=False,
                                   uri=bool(uri))
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            if exclusive:  # before the first read: the WAL index is then kept in memory
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            conn.close()  # now, not at garbage collection: it removes the -wal and -shm
            raise self._translate(exc) from exc
        return conn

    def _readable_elsewise(self) -> bool:
        """After the first read failed for want of space or of a writable file system:
        switch to EXCLUSIVE or READ_ONLY (True), or not if neither applies (False)."""
        if self.mode != SHARED:
            return False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if not _read_only_fs(os.path.dirname(os.path.abspath(self.path))):
            self.mode = EXCLUSIVE  # a connection per use: see _using
            return True
        # lazy: only a store on a read-only file system (~3 ms together)
        import shutil
        import tempfile
        import urllib.parse

        self.mode = READ_ONLY
        path = self.path
        wal = f"{path}-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            # Changes not yet merged into the file: immutable would not see them.  Nobody
            # can write here, so a copy of both stays true.
            self._copy_dir = tempfile.mkdtemp(prefix="pypod-state-")
            path = os.path.join(self._copy_dir, os.path.basename(self.path))
            shutil.copyfile(self.path, path)
            shutil.copyfile(wal, f"{path}-wal")
            self._conn = self._connect(f"file:{urllib.parse.quote(path)}")
            return True
        self._conn = self._connect(f"file:{urllib.parse.quote(path)}?immutable=1")
        return True

    # -- opening: version checks, creation, migration ----------------------------------

    def _initialise(self) -> None:
        found = self._schema_version()
        self.found_version = self.version = found
        if found == 0:
            self._ensure_wal()  # before the first page is written: nothing to convert
        if found < SCHEMA_VERSION:
            self._create_or_migrate()
        # After a migration, not before: a migration that fails leaves the file as it was.
        if self.mode != READ_ONLY:
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
        with self._lock, self._using() as conn, self._translated():
            mode = self._retrying(lambda: conn.execute("PRAGMA journal_mode").fetchone()[0])
            if str(mode).lower() != "wal":
                self._retrying(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())

    # -- statements and transactions ---------------------------------------------------

    def check_open(self) -> None:
        """Raise DBClosedError if the database was closed."""
        if self._closed:
            raise DBClosedError(f"the state database {self.path} is closed")

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection for one statement or transaction: the open transaction's, the
        shared one, or (EXCLUSIVE) one of its own, closed after so that other processes
        get their turn."""
        self.check_open()
        if self._txn is not None:
            yield self._txn
        elif self._conn is not None:
            yield self._conn
        else:
            conn = self._connect(exclusive=True)
            try:
                yield conn
            finally:
                with suppress(sqlite3.Error):
                    conn.close()  # merges the WAL into the file if it can

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a read; outside a transaction, retried while the file is busy."""
        with self._lock:
            conn = self._txn or self._conn
            if conn is None:  # closed, or EXCLUSIVE
                with self._using() as own:
                    return self._query(own, sql, params)
            return self._query(conn, sql, params)

    def _query(self, conn: sqlite3.Connection, sql: str,
               params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._translated():
            if conn.in_transaction:
                return conn.execute(sql, params).fetchall()
            return self._retrying(lambda: conn.execute(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement inside :meth:`transaction`; the number of rows changed."""
        with self._lock, self._using() as conn, self._translated():
            return conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row inside :meth:`transaction`."""
        with self._lock, self._using() as conn, self._translated():
            conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An exclusive write transaction: committed if the block ends normally, rolled
        back if it raises (a killed process's is rolled back by the next opener)."""
        with self._lock:
            self.check_open()
            if self._txn is not None:
                raise InternalError("state transactions do not nest")
            if self.mode == READ_ONLY:
                raise self._unwritable("read-only")
            with self._using() as conn:
                with self._translated():
                    self._retrying(lambda: conn.execute("BEGIN IMMEDIATE"))
                self._txn = conn
                try:
                    yield
                    with self._translated():
                        conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
                finally:
                    self._txn = None

    def close(self) -> None:
        """Close the connection; later calls raise DBClosedError."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                conn, self._conn = self._conn, None
                with suppress(sqlite3.Error):
                    conn.close()
            if self._copy_dir:
                import shutil  # lazy: only a store on a read-only file system (~1.5 ms)

                shutil.rmtree(self._copy_dir, ignore_errors=True)
                self._copy_dir = ""

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
            import random  # lazy: only a busy database (~1 ms)

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
        if code & 0xFF == _FULL or code in _SHM_CODES:
            return self._unwritable("full")
        if code & 0xFF == _READONLY or (code & 0xFF == 14 and _read_only_fs(
                os.path.dirname(os.path.abspath(self.path)))):  # 14: SQLITE_CANTOPEN
            return self._unwritable("read-only")
        if code & 0xFF in _CORRUPT_CODES or code == _IOERR_SHORT_READ:
            return StateCorruptError(
                f"state database {self.path} is corrupt: {exc} (left untouched; move it "
                f"away or run 'pypod system reset')")
        return InternalError(f"state database {self.path}: {exc}")

    def _unwritable(self, why: str) -> StateUnwritableError:
        directory = os.path.dirname(os.path.abspath(self.path))
        if why == "full":
            return StateUnwritableError(
                f"state database {self.path} cannot be written: no space left on the file "
                f"system of {directory} (a container's log may have filled it: "
                f"'pypod rm -f' removes a container's files first)")
        try:
            mounted_ro = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
        except OSError:
            mounted_ro = False
        return StateUnwritableError(
            f"state database {self.path} cannot be written: {directory} is "
            f"{'on a read-only file system' if mounted_ro else 'not writable by this user'}")
