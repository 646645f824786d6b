"""Content versions of table partitions: equal exactly when what the rows say is equal.

A stage that runs again and writes the same rows must report the same version, so that what depends
on it does not run again (Dagster's data versions, see `assets/common.py`). The version is a hash of
the partition's logical content, not of its file: columns in name order with their types, rows as
canonical JSON lines in sorted order (row order is not content), and without the columns that say when,
how fast and by which commit a row was written (`RUN_COLUMNS`), which change on every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import polars as pl

from .tables import TableStore

# Columns that describe the run that wrote a row rather than the row's data.
RUN_COLUMNS = frozenset({"created_at", "code_version", "reused_from_cache", "images_per_s", "elapsed_s",
                         "peak_gpu_memory_mb"})
VERSION_CHARS = 24  # hex digits kept (96 bits)


def _canonical(column: pl.Series) -> pl.Expr:
    """The column as JSON can carry it exactly: floats as text, so that NaN and null stay apart."""
    dtype = column.dtype
    if dtype.is_float():
        return pl.col(column.name).cast(pl.Utf8)
    if isinstance(dtype, pl.List) and dtype.inner.is_float():
        return pl.col(column.name).cast(pl.List(pl.Utf8))
    return pl.col(column.name)


def _digest(frame: pl.DataFrame) -> hashlib._Hash:
    names = sorted(c for c in frame.columns if c not in RUN_COLUMNS)
    digest = hashlib.sha256()
    digest.update("\t".join(f"{n}:{frame.schema[n]}" for n in names).encode())
    if names and frame.height:
        lines = (frame.select(pl.struct([_canonical(frame[n]) for n in names]).struct.json_encode().alias("row"))
                 .to_series().sort())
        digest.update(b"\n")
        digest.update(lines.str.join("\n").item().encode())
    return digest


def frame_version(frame: pl.DataFrame) -> str:
    """The content version of `frame`: independent of row and column order and of `RUN_COLUMNS`."""
    return _digest(frame).hexdigest()[:VERSION_CHARS]


def partition_version(store: TableStore, table: str, partition: Mapping[str, str],
                      files: Iterable[Path] = ()) -> str:
    """The content version of one written partition of `table`, read back from its file; `files` are
    other outputs of the same step that readers downstream use (their bytes count; a missing one too)."""
    digest = _digest(store.read(table, partition))
    for path in files:
        digest.update(f"\n{path.name}\n".encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:VERSION_CHARS]
