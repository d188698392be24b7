"""The instance's event log (dagster.yaml, lib/instance.py): Dagster's SQLite event log with one SQLAlchemy engine
and one kept connection per database file and process.

`SqliteEventLogStorage._connect` creates an engine for every statement, connects, and disposes of it, which throws
away the dialect's set-up and every compiled statement, and closes the file each time: closing a WAL database's last
connection checkpoints the WAL into the file and deletes it. An event cost 15 ms here, and a load writes ~290 of
them (a national ten-year rebuild ~970). Here the engine is kept, and its pool keeps one connection open: 3.4 ms an
event (300 materializations, benchmarks/results/2026-12-02-issue14-s24.md).

What a kept connection changes, and why it is safe:
- Between statements it holds no lock and no transaction (SQLAlchemy rolls back on return to the pool), so other
  processes (the UI, the daemon, a second load waiting for the warehouse's lock) read and write as before; WAL's
  own checkpoints run on commit (every 1,000 pages).
- Every use is inside the storage's `_db_lock`, as in Dagster, so one connection serves all threads in turn.
- A process holds at most MAX_OPEN files open (the index, the run's own file, runless events'): the UI reads the
  events of many runs, each its own file; the least recently used is closed.
- `has_table` remembers the tables it found (a table, once created, is never dropped by Dagster).
- A forked child drops the parent's connections without closing them (SQLAlchemy's rule for pools across fork);
  `wipe` (which deletes the run files) and `dispose` close them first, and so does the process's exit.
Commits use `synchronous=NORMAL`, which in WAL mode (Dagster's) cannot corrupt the database: a power cut may lose
the last commits, a killed process does not (they are in the WAL). The warehouse is published with its own fsync
(lib/warehouse.py), so it never depends on this.

tests/test_orchestration.py pins the source of the methods this depends on or overrides: an upgrade of Dagster
that changes them fails there.
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections import OrderedDict
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from sqlalchemy import create_engine, event
from sqlalchemy.pool import QueuePool

MAX_OPEN = 4  # database files a process keeps a connection to
_storages: weakref.WeakSet = weakref.WeakSet()  # this process's storages, for the fork and exit hooks


def _normal_sync(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _drop_connections_after_fork() -> None:
    for storage in list(_storages):
        for engine in storage._engines.values():
            engine.dispose(close=False)  # the parent's connections stay the parent's


def _close_connections_at_exit() -> None:
    # `junheng run` ends with os._exit after the exit handlers (cli.exit_after_load): no SQLite file stays open, and
    # closing each file's last connection writes its WAL into it
    for storage in list(_storages):
        storage._close_all(timeout=5)  # a thread still writing after 5 s keeps its connection


os.register_at_fork(after_in_child=_drop_connections_after_fork)
atexit.register(_close_connections_at_exit)


class JunhengSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: OrderedDict = OrderedDict()  # shard -> engine, most recently used last; before the parent's
        self._tables_found: set[str] = set()        # set-up, which connects to the index
        super().__init__(base_dir, inst_data)
        _storages.add(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        engine = self._engines.get(shard)
        if engine is None:
            # pool_size 1: the one kept connection; max_overflow -1: a nested checkout (Dagster's set-up of a new
            # file inspects it while connected) opens a second one for its duration instead of waiting for the first
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1, max_overflow=-1,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            event.listen(engine, "connect", _normal_sync)
            self._engines[shard] = engine
            while len(self._engines) > MAX_OPEN:
                self._engines.popitem(last=False)[1].dispose()
        else:
            self._engines.move_to_end(shard)
        return engine

    def _close_all(self, timeout: float = -1) -> None:
        """Close every kept connection, under the storage's lock (waiting at most `timeout` s for it; -1: as long as
        it takes)."""
        if not self._db_lock.acquire(timeout=timeout):
            return
        try:
            while self._engines:
                self._engines.popitem()[1].dispose()
        finally:
            self._db_lock.release()

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

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before every asset check event and every event's tags, with an engine and connection of its
        # own each time; a table once there stays (migrations add tables), so a table found is not asked for again
        if table_name in self._tables_found:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables_found.add(table_name)
        return found

    def wipe(self) -> None:
        self._close_all()  # before the run files are deleted under them
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_all()
