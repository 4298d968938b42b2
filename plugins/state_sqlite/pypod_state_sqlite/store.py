"""pypod's SQLite state (``state_type = "sqlite"``, the default): libpod's
``sqlite_state.go`` over :mod:`pypod_state_sqlite.database`: containers, pods and
volumes.

Every write is one exclusive transaction that checks and changes together, so the
rules of :mod:`pypod_core.plugin.state` hold across processes: two processes cannot both take
a name, and a container is stored whole or not at all.  Records are stored as JSON made
by :mod:`pypod_core.serialize`; every read decodes fresh copies.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

import attrs

from pypod_core.errors import (
    AmbiguousIDError,
    CtrExistsError,
    CtrInUseError,
    InvalidArgError,
    NameInUseError,
    NoSuchCtrError,
    NoSuchPodError,
    NoSuchVolumeError,
    NSMismatchError,
    PodExistsError,
    PodNotEmptyError,
    StateCorruptError,
    VolumeExistsError,
    VolumeInUseError,
)
from pypod_core.model import (
    ContainerConfig,
    ContainerRecord,
    ContainerState,
    NetworkOptions,
)
from pypod_core.plugin.state import DBConfig, State, check_db_config
from pypod_core.serialize import from_json, to_json
from pypod_state_sqlite.database import Database
from pypod_state_sqlite.settings import DEFAULT_BUSY_TIMEOUT_MS, PLUGIN, parse_settings

if TYPE_CHECKING:
    from pypod_core.model import Volume, VolumeState
    from pypod_core.model_pod import PodRecord, PodState
    from pypod_core.plugin import RuntimeView as Runtime

#: The database's file name inside ``static_dir``.
DB_FILENAME: Final = "db.sql"
#: Greater than any character of an id: ``prefix <= id < prefix + _AFTER`` is a range
#: scan of the primary-key index, where LIKE would scan the table.
_AFTER: Final = "\U0010ffff"

_CTR_SELECT: Final = ("SELECT c.ID, c.Namespace, c.PodID, c.JSON, s.JSON "
                      "FROM ContainerConfig c JOIN ContainerState s ON s.ID = c.ID")
_POD_SELECT: Final = ("SELECT c.ID, c.Namespace, NULL, c.JSON, s.JSON "
                      "FROM PodConfig c JOIN PodState s ON s.ID = c.ID")
_VOL_SELECT: Final = ("SELECT c.Name, c.JSON, s.JSON "
                      "FROM VolumeConfig c JOIN VolumeState s ON s.Name = c.Name")
_ORDER: Final = " ORDER BY c.Created, c.rowid"
#: DBConfig columns, in the order of DBConfig.COMPARED.
_DB_CONFIG_COLUMNS: Final = ("OS", "StaticDir", "TmpDir", "GraphRoot", "RunRoot",
                             "GraphDriver", "VolumeDir")
_DECODE_ERRORS: Final = (ValueError, TypeError, KeyError)

Row = tuple[Any, ...]


def _need(value: str, what: str) -> None:
    if not value:
        raise InvalidArgError(f"{what} must not be empty")


class SQLiteState(State):
    """Containers, pods and volumes in a SQLite database file (one per ``static_dir``)."""

    def __init__(self, path: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS):
        self._db = Database(path, busy_timeout_ms)
        self._namespace = ""

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> SQLiteState:
        """The state of a runtime: ``static_dir/db.sql``, ``[plugins.state_sqlite]``."""
        config = runtime.config
        settings = parse_settings(config.plugin_config(PLUGIN), config.source)
        return cls(os.path.join(config.static_dir, DB_FILENAME), settings.busy_timeout_ms)

    @property
    def path(self) -> str:
        """The database file."""
        return self._db.path

    # -- helpers -----------------------------------------------------------------------

    def _ns_filter(self, by_index: bool = True) -> tuple[str, tuple[str, ...]]:
        """The SQL condition of the namespace; for a lookup by name or id, ``by_index``
        False keeps SQLite on the name or id index (``+`` disables the namespace's)."""
        if not self._namespace:
            return "", ()
        return f" AND {'' if by_index else '+'}c.Namespace = ?", (self._namespace,)

    def _check_ns(self, namespace: str, kind: str, obj_id: str) -> None:
        if self._namespace and namespace != self._namespace:
            raise NSMismatchError(
                f"{kind} {obj_id} is in namespace {namespace!r}, not {self._namespace!r}")

    def _row(self, select: str, obj_id: str, kind: str, missing: type[Exception]) -> Row:
        """The row of a visible object by full id (NoSuch.../NSMismatchError)."""
        self._db.check_open()
        _need(obj_id, f"{kind} id")
        rows = self._db.query(f"{select} WHERE c.ID = ?", (obj_id,))
        if not rows:
            raise missing(f"no {kind} with id {obj_id}")
        self._check_ns(rows[0][1], kind, obj_id)
        return rows[0]

    def _ctr_row(self, ctr_id: str) -> Row:
        return self._row(_CTR_SELECT, ctr_id, "container", NoSuchCtrError)

    def _pod_row(self, pod_id: str) -> Row:
        return self._row(_POD_SELECT, pod_id, "pod", NoSuchPodError)

    def _lookup_row(self, select: str, key: str, kind: str, missing: type[Exception]) -> Row:
        """By name first, then by unique id prefix (a full id is its own prefix)."""
        self._db.check_open()
        _need(key, f"{kind} name or id")
        ns_sql, ns_params = self._ns_filter(by_index=False)
        rows = self._db.query(f"{select} WHERE c.Name = ?{ns_sql}", (key, *ns_params))
        if not rows:
            rows = self._db.query(f"{select} WHERE c.ID >= ? AND c.ID < ?{ns_sql} LIMIT 2",
                                  (key, key + _AFTER, *ns_params))
        if len(rows) > 1:
            raise AmbiguousIDError(f"more than one {kind} matches id prefix {key!r}")
        if not rows:
            # podman's words, which scripts match: a container's name is quoted
            shown = f'"{key}"' if kind == "container" else key
            raise missing(f"no {kind} with name or ID {shown} found: no such {kind}")
        return rows[0]

    def _decode(self, text: str, cls: type[Any], kind: str, obj_id: str) -> Any:
        try:
            return from_json(text, cls)
        except _DECODE_ERRORS as exc:
            raise StateCorruptError(
                f"state database {self.path}: {kind} {obj_id} cannot be read: {exc}"
            ) from exc

    def _ctr(self, row: Row) -> ContainerRecord:
        return ContainerRecord(self._decode(row[3], ContainerConfig, "container", row[0]),
                               self._decode(row[4], ContainerState, "container", row[0]))

    def _pod(self, row: Row) -> PodRecord:
        from pypod_core.model_pod import PodConfig, PodRecord, PodState  # lazy: pods (~1 ms)

        return PodRecord(self._decode(row[3], PodConfig, "pod", row[0]),
                         self._decode(row[4], PodState, "pod", row[0]))

    def _check_new(self, obj_id: str, name: str, namespace: str, kind: str) -> None:
        """Checks of a new object that need no database."""
        self._db.check_open()
        if not obj_id or not name:
            raise InvalidArgError(f"a {kind} needs an id and a name")
        self._check_ns(namespace, kind, obj_id)

    def _check_free(self, obj_id: str, name: str, exists: type[Exception]) -> None:
        """In a write transaction: the id and the name are free (containers and pods)."""
        if self._db.query("SELECT 1 FROM IDNamespace WHERE ID = ?", (obj_id,)):
            raise exists(f"the id {obj_id} is already in use")
        rows = self._db.query("SELECT ID FROM ContainerConfig WHERE Name = ? UNION ALL "
                              "SELECT ID FROM PodConfig WHERE Name = ? LIMIT 1", (name, name))
        if rows:
            raise NameInUseError(f"the name {name!r} is already in use by {rows[0][0]}")

    # -- life of the store -------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def refresh(self) -> None:
        self._db.check_open()
        with self._db.transaction():
            updates: list[tuple[Any, ...]] = []
            for ctr_id, text in self._db.query("SELECT ID, JSON FROM ContainerState"):
                state = self._decode(text, ContainerState, "container", ctr_id)
                state.reset_after_reboot()
                updates.append((state.state.value, state.exit_code, to_json(state), ctr_id))
            self._db.executemany(
                "UPDATE ContainerState SET State = ?, ExitCode = ?, JSON = ? WHERE ID = ?",
                updates)
            from pypod_core.model_pod import PodState  # lazy: pod records (~1 ms)

            pods: list[tuple[Any, ...]] = []
            for pod_id, text in self._db.query("SELECT ID, JSON FROM PodState"):
                pod_state = self._decode(text, PodState, "pod", pod_id)
                pod_state.reset_after_reboot()
                pods.append((pod_state.infra_container_id or None, to_json(pod_state), pod_id))
            self._db.executemany(
                "UPDATE PodState SET InfraContainerID = ?, JSON = ? WHERE ID = ?", pods)
            from pypod_core.model_volume import VolumeState  # lazy: volume records (~3.6 ms)

            volumes: list[tuple[Any, ...]] = []
            for name, text in self._db.query("SELECT Name, JSON FROM VolumeState"):
                vol_state = self._decode(text, VolumeState, "volume", name)
                vol_state.reset_after_reboot()
                volumes.append((to_json(vol_state), name))
            self._db.executemany("UPDATE VolumeState SET JSON = ? WHERE Name = ?", volumes)

    def schema_versions(self) -> tuple[int, int]:
        """(the schema version found on opening, 0 for a new file; the version now)."""
        return self._db.found_version, self._db.version

    # -- DB configuration --------------------------------------------------------------

    def get_db_config(self) -> DBConfig | None:
        self._db.check_open()
        row = self._db.query(f"SELECT {', '.join(_DB_CONFIG_COLUMNS)} FROM DBConfig")[0]
        if all(value is None for value in row):
            return None
        fields = [field for field, _ in DBConfig.COMPARED]
        return DBConfig(**{f: v or "" for f, v in zip(fields, row, strict=True)})

    def validate_db_config(self, ours: DBConfig) -> None:
        stored = self.get_db_config()
        if stored is not None:
            check_db_config(stored, ours)
            return
        with self._db.transaction():
            stored = self.get_db_config()  # another process may have recorded it
            if stored is not None:
                check_db_config(stored, ours)
                return
            values = [getattr(ours, field) for field, _ in DBConfig.COMPARED]
            assignments = ", ".join(f"{column} = ?" for column in _DB_CONFIG_COLUMNS)
            self._db.execute(f"UPDATE DBConfig SET {assignments} WHERE ID = 1", values)

    # -- namespaces --------------------------------------------------------------------

    def set_namespace(self, namespace: str) -> None:
        self._db.check_open()
        self._namespace = namespace

    def get_namespace(self) -> str:
        self._db.check_open()
        return self._namespace

    # -- containers --------------------------------------------------------------------

    def container(self, ctr_id: str) -> ContainerRecord:
        return self._ctr(self._ctr_row(ctr_id))

    def lookup_container(self, id_or_name: str) -> ContainerRecord:
        return self._ctr(self._lookup_row(_CTR_SELECT, id_or_name, "container",
                                          NoSuchCtrError))

    def has_container(self, ctr_id: str) -> bool:
        self._db.check_open()
        _need(ctr_id, "container id")
        rows = self._db.query("SELECT Namespace FROM ContainerConfig WHERE ID = ?", (ctr_id,))
        return bool(rows) and (not self._namespace or rows[0][0] == self._namespace)

    def add_container(self, record: ContainerRecord) -> None:
        if record.config.pod:
            raise InvalidArgError(
                f"container {record.config.id} is in pod {record.config.pod}: "
                f"add it with add_container_to_pod")
        self._add_ctr(record)

    def _add_ctr(self, record: ContainerRecord) -> None:
        config, state = record.config, record.state
        self._check_new(config.id, config.name, config.namespace, "container")
        config_json, state_json = to_json(config), to_json(state)
        with self._db.transaction():
            if config.pod:
                self._check_pod_for(config)
            self._check_free(config.id, config.name, CtrExistsError)
            self._check_dependencies(config)
            self._check_volumes(config)
            self._db.execute("INSERT INTO IDNamespace(ID) VALUES (?)", (config.id,))
            self._db.execute(
                "INSERT INTO ContainerConfig(ID, Name, PodID, JSON, Namespace, Created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (config.id, config.name, config.pod or None, config_json, config.namespace,
                 config.created))
            self._db.execute(
                "INSERT INTO ContainerState(ID, State, ExitCode, JSON) VALUES (?, ?, ?, ?)",
                (config.id, state.state.value, state.exit_code, state_json))
            self._db.executemany(
                "INSERT INTO ContainerDependency(ID, DependencyID) VALUES (?, ?)",
                [(config.id, dep) for dep in config.dependencies()])
            self._db.executemany(
                "INSERT INTO ContainerVolume(ID, VolumeName) VALUES (?, ?)",
                [(config.id, name) for name in config.volume_names()])

    def _check_pod_for(self, config: ContainerConfig) -> None:
        """In a write transaction: the container's pod exists, visibly, in its namespace."""
        pod_namespace = self._pod_row(config.pod)[1]
        if pod_namespace != config.namespace:
            raise NSMismatchError(
                f"container {config.id} is in namespace {config.namespace!r}, "
                f"its pod {config.pod} in {pod_namespace!r}")

    def _check_dependencies(self, config: ContainerConfig) -> None:
        """In a write transaction: every dependency exists, in the namespace and pod."""
        for dep in config.dependencies():
            rows = self._db.query(
                "SELECT Namespace, PodID FROM ContainerConfig WHERE ID = ?", (dep,))
            if not rows:
                raise NoSuchCtrError(f"dependency container {dep} of {config.id} does not exist")
            namespace, pod = rows[0]
            if namespace != config.namespace:
                raise NSMismatchError(
                    f"dependency {dep} is in namespace {namespace!r}, "
                    f"container {config.id} in {config.namespace!r}")
            if (pod or "") != config.pod:
                raise InvalidArgError(
                    f"dependency {dep} is in pod {pod or '(none)'!s}, "
                    f"container {config.id} in {config.pod or '(none)'}: pods must match")

    def _check_volumes(self, config: ContainerConfig) -> None:
        """In a write transaction: every volume the container uses exists."""
        for name in config.volume_names():
            if not self._db.query("SELECT 1 FROM VolumeConfig WHERE Name = ?", (name,)):
                raise NoSuchVolumeError(
                    f'no volume with name "{name}" found for container {config.id}')

    def _delete_ctr(self, ctr_id: str) -> None:
        """In a write transaction: remove a container nobody depends on."""
        users = self._users(ctr_id)
        if users:
            raise CtrInUseError(f"container {ctr_id} is in use by: {', '.join(users)}")
        for table in ("ContainerDependency", "ContainerVolume", "ContainerState",
                      "ContainerConfig", "IDNamespace"):
            self._db.execute(f"DELETE FROM {table} WHERE ID = ?", (ctr_id,))

    def _users(self, ctr_id: str) -> list[str]:
        rows = self._db.query(
            "SELECT ID FROM ContainerDependency WHERE DependencyID = ? ORDER BY ID", (ctr_id,))
        return [row[0] for row in rows]

    def remove_container(self, ctr_id: str) -> None:
        self._db.check_open()
        with self._db.transaction():
            pod = self._ctr_row(ctr_id)[2]
            if pod:
                raise InvalidArgError(
                    f"container {ctr_id} is in pod {pod}: remove it with its pod")
            self._delete_ctr(ctr_id)

    def rename_container(self, ctr_id: str, new_name: str) -> None:
        self._db.check_open()
        _need(new_name, "container name")
        with self._db.transaction():
            record = self._ctr(self._ctr_row(ctr_id))
            rows = self._db.query("SELECT ID FROM ContainerConfig WHERE Name = ? UNION ALL "
                                  "SELECT ID FROM PodConfig WHERE Name = ? LIMIT 1",
                                  (new_name, new_name))
            if rows and rows[0][0] != ctr_id:
                raise NameInUseError(
                    f"the name {new_name!r} is already in use by {rows[0][0]}")
            config = attrs.evolve(record.config, name=new_name)
            self._db.execute("UPDATE ContainerConfig SET Name = ?, JSON = ? WHERE ID = ?",
                             (new_name, to_json(config), ctr_id))

    def save_container_networks(self, ctr_id: str, networks: tuple[str, ...],
                                options: tuple[NetworkOptions, ...],
                                state: ContainerState) -> None:
        self._db.check_open()
        with self._db.transaction():
            record = self._ctr(self._ctr_row(ctr_id))
            config = attrs.evolve(record.config, networks=tuple(networks),
                                  networks_explicit=True, network_options=tuple(options))
            self._db.execute("UPDATE ContainerConfig SET JSON = ? WHERE ID = ?",
                             (to_json(config), ctr_id))
            self._db.execute(
                "UPDATE ContainerState SET State = ?, ExitCode = ?, JSON = ? WHERE ID = ?",
                (state.state.value, state.exit_code, to_json(state), ctr_id))

    def container_state(self, ctr_id: str) -> ContainerState:
        return self._ctr(self._ctr_row(ctr_id)).state

    def save_container_state(self, ctr_id: str, state: ContainerState) -> None:
        self._db.check_open()
        text = to_json(state)
        with self._db.transaction():
            self._ctr_row(ctr_id)
            self._db.execute(
                "UPDATE ContainerState SET State = ?, ExitCode = ?, JSON = ? WHERE ID = ?",
                (state.state.value, state.exit_code, text, ctr_id))

    def container_in_use(self, ctr_id: str) -> list[str]:
        self._ctr_row(ctr_id)
        return self._users(ctr_id)

    def all_containers(self) -> list[ContainerRecord]:
        self._db.check_open()
        ns_sql, ns_params = self._ns_filter()
        where = f" WHERE 1{ns_sql}" if ns_sql else ""
        return [self._ctr(row) for row in self._db.query(_CTR_SELECT + where + _ORDER,
                                                         ns_params)]

    def container_counts(self) -> tuple[int, int, int]:
        """Counted by SQLite from the State column: no record is read or decoded."""
        self._db.check_open()
        ns_sql, ns_params = self._ns_filter()
        [(total, running, paused)] = self._db.query(
            "SELECT COUNT(*), COALESCE(SUM(s.State = 'running'), 0), "
            "COALESCE(SUM(s.State = 'paused'), 0) FROM ContainerConfig c "
            f"JOIN ContainerState s ON s.ID = c.ID WHERE 1{ns_sql}", ns_params)
        return int(total), int(running), int(paused)

    # -- pods --------------------------------------------------------------------------

    def pod(self, pod_id: str) -> PodRecord:
        return self._pod(self._pod_row(pod_id))

    def lookup_pod(self, id_or_name: str) -> PodRecord:
        return self._pod(self._lookup_row(_POD_SELECT, id_or_name, "pod", NoSuchPodError))

    def has_pod(self, pod_id: str) -> bool:
        self._db.check_open()
        _need(pod_id, "pod id")
        rows = self._db.query("SELECT Namespace FROM PodConfig WHERE ID = ?", (pod_id,))
        return bool(rows) and (not self._namespace or rows[0][0] == self._namespace)

    def pod_has_container(self, pod_id: str, ctr_id: str) -> bool:
        self._pod_row(pod_id)
        _need(ctr_id, "container id")
        return bool(self._db.query(
            "SELECT 1 FROM ContainerConfig WHERE ID = ? AND PodID = ?", (ctr_id, pod_id)))

    def pod_containers_by_id(self, pod_id: str) -> list[str]:
        self._pod_row(pod_id)
        rows = self._db.query(f"SELECT c.ID FROM ContainerConfig c WHERE c.PodID = ?{_ORDER}",
                              (pod_id,))
        return [row[0] for row in rows]

    def pod_containers(self, pod_id: str) -> list[ContainerRecord]:
        self._pod_row(pod_id)
        rows = self._db.query(f"{_CTR_SELECT} WHERE c.PodID = ?{_ORDER}", (pod_id,))
        return [self._ctr(row) for row in rows]

    def add_pod(self, record: PodRecord) -> None:
        config = record.config
        self._check_new(config.id, config.name, config.namespace, "pod")
        config_json, state_json = to_json(config), to_json(record.state)
        with self._db.transaction():
            self._check_free(config.id, config.name, PodExistsError)
            self._db.execute("INSERT INTO IDNamespace(ID) VALUES (?)", (config.id,))
            self._db.execute(
                "INSERT INTO PodConfig(ID, Name, JSON, Namespace, Created) "
                "VALUES (?, ?, ?, ?, ?)",
                (config.id, config.name, config_json, config.namespace, config.created))
            self._db.execute(
                "INSERT INTO PodState(ID, InfraContainerID, JSON) VALUES (?, ?, ?)",
                (config.id, record.state.infra_container_id or None, state_json))

    def remove_pod(self, pod_id: str) -> None:
        self._db.check_open()
        with self._db.transaction():
            self._pod_row(pod_id)
            if self._db.query("SELECT 1 FROM ContainerConfig WHERE PodID = ? LIMIT 1",
                              (pod_id,)):
                raise PodNotEmptyError(f"pod {pod_id} still has containers")
            for table in ("PodState", "PodConfig", "IDNamespace"):
                self._db.execute(f"DELETE FROM {table} WHERE ID = ?", (pod_id,))

    def remove_pod_containers(self, pod_id: str) -> None:
        self._db.check_open()
        members = "SELECT ID FROM ContainerConfig WHERE PodID = ?"
        with self._db.transaction():
            self._pod_row(pod_id)
            outside = self._db.query(
                f"SELECT ID, DependencyID FROM ContainerDependency WHERE DependencyID IN "
                f"({members}) AND ID NOT IN ({members})", (pod_id, pod_id))
            if outside:
                raise CtrInUseError(
                    f"container {outside[0][1]} of pod {pod_id} is in use by container "
                    f"{outside[0][0]} outside the pod")
            # Dependencies first: they refer to the configs without deferring the check.
            for table in ("ContainerDependency", "ContainerVolume", "ContainerState",
                          "IDNamespace"):
                self._db.execute(f"DELETE FROM {table} WHERE ID IN ({members})", (pod_id,))
            self._db.execute("DELETE FROM ContainerConfig WHERE PodID = ?", (pod_id,))

    def add_container_to_pod(self, pod_id: str, record: ContainerRecord) -> None:
        self._db.check_open()
        _need(pod_id, "pod id")
        if record.config.pod != pod_id:
            raise InvalidArgError(
                f"container {record.config.id} is not configured for pod {pod_id}")
        self._add_ctr(record)

    def remove_container_from_pod(self, pod_id: str, ctr_id: str) -> None:
        self._db.check_open()
        with self._db.transaction():
            self._pod_row(pod_id)
            if self._ctr_row(ctr_id)[2] != pod_id:
                raise NoSuchCtrError(f"container {ctr_id} is not in pod {pod_id}")
            self._delete_ctr(ctr_id)

    def pod_state(self, pod_id: str) -> PodState:
        return self._pod(self._pod_row(pod_id)).state

    def save_pod_state(self, pod_id: str, state: PodState) -> None:
        self._db.check_open()
        text = to_json(state)
        with self._db.transaction():
            self._pod_row(pod_id)
            self._db.execute(
                "UPDATE PodState SET InfraContainerID = ?, JSON = ? WHERE ID = ?",
                (state.infra_container_id or None, text, pod_id))

    def all_pods(self) -> list[PodRecord]:
        self._db.check_open()
        ns_sql, ns_params = self._ns_filter()
        where = f" WHERE 1{ns_sql}" if ns_sql else ""
        return [self._pod(row) for row in self._db.query(_POD_SELECT + where + _ORDER,
                                                         ns_params)]

    # -- volumes -----------------------------------------------------------------------

    def _vol(self, row: Row) -> Volume:
        from pypod_core.model_volume import Volume, VolumeConfig, VolumeState  # lazy: ~3.6 ms

        return Volume(self._decode(row[1], VolumeConfig, "volume", row[0]),
                      self._decode(row[2], VolumeState, "volume", row[0]))

    def _vol_row(self, name: str) -> Row:
        self._db.check_open()
        _need(name, "volume name")
        rows = self._db.query(f"{_VOL_SELECT} WHERE c.Name = ?", (name,))
        if not rows:
            raise NoSuchVolumeError(f'no volume with name "{name}" found')
        return rows[0]

    def volume(self, name: str) -> Volume:
        return self._vol(self._vol_row(name))

    def lookup_volume(self, name_or_prefix: str) -> Volume:
        self._db.check_open()
        _need(name_or_prefix, "volume name")
        rows = self._db.query(f"{_VOL_SELECT} WHERE c.Name = ?", (name_or_prefix,))
        if not rows:
            rows = self._db.query(f"{_VOL_SELECT} WHERE c.Name >= ? AND c.Name < ? LIMIT 2",
                                  (name_or_prefix, name_or_prefix + _AFTER))
        if len(rows) > 1:
            raise AmbiguousIDError(f"more than one volume matches {name_or_prefix!r}")
        if not rows:
            raise NoSuchVolumeError(f'no volume with name "{name_or_prefix}" found')
        return self._vol(rows[0])

    def has_volume(self, name: str) -> bool:
        self._db.check_open()
        _need(name, "volume name")
        return bool(self._db.query("SELECT 1 FROM VolumeConfig WHERE Name = ?", (name,)))

    def add_volume(self, volume: Volume) -> None:
        self._db.check_open()
        config = volume.config
        if not config.name:
            raise InvalidArgError("a volume needs a name")
        config_json, state_json = to_json(config), to_json(volume.state)
        with self._db.transaction():
            if self._db.query("SELECT 1 FROM VolumeConfig WHERE Name = ?", (config.name,)):
                raise VolumeExistsError(f"volume with name {config.name} already exists")
            self._db.execute("INSERT INTO VolumeConfig(Name, JSON, Created) VALUES (?, ?, ?)",
                             (config.name, config_json, config.created))
            self._db.execute("INSERT INTO VolumeState(Name, JSON) VALUES (?, ?)",
                             (config.name, state_json))

    def _vol_users(self, name: str) -> list[str]:
        rows = self._db.query(
            "SELECT ID FROM ContainerVolume WHERE VolumeName = ? ORDER BY ID", (name,))
        return [row[0] for row in rows]

    def remove_volume(self, name: str) -> None:
        self._db.check_open()
        with self._db.transaction():
            self._vol_row(name)
            users = self._vol_users(name)
            if users:
                raise VolumeInUseError(f"volume {name} is being used by the following "
                                       f"container(s): {', '.join(users)}")
            for table in ("VolumeState", "VolumeConfig"):
                self._db.execute(f"DELETE FROM {table} WHERE Name = ?", (name,))

    def volume_state(self, name: str) -> VolumeState:
        return self._vol(self._vol_row(name)).state

    def save_volume_state(self, name: str, state: VolumeState) -> None:
        self._db.check_open()
        text = to_json(state)
        with self._db.transaction():
            self._vol_row(name)
            self._db.execute("UPDATE VolumeState SET JSON = ? WHERE Name = ?", (text, name))

    def volume_in_use(self, name: str) -> list[str]:
        self._vol_row(name)
        return self._vol_users(name)

    def all_volumes(self) -> list[Volume]:
        self._db.check_open()
        return [self._vol(row) for row in self._db.query(_VOL_SELECT + _ORDER)]
