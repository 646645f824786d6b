"""Crash-safe, resumable writing of one table partition in small chunks.

Expensive stages (generations) commit every few items as a chunk file next to the partition's
`part.parquet`, each written atomically. A run killed at any moment leaves only whole chunks; the
next run reads which keys are done (chunks + an earlier `part.parquet`), does the rest, and finally
folds everything into `part.parquet`, dropping duplicate keys, before deleting the chunks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from .tables import TableStore

CHUNK_DIR = "_chunks"


class ResumablePartition:
    def __init__(self, store: TableStore, table: str, partition: Mapping[str, str], key: str,
                 schema: Mapping[str, pl.DataType]) -> None:
        self.store, self.table, self.partition, self.key, self.schema = store, table, dict(partition), key, schema
        self.final = store.path(table, partition)
        self.chunk_dir = self.final.parent / CHUNK_DIR

    def _chunks(self) -> list[Path]:
        return sorted(self.chunk_dir.glob("chunk-*.parquet")) if self.chunk_dir.is_dir() else []

    def _frames(self) -> list[pl.DataFrame]:
        files = ([self.final] if self.final.is_file() else []) + self._chunks()
        return [pl.read_parquet(f) for f in files]

    def done_keys(self) -> set[str]:
        """Keys already committed by this or an earlier (possibly killed) run."""
        return {k for frame in self._frames() for k in frame[self.key].to_list()}

    def write_chunk(self, rows: Sequence[Mapping]) -> Path | None:
        """Commit a chunk of finished rows (atomically: temp file + rename)."""
        if not rows:
            return None
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        index = len(self._chunks())
        frame = pl.DataFrame(list(rows), schema=self.schema, orient="row")
        # The first key names the chunk, so two runs can never pick the same file name for different rows.
        target = self.chunk_dir / f"chunk-{index:06d}-{frame[self.key][0]}.parquet"
        tmp = target.with_suffix(".tmp")
        frame.write_parquet(tmp)
        os.replace(tmp, target)
        return target

    def finalize(self, keep: set[str] | None = None) -> pl.DataFrame:
        """Fold chunks and the earlier partition into `part.parquet`; `keep` drops rows of stale keys."""
        frames = self._frames()
        frame = (pl.concat(frames, how="diagonal_relaxed") if frames
                 else pl.DataFrame(schema=self.schema)).unique(self.key, keep="first", maintain_order=True)
        if keep is not None:
            frame = frame.filter(pl.col(self.key).is_in(sorted(keep)))
        self.store.write(self.table, self.partition, frame, self.schema)
        for leftover in self._chunks() + list(self.chunk_dir.glob("*.tmp")):  # .tmp: a killed run's torn write
            leftover.unlink()
        return self.store.read(self.table, self.partition)

    def reset(self) -> None:
        """Forget all committed rows (a forced rerun)."""
        for chunk in self._chunks():
            chunk.unlink()
        if self.final.is_file():
            self.final.unlink()

