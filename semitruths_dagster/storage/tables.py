"""Stage tables as Parquet, one file per partition, written atomically.

Layout: `<root>/tables/<table>/<dim>=<value>[/<dim>=<value>]/part.parquet` (Hive style, so the same tree
is the same on object storage: the root may be `s3://bucket/prefix`, see location.py). Each partition is its own file: concurrent runs on different
partitions never touch the same file, and re-materializing a partition replaces exactly that file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import polars as pl

from .location import glob, read_parquet, storage_path, write_parquet

PART_FILE = "part.parquet"


def partition_dir(root: Path, table: str, partition: Mapping[str, str]) -> Path:
    path = root / "tables" / table
    for dim, value in partition.items():
        # Quote so that any partition value maps to one safe folder name.
        path = path / f"{dim}={quote(str(value), safe='')}"
    return path


class WriteRefused(RuntimeError):
    """A step may no longer write: its run has ended (failed or cancelled) while the step went on."""


class TableStore:
    """Reads and writes partitioned stage tables under `<root>/tables`.

    `guard`, when given, is called before every write and raises (WriteRefused) when the writer may no
    longer write: a step whose run was failed or cancelled meanwhile (resources/project.py) never
    replaces a table, and its resumable chunks stop too (resumable.py takes the store's guard).
    """

    def __init__(self, root: str | os.PathLike, guard: Callable[[], None] | None = None) -> None:
        self.root = storage_path(root)
        self.guard = guard or (lambda: None)

    def path(self, table: str, partition: Mapping[str, str]) -> Path:
        return partition_dir(self.root, table, partition) / PART_FILE

    def write(
        self,
        table: str,
        partition: Mapping[str, str],
        rows: Sequence[Mapping] | pl.DataFrame,
        schema: Mapping[str, pl.DataType],
    ) -> Path:
        """Replace one partition of `table` with `rows`, atomically (temp file + rename)."""
        self.guard()
        frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(list(rows), schema=schema, orient="row")
        frame = frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
        target = self.path(table, partition)
        write_parquet(frame, target, self.root)
        return target

    def exists(self, table: str, partition: Mapping[str, str]) -> bool:
        return self.path(table, partition).is_file()

    def read(self, table: str, partition: Mapping[str, str]) -> pl.DataFrame:
        path = self.path(table, partition)
        if not path.is_file():
            raise FileNotFoundError(
                f"table '{table}' has no partition {dict(partition)} at {path}: materialize it first"
            )
        return read_parquet(path)

    def files(self, table: str) -> list[Path]:
        return glob(self.root / "tables" / table, PART_FILE)

    def read_all(self, table: str) -> pl.DataFrame:
        """Every partition of `table` (empty frame when none is materialized)."""
        files = self.files(table)
        if not files:
            return pl.DataFrame()
        return pl.concat([read_parquet(f) for f in files], how="diagonal_relaxed")

    def tables(self) -> list[str]:
        base = self.root / "tables"
        return sorted(p.name for p in base.iterdir() if p.is_dir() and self.files(p.name)) if base.exists() else []
