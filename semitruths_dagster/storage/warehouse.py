"""One DuckDB database that exposes every stage table as a view over its Parquet partitions.

`duckdb <storage>/warehouse.duckdb` then queries the whole dataset. Views are globs, so a new
partition shows up without touching the database; the file is written only when a table first
appears. DuckDB lets one process hold a database file at a time, so writers take a file lock and
retry, and a busy database (a user's open shell, say) never fails a pipeline run.

On an object store (`storage.root: s3://...`) there is no shared file: workers never write a DuckDB
database, and `connect()` gives an in-memory one with the same views read through the root's fsspec
filesystem, registered in DuckDB (the duckdb wheels carry no httpfs extension).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from .location import is_local
from .tables import PART_FILE, TableStore

log = logging.getLogger(__name__)
WAREHOUSE_FILE = "warehouse.duckdb"


def view_sql(root: Path, table: str) -> str:
    base = root / "tables" / table
    pattern = (base.resolve().as_posix() if is_local(root) else str(base)) + f"/**/{PART_FILE}"
    # union_by_name: partitions written by different code versions may differ in columns.
    return (
        f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM '
        f"read_parquet('{pattern}', union_by_name = true)"
    )


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Warehouse:
    def __init__(self, root: str | os.PathLike) -> None:
        self.tables = TableStore(root)
        self.root = self.tables.root
        self.path = self.root / WAREHOUSE_FILE
        self.shared_file = is_local(self.root)

    def refresh(self, tables: list[str] | None = None, timeout_s: float = 20.0) -> list[str]:
        """(Re)create views for `tables` (default: every table with data); returns the views made.

        Returns [] and logs a warning when another process holds the database past `timeout_s`, and
        always on an object store (no shared database file: see `connect`).
        """
        if not self.shared_file:
            return []
        names = [t for t in (tables or self.tables.tables()) if self.tables.files(t)]
        if not names:
            return []
        deadline = time.monotonic() + timeout_s
        with _file_lock(self.path.with_suffix(".lock")):
            while True:
                try:
                    with duckdb.connect(str(self.path)) as con:
                        for name in names:
                            con.execute(view_sql(self.root, name))
                    return names
                except duckdb.IOException as exc:  # the file is held by another process
                    if time.monotonic() > deadline:
                        log.warning("warehouse %s busy, views not refreshed: %s", self.path, exc)
                        return []
                    time.sleep(0.5)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A private in-memory database with one view per stage table (never locks the file)."""
        con = duckdb.connect()
        if not self.shared_file:
            con.register_filesystem(self.root.fs)
        for name in self.tables.tables():
            con.execute(view_sql(self.root, name))
        return con

    def query(self, sql: str) -> list[tuple]:
        """Run SQL over the stage tables (local or object store)."""
        with self.connect() as con:
            return con.execute(sql).fetchall()
