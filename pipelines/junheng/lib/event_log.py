"""The instance's event log (dagster.yaml, lib/instance.py): Dagster's SQLite event log with one SQLAlchemy engine
per database file and process.

`SqliteEventLogStorage._connect` creates an engine for every statement and disposes of it, which throws away the
dialect's set-up and every compiled statement each time: an event cost 22–28 ms (16 ms here), and a load writes
~290 of them (a national ten-year rebuild ~970). Here the engine is kept; it is still a NullPool (no file stays
open between statements: other processes, and the load's exit, see nothing held), with the original's lock and
per-file initialisation. Commits use `synchronous=NORMAL`, which in WAL mode (Dagster's) cannot corrupt the
database: a power cut may lose the last commits, a killed process does not (they are in the WAL). The warehouse is
published with its own fsync (lib/warehouse.py), so it never depends on this.

tests/test_orchestration.py pins the source of the two methods this depends on (`__init__`, `_connect`): an
upgrade of Dagster that changes them fails there.
"""

from __future__ import annotations

from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from sqlalchemy import create_engine, event
from sqlalchemy.pool import NullPool


def _normal_sync(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class JunhengSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: dict = {}  # before the parent's set-up, which connects to the index
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            event.listen(engine, "connect", _normal_sync)
            self._engines[shard] = engine
        return engine

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn
