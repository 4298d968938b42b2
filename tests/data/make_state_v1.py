"""Make ``state_v1.db``: a state database of schema version 1, as pypod 0.1 wrote it.

The schema below is version 1 frozen here (not imported from the backend, which only
knows the current schema and the migrations), so the file stays a true old database
when the schema moves on.  The contents are fixed (ids, names, times), so the
migration test can check every record.  Run from the repository root::

    .venv/bin/python tests/data/make_state_v1.py
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from typing import Any

from pypod_core.model import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    PodConfig,
    PodState,
)
from pypod_core.serialize import to_dict

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "state_v1.db")

SCHEMA_V1 = (
    """CREATE TABLE DBConfig(
        ID            INTEGER PRIMARY KEY NOT NULL CHECK (ID = 1),
        SchemaVersion INTEGER NOT NULL,
        OS TEXT, StaticDir TEXT, TmpDir TEXT, GraphRoot TEXT, RunRoot TEXT,
        GraphDriver TEXT, VolumeDir TEXT)""",
    "CREATE TABLE IDNamespace(ID TEXT PRIMARY KEY NOT NULL)",
    """CREATE TABLE ContainerConfig(
        ID TEXT PRIMARY KEY NOT NULL, Name TEXT UNIQUE NOT NULL, PodID TEXT,
        JSON TEXT NOT NULL,
        FOREIGN KEY (ID)    REFERENCES IDNamespace(ID)    DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (ID)    REFERENCES ContainerState(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (PodID) REFERENCES PodConfig(ID))""",
    """CREATE TABLE ContainerState(
        ID TEXT PRIMARY KEY NOT NULL, State TEXT NOT NULL, ExitCode INTEGER,
        JSON TEXT NOT NULL,
        FOREIGN KEY (ID) REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED)""",
    """CREATE TABLE ContainerDependency(
        ID TEXT NOT NULL, DependencyID TEXT NOT NULL, PRIMARY KEY (ID, DependencyID),
        FOREIGN KEY (ID)           REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (DependencyID) REFERENCES ContainerConfig(ID),
        CHECK (ID <> DependencyID))""",
    """CREATE TABLE PodConfig(
        ID TEXT PRIMARY KEY NOT NULL, Name TEXT UNIQUE NOT NULL, JSON TEXT NOT NULL,
        FOREIGN KEY (ID) REFERENCES IDNamespace(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (ID) REFERENCES PodState(ID)    DEFERRABLE INITIALLY DEFERRED)""",
    """CREATE TABLE PodState(
        ID TEXT PRIMARY KEY NOT NULL, InfraContainerID TEXT, JSON TEXT NOT NULL,
        FOREIGN KEY (ID) REFERENCES PodConfig(ID) DEFERRABLE INITIALLY DEFERRED)""",
)

#: The fields each record had in pypod 0.1, frozen here like the schema: a field the
#: model gains later is absent from the file, as from a database pypod 0.1 wrote.
V1_FIELDS = {
    "ContainerConfig": (
        "auto_remove", "command", "created", "env", "hostname", "id", "is_infra", "labels",
        "mounts", "name", "namespace", "network_mode", "networks", "oci_runtime", "pod",
        "port_mappings", "privileged", "read_only", "rlimits", "rootfs",
        "shared_namespaces", "static_ip", "stop_signal", "stop_timeout", "user", "workdir"),
    "ContainerState": (
        "conmon_pid", "exit_code", "finished_at", "netns_path", "network_status",
        "oom_killed", "pid", "reserved_ports", "restart_count", "started_at", "state"),
    "PodConfig": ("created", "id", "infra", "labels", "name", "namespace", "port_mappings",
                  "share"),
    "PodState": ("infra_container_id",),
}


def to_json(obj: Any) -> str:
    """The JSON pypod 0.1 stored for ``obj``: its v1 fields only."""
    data = to_dict(obj)
    kept = {key: data[key] for key in V1_FIELDS[type(obj).__name__]}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


#: The recorded DB config: root's default paths.
DB_CONFIG = ("linux", "/var/lib/pypod/static", "/run/pypod/tmp", "/var/lib/pypod",
             "/run/pypod", "dir", "/var/lib/pypod/volumes")


def hex_id(digit: str) -> str:
    """A fixed 64-hex id: ``a`` -> ``aaaa...``; two ids share a 3-character prefix."""
    return digit * 64


POD = PodConfig(id=hex_id("1"), name="web-pod", labels={"app": "web"}, created=100.0)
PROD_POD = PodConfig(id=hex_id("2"), name="prod-pod", namespace="prod", created=101.0)
CONTAINERS = (
    # (config, state)
    (ContainerConfig(id=hex_id("a"), name="standalone", rootfs="/srv/rootfs",
                     command=("sleep", "1000"), created=200.0),
     ContainerState(state=ContainerStatus.RUNNING, pid=4242, conmon_pid=4241,
                    started_at=201.0)),
    (ContainerConfig(id="abc" + hex_id("b")[3:], name="joins-net", rootfs="/srv/rootfs",
                     shared_namespaces={"net": hex_id("a")}, created=202.0),
     ContainerState(state=ContainerStatus.EXITED, exit_code=3, finished_at=203.0)),
    (ContainerConfig(id=hex_id("c"), name="web-infra", rootfs="/srv/rootfs",
                     pod=POD.id, is_infra=True, created=204.0),
     ContainerState(state=ContainerStatus.CREATED)),
    (ContainerConfig(id=hex_id("d"), name="web-app", rootfs="/srv/rootfs", pod=POD.id,
                     shared_namespaces={"net": hex_id("c"), "ipc": hex_id("c")},
                     created=205.0),
     ContainerState(state=ContainerStatus.CONFIGURED)),
    (ContainerConfig(id=hex_id("e"), name="prod-db", rootfs="/srv/rootfs",
                     namespace="prod", created=206.0),
     ContainerState(state=ContainerStatus.STOPPED)),
)


def write(path: str) -> None:
    """Write the version 1 database at ``path`` (replacing any file there)."""
    if os.path.exists(path):
        os.unlink(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN")
    for statement in SCHEMA_V1:
        conn.execute(statement)
    conn.execute("INSERT INTO DBConfig VALUES (1, 1, ?, ?, ?, ?, ?, ?, ?)", DB_CONFIG)
    for pod in (POD, PROD_POD):
        infra = hex_id("c") if pod is POD else None
        conn.execute("INSERT INTO IDNamespace VALUES (?)", (pod.id,))
        conn.execute("INSERT INTO PodConfig VALUES (?, ?, ?)", (pod.id, pod.name, to_json(pod)))
        conn.execute("INSERT INTO PodState VALUES (?, ?, ?)",
                     (pod.id, infra, to_json(PodState(infra_container_id=infra or ""))))
    for config, state in CONTAINERS:
        conn.execute("INSERT INTO IDNamespace VALUES (?)", (config.id,))
        conn.execute("INSERT INTO ContainerConfig VALUES (?, ?, ?, ?)",
                     (config.id, config.name, config.pod or None, to_json(config)))
        conn.execute("INSERT INTO ContainerState VALUES (?, ?, ?, ?)",
                     (config.id, state.state.value, state.exit_code, to_json(state)))
        for dep in config.dependencies():
            conn.execute("INSERT INTO ContainerDependency VALUES (?, ?)", (config.id, dep))
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else TARGET)
    print(f"wrote {sys.argv[1] if len(sys.argv) > 1 else TARGET}")
