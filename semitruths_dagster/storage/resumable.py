"""Crash-safe, resumable writing of one table partition in small chunks.

Expensive stages (generations) commit every few items as a chunk file next to the partition's
`part.parquet`, each written atomically (on disk or on an object store). A run killed at any moment
leaves only whole chunks; the next run reads which keys are done (chunks + an earlier `part.parquet`),
does the rest, and finally folds everything into `part.parquet`, dropping duplicate keys, before
deleting the chunks.

Readers never see a hole: `part.parquet` is only ever replaced whole, never deleted. A forced rerun
writes a marker (`_forced.json`, naming the chunks that were there before it) instead of deleting
anything: it redoes every key, its own chunks override the earlier rows (for the warehouse, newest chunk
first: see warehouse.py), and a rerun after it was killed carries on with the forced work. `_key.txt`
names the key column, so that readers can pick one row per key.

`guard` (by default the store's) is called before every write (chunk, marker or final table): a step
whose run has been failed or cancelled raises there and never writes after its run ended.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl

from .location import glob, read_parquet, write_atomic, write_parquet
from .tables import TableStore

CHUNK_DIR = "_chunks"
KEY_FILE = "_key.txt"
FORCED_FILE = "_forced.json"


def chunk_files(partition_dir: Path) -> list[Path]:
    """The committed chunks of one partition folder, oldest first (names start with the commit time)."""
    return [p for p in glob(partition_dir / CHUNK_DIR, "chunk-*.parquet") if p.parent.name == CHUNK_DIR]


def chunk_key(partition_dir: Path) -> str | None:
    """The key column its chunks are committed under (None when it has no chunks)."""
    path = partition_dir / CHUNK_DIR / KEY_FILE
    return path.read_text().strip() if path.is_file() else None


class ResumablePartition:
    def __init__(self, store: TableStore, table: str, partition: Mapping[str, str], key: str,
                 schema: Mapping[str, pl.DataType], guard: Callable[[], None] | None = None) -> None:
        self.store, self.table, self.partition, self.key, self.schema = store, table, dict(partition), key, schema
        self.final = store.path(table, partition)
        self.chunk_dir = self.final.parent / CHUNK_DIR
        self.guard = guard or store.guard
        self._key_written = False

    def _chunks(self) -> list[Path]:
        return chunk_files(self.final.parent)

    def _stale(self) -> set[str] | None:
        """Names of the chunks a forced rerun ignores (None: no forced rerun in progress)."""
        marker = self.chunk_dir / FORCED_FILE
        return set(json.loads(marker.read_text())["stale"]) if marker.is_file() else None

    def _sources(self) -> list[Path]:
        """The files whose rows count as done: after a forced rerun began, only its own chunks."""
        stale = self._stale()
        if stale is None:
            return ([self.final] if self.final.is_file() else []) + self._chunks()
        return [c for c in self._chunks() if c.name not in stale]

    def committed(self) -> pl.DataFrame:
        """Every row that counts as done (the earlier partition and the chunks, or only a forced rerun's
        own chunks), duplicates included."""
        frames = [read_parquet(f) for f in self._sources()]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=self.schema)

    def done_keys(self) -> set[str]:
        """Keys already committed by this or an earlier (possibly killed) run."""
        return {k for f in self._sources() for k in read_parquet(f)[self.key].to_list()}

    def write_chunk(self, rows: Sequence[Mapping]) -> Path | None:
        """Commit a chunk of finished rows atomically; returns its path."""
        if not rows:
            return None
        self.guard()
        frame = pl.DataFrame(list(rows), schema=self.schema, orient="row")
        if not self._key_written:  # before the first chunk: a reader that sees a chunk finds the key
            write_atomic(self.chunk_dir / KEY_FILE, lambda fh: fh.write(self.key.encode()), self.store.root)
            self._key_written = True
        # Named by time (order) and a digest of its keys: two writers, even on two hosts racing on one
        # listing, can never pick the same name for different rows.
        digest = hashlib.sha256("\n".join(map(str, frame[self.key].to_list())).encode()).hexdigest()[:16]
        target = self.chunk_dir / f"chunk-{time.time_ns():020d}-{digest}.parquet"
        write_parquet(frame, target, self.store.root)
        return target

    def finalize(self, keep: set[str] | None = None) -> pl.DataFrame:
        """Fold chunks and the earlier partition into `part.parquet`; `keep` drops rows of stale keys."""
        chunks, sources = self._chunks(), self._sources()
        # Newest first, so that a forced rerun's rows win over what it replaces.
        frames = [read_parquet(f) for f in reversed(sources)]
        frame = (pl.concat(frames, how="diagonal_relaxed") if frames
                 else pl.DataFrame(schema=self.schema)).unique(self.key, keep="first", maintain_order=True)
        if keep is not None:
            frame = frame.filter(pl.col(self.key).is_in(sorted(keep)))
        self.guard()
        self.store.write(self.table, self.partition, frame, self.schema)
        # Only the chunks folded in (or stale) are deleted, the marker and key last; .tmp files are a
        # killed local run's torn writes.
        for leftover in chunks + glob(self.chunk_dir, "*.tmp") + [self.chunk_dir / FORCED_FILE,
                                                                  self.chunk_dir / KEY_FILE]:
            if leftover.is_file():
                leftover.unlink()
        return self.store.read(self.table, self.partition)

    def reset(self) -> None:
        """Forget all committed rows (a forced rerun) without deleting any: the marker lists the chunks
        made before it, which no longer count as done; `part.parquet` stays readable until `finalize`."""
        self.guard()
        names = sorted(c.name for c in self._chunks())
        write_atomic(self.chunk_dir / FORCED_FILE, lambda fh: fh.write(json.dumps({"stale": names}).encode()),
                     self.store.root)
