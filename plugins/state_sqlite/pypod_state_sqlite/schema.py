"""The SQLite schema of pypod's state, modelled on podman's ``sqlite_state.go``, and
the migrations from every older version.

- ``DBConfig``: one row (``ID = 1``): the schema version and the paths the database was
  made with (NULL until the first runtime records them).
- ``IDNamespace``: every id, containers and pods alike: one id space.
- ``ContainerConfig`` / ``ContainerState`` and ``PodConfig`` / ``PodState``: the
  object's config and state as JSON made by ``pypod_core.serialize``, beside
  the columns lookups use (id, name, pod, namespace, creation time), all indexed.
- ``ContainerDependency``: one row per (container, container it depends on).
- ``VolumeConfig`` / ``VolumeState``: each volume's config and state as JSON, by name
  (volumes have a name space of their own and no namespace, as libpod's).
- ``ContainerVolume``: one row per (container, volume it uses), so that a volume in use
  cannot be removed and a container cannot name a missing volume.

Names are unique within each config table (a UNIQUE index); the store checks both
tables inside its exclusive write transaction, so names are unique across the two.
"""

from __future__ import annotations

from typing import Final

#: The version this code writes.  A database of a newer version is refused.
SCHEMA_VERSION: Final = 3

#: The tables of version 2.  Columns added by a migration come last, in the order the
#: migration adds them, so a migrated database is the same as a new one.
TABLES: Final[tuple[str, ...]] = (
    """CREATE TABLE DBConfig(
        ID            INTEGER PRIMARY KEY NOT NULL CHECK (ID = 1),
        SchemaVersion INTEGER NOT NULL,
        OS            TEXT,
        StaticDir     TEXT,
        TmpDir        TEXT,
        GraphRoot     TEXT,
        RunRoot       TEXT,
        GraphDriver   TEXT,
        VolumeDir     TEXT
    )""",
    """CREATE TABLE IDNamespace(
        ID TEXT PRIMARY KEY NOT NULL
    )""",
    """CREATE TABLE ContainerConfig(
        ID        TEXT PRIMARY KEY NOT NULL,
        Name      TEXT UNIQUE NOT NULL,
        PodID     TEXT,
        JSON      TEXT NOT NULL,
        Namespace TEXT NOT NULL DEFAULT '',
        Created   REAL NOT NULL DEFAULT 0,
        FOREIGN KEY (ID)    REFERENCES IDNamespace(ID)    DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (ID)    REFERENCES ContainerState(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (PodID) REFERENCES PodConfig(ID)
    )""",
    """CREATE TABLE ContainerState(
        ID       TEXT PRIMARY KEY NOT NULL,
        State    TEXT NOT NULL,
        ExitCode INTEGER,
        JSON     TEXT NOT NULL,
        FOREIGN KEY (ID) REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED
    )""",
    """CREATE TABLE ContainerDependency(
        ID           TEXT NOT NULL,
        DependencyID TEXT NOT NULL,
        PRIMARY KEY (ID, DependencyID),
        FOREIGN KEY (ID)           REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (DependencyID) REFERENCES ContainerConfig(ID),
        CHECK (ID <> DependencyID)
    )""",
    """CREATE TABLE PodConfig(
        ID        TEXT PRIMARY KEY NOT NULL,
        Name      TEXT UNIQUE NOT NULL,
        JSON      TEXT NOT NULL,
        Namespace TEXT NOT NULL DEFAULT '',
        Created   REAL NOT NULL DEFAULT 0,
        FOREIGN KEY (ID) REFERENCES IDNamespace(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (ID) REFERENCES PodState(ID)    DEFERRABLE INITIALLY DEFERRED
    )""",
    """CREATE TABLE PodState(
        ID               TEXT PRIMARY KEY NOT NULL,
        InfraContainerID TEXT,
        JSON             TEXT NOT NULL,
        FOREIGN KEY (ID) REFERENCES PodConfig(ID) DEFERRABLE INITIALLY DEFERRED
    )""",
)

#: Indexes of version 2: so that no lookup, listing or dependency check scans a table.
INDEXES: Final[tuple[str, ...]] = (
    "CREATE INDEX ContainerConfigPodID ON ContainerConfig(PodID)",
    "CREATE INDEX ContainerConfigNamespace ON ContainerConfig(Namespace)",
    "CREATE INDEX PodConfigNamespace ON PodConfig(Namespace)",
    "CREATE INDEX ContainerDependencyDependencyID ON ContainerDependency(DependencyID)",
)

#: What version 3 added: volumes.  A ContainerVolume row's volume is checked at once
#: (not deferred): a volume that a container uses cannot be deleted, even by mistake.
VOLUME_TABLES: Final[tuple[str, ...]] = (
    """CREATE TABLE VolumeConfig(
        Name    TEXT PRIMARY KEY NOT NULL,
        JSON    TEXT NOT NULL,
        Created REAL NOT NULL DEFAULT 0,
        FOREIGN KEY (Name) REFERENCES VolumeState(Name) DEFERRABLE INITIALLY DEFERRED
    )""",
    """CREATE TABLE VolumeState(
        Name TEXT PRIMARY KEY NOT NULL,
        JSON TEXT NOT NULL,
        FOREIGN KEY (Name) REFERENCES VolumeConfig(Name) DEFERRABLE INITIALLY DEFERRED
    )""",
    """CREATE TABLE ContainerVolume(
        ID         TEXT NOT NULL,
        VolumeName TEXT NOT NULL,
        PRIMARY KEY (ID, VolumeName),
        FOREIGN KEY (ID)         REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (VolumeName) REFERENCES VolumeConfig(Name)
    )""",
    "CREATE INDEX ContainerVolumeVolumeName ON ContainerVolume(VolumeName)",
)

#: ``MIGRATIONS[n]`` turns a version ``n`` database into version ``n + 1``.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    # Version 1 kept the namespace and creation time only inside the JSON (lookups in a
    # namespace decoded every row) and had no index besides the primary keys and names.
    1: (
        "ALTER TABLE ContainerConfig ADD COLUMN Namespace TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE ContainerConfig ADD COLUMN Created REAL NOT NULL DEFAULT 0",
        """UPDATE ContainerConfig SET
               Namespace = coalesce(json_extract(JSON, '$.namespace'), ''),
               Created = coalesce(json_extract(JSON, '$.created'), 0)""",
        "ALTER TABLE PodConfig ADD COLUMN Namespace TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE PodConfig ADD COLUMN Created REAL NOT NULL DEFAULT 0",
        """UPDATE PodConfig SET
               Namespace = coalesce(json_extract(JSON, '$.namespace'), ''),
               Created = coalesce(json_extract(JSON, '$.created'), 0)""",
        *INDEXES,
    ),
    # Version 2 had no volumes (no container could use one: nothing to fill in).
    2: VOLUME_TABLES,
}


def create_statements() -> tuple[str, ...]:
    """Every statement that makes an empty database of the current version."""
    return (*TABLES, *INDEXES, *VOLUME_TABLES)


def migration_statements(found: int) -> list[str]:
    """The statements that bring a database of version ``found`` to the current one."""
    statements: list[str] = []
    for version in range(found, SCHEMA_VERSION):
        statements.extend(MIGRATIONS[version])
    return statements
