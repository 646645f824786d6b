"""One DuckDB database that exposes every stage table as a view over its Parquet partitions.

`duckdb <storage>/warehouse.duckdb` then queries the whole dataset. Views are globs, so a new
partition shows up without touching the database; the file is written only when a table first
appears. DuckDB lets one process hold a database file at a time, so writers take a file lock and
retry, and a busy database (a user's open shell, say) never fails a pipeline run.

On an object store (`storage.root: s3://...`) there is no shared file: workers never write a DuckDB
database, and `connect()` gives an in-memory one with the same views read through the root's fsspec
filesystem, registered in DuckDB (the duckdb wheels carry no httpfs extension).

`connect()` (and so `semitruths warehouse --query`) also reads the chunks a running or killed step has
committed since its partition's last `part.parquet` (storage/resumable.py): one row per key, the newest
chunk's first, so that a forced rerun never leaves a hole and a killed one shows what it made.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ..disk_full import full_errno, storage_full
from .location import is_local
from .resumable import CHUNK_DIR, chunk_files, chunk_key
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


def _sql_path(path: Path) -> str:
    text = path.resolve().as_posix() if is_local(path) else str(path)
    return "'" + text.replace("'", "''") + "'"


def live_view_sql(root: Path, table: str, parts: list[Path], chunks: list[Path], key: str) -> str:
    """A view over the committed partitions and the chunks committed since: one row per (partition, key),
    from the newest chunk that has it, else from `part.parquet`."""
    files = ", ".join(_sql_path(f) for f in parts + chunks)
    folder = f"regexp_replace(_file, '/({CHUNK_DIR}/[^/]*|{PART_FILE})$', '')"
    return (
        f'CREATE OR REPLACE VIEW "{table}" AS SELECT * EXCLUDE (_file, _pick) FROM ('
        f"SELECT *, row_number() OVER (PARTITION BY {folder}, \"{key}\" "
        f"ORDER BY contains(_file, '/{CHUNK_DIR}/') DESC, _file DESC) AS _pick "
        f"FROM read_parquet([{files}], union_by_name = true, filename = '_file')) WHERE _pick = 1"
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
                    code = full_errno(exc)
                    if code is not None:  # not busy: waiting frees no space
                        raise storage_full(code, self.path, self.root) from None
                    if time.monotonic() > deadline:
                        log.warning("warehouse %s busy, views not refreshed: %s", self.path, exc)
                        return []
                    time.sleep(0.5)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A private in-memory database with one view per stage table (never locks the file)."""
        con = duckdb.connect()
        if not self.shared_file:
            con.register_filesystem(self.root.fs)
        for name in self.names():
            parts, chunks = self.tables.files(name), [c for f in self._folders(name) for c in chunk_files(f)]
            key = next((k for f in {c.parent.parent for c in chunks} if (k := chunk_key(f))), None)
            con.execute(live_view_sql(self.root, name, parts, chunks, key) if chunks and key
                        else view_sql(self.root, name))
        return con

    def _folders(self, table: str) -> list[Path]:
        """Partition folders of `table` that hold committed chunks."""
        base = self.root / "tables" / table
        return sorted({c.parent.parent for c in (base.rglob("chunk-*.parquet") if base.exists() else [])
                       if c.parent.name == CHUNK_DIR})

    def names(self) -> list[str]:
        """Tables with a committed partition or committed chunks (a first run, running or killed)."""
        base = self.root / "tables"
        found = set(self.tables.tables())
        if base.exists():
            found |= {p.name for p in base.iterdir() if p.is_dir() and self._folders(p.name)}
        return sorted(found)

    def query(self, sql: str, attempts: int = 3) -> list[tuple]:
        """Run SQL over the stage tables (local or object store). A chunk folded in and deleted between
        listing and reading (a step finishing meanwhile) is read again from the new listing."""
        for attempt in range(attempts):
            try:
                with self.connect() as con:
                    return con.execute(sql).fetchall()
            except duckdb.IOException:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")
