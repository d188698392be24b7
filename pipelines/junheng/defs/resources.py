"""Resources shared by every domain: where the files are and which warehouse file a run writes."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb

from junheng.lib import warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file this run writes: the private build copy, never the published file.

    `junheng run` points it at `<warehouse>.building` and publishes at the end (lib/warehouse.py).
    """

    path: str
    data_dir: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(Path(self.path), read_only=read_only) as conn:
            if not read_only:
                warehouse.ensure_raw_schema(conn)
            yield conn

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)
