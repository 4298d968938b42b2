"""Make ``state_v2.db``: a state database of schema version 2, as pypod wrote it before
volumes (schema 3).

It is the version 1 database of ``make_state_v1.py`` (the same records) brought to
version 2 by the version 1 -> 2 migration, frozen here as it was (not imported from the
backend, which moves on), so the file stays a true version 2 database.  Run from the
repository root::

    .venv/bin/python tests/data/make_state_v2.py
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "state_v2.db")

#: Version 2's migration from version 1, as it was.
MIGRATION_1_TO_2 = (
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
    "CREATE INDEX ContainerConfigPodID ON ContainerConfig(PodID)",
    "CREATE INDEX ContainerConfigNamespace ON ContainerConfig(Namespace)",
    "CREATE INDEX PodConfigNamespace ON PodConfig(Namespace)",
    "CREATE INDEX ContainerDependencyDependencyID ON ContainerDependency(DependencyID)",
)


def v1_script():
    """The version 1 script beside this one (its records are this file's too)."""
    spec = importlib.util.spec_from_file_location("make_state_v1",
                                                  os.path.join(HERE, "make_state_v1.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path: str) -> None:
    """Write the version 2 database at ``path`` (replacing any file there)."""
    v1_script().write(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in MIGRATION_1_TO_2:
        conn.execute(statement)
    conn.execute("UPDATE DBConfig SET SchemaVersion = 2 WHERE ID = 1")
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else TARGET)
    print(f"wrote {sys.argv[1] if len(sys.argv) > 1 else TARGET}")
