"""Resumable partitions: whole chunks survive a crash, nothing is written twice."""

from __future__ import annotations

import polars as pl

from semitruths_dagster.storage import TableStore
from semitruths_dagster.storage.resumable import ResumablePartition

SCHEMA = {"id": pl.Utf8, "value": pl.Int64}


def rows(ids):
    return [{"id": f"k{i}", "value": i} for i in ids]


def test_resume_skips_done_keys_and_finalize_dedupes(tmp_path):
    store = TableStore(tmp_path)
    part = ResumablePartition(store, "t", {"dataset": "a", "generator": "g"}, "id", SCHEMA)
    part.write_chunk(rows(range(0, 3)))
    part.write_chunk(rows(range(3, 5)))
    # A killed run leaves a stray temp file, never a torn chunk: it is ignored.
    (part.chunk_dir / "chunk-000009-x.tmp").write_bytes(b"torn")
    again = ResumablePartition(store, "t", {"dataset": "a", "generator": "g"}, "id", SCHEMA)
    assert again.done_keys() == {f"k{i}" for i in range(5)}
    again.write_chunk(rows([4, 5, 6]))  # an overlap, as after a crash between commit and bookkeeping
    final = again.finalize()
    assert sorted(final["id"]) == sorted(f"k{i}" for i in range(7))
    assert not list(part.chunk_dir.glob("*.parquet"))
    assert store.path("t", {"dataset": "a", "generator": "g"}).is_file()


def test_finalize_keeps_only_current_keys_and_reset_forgets(tmp_path):
    store = TableStore(tmp_path)
    part = ResumablePartition(store, "t", {"dataset": "a"}, "id", SCHEMA)
    part.write_chunk(rows(range(4)))
    assert part.finalize(keep={"k1", "k2"})["id"].to_list() == ["k1", "k2"]
    part.reset()
    assert part.done_keys() == set()
