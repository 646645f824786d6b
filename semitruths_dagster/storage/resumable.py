"""Crash-safe, resumable writing of one table partition in small chunks.

Expensive stages (generations) commit every few items as a chunk file next to the partition's
`part.parquet`, each written atomically (on disk or on an object store). A run killed at any moment
leaves only whole chunks; the next run reads which keys are done (chunks + an earlier `part.parquet`),
does the rest, and finally folds everything into `part.parquet`, dropping duplicate keys, before
deleting the chunks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from .location import glob, read_parquet, write_parquet
from .tables import TableStore

CHUNK_DIR = "_chunks"


class ResumablePartition:
    def __init__(self, store: TableStore, table: str, partition: Mapping[str, str], key: str,
                 schema: Mapping[str, pl.DataType]) -> None:
        self.store, self.table, self.partition, self.key, self.schema = store, table, dict(partition), key, schema
        self.final = store.path(table, partition)
        self.chunk_dir = self.final.parent / CHUNK_DIR

    def _chunks(self) -> list[Path]:
        return [p for p in glob(self.chunk_dir, "chunk-*.parquet") if p.parent.name == CHUNK_DIR]

    def _frames(self) -> list[pl.DataFrame]:
        files = ([self.final] if self.final.is_file() else []) + self._chunks()
        return [read_parquet(f) for f in files]

    def committed(self) -> pl.DataFrame:
        """Every row committed so far (the earlier partition and the chunks), duplicates included."""
        frames = self._frames()
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=self.schema)

    def done_keys(self) -> set[str]:
        """Keys already committed by this or an earlier (possibly killed) run."""
        return {k for frame in self._frames() for k in frame[self.key].to_list()}

    def write_chunk(self, rows: Sequence[Mapping]) -> Path | None:
        """Commit a chunk of finished rows atomically; returns its path."""
        if not rows:
            return None
        frame = pl.DataFrame(list(rows), schema=self.schema, orient="row")
        # Named by time (order) and a digest of its keys: two writers, even on two hosts racing on one
        # listing, can never pick the same name for different rows.
        digest = hashlib.sha256("\n".join(map(str, frame[self.key].to_list())).encode()).hexdigest()[:16]
        target = self.chunk_dir / f"chunk-{time.time_ns():020d}-{digest}.parquet"
        write_parquet(frame, target)
        return target

    def finalize(self, keep: set[str] | None = None) -> pl.DataFrame:
        """Fold chunks and the earlier partition into `part.parquet`; `keep` drops rows of stale keys."""
        chunks = self._chunks()
        frames = ([read_parquet(self.final)] if self.final.is_file() else []) + [read_parquet(c) for c in chunks]
        frame = (pl.concat(frames, how="diagonal_relaxed") if frames
                 else pl.DataFrame(schema=self.schema)).unique(self.key, keep="first", maintain_order=True)
        if keep is not None:
            frame = frame.filter(pl.col(self.key).is_in(sorted(keep)))
        self.store.write(self.table, self.partition, frame, self.schema)
        # Only the chunks folded in are deleted; .tmp files are a killed local run's torn writes.
        for leftover in chunks + glob(self.chunk_dir, "*.tmp"):
            leftover.unlink()
        return self.store.read(self.table, self.partition)

    def reset(self) -> None:
        """Forget all committed rows (a forced rerun)."""
        for chunk in self._chunks():
            chunk.unlink()
        if self.final.is_file():
            self.final.unlink()
