"""Resumable partitions: whole chunks survive a crash, nothing is written twice."""

from __future__ import annotations

import polars as pl
import pytest

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


def values(rows_):
    return sorted((r[0], r[1]) for r in rows_)


def test_a_forced_rerun_never_leaves_a_hole_and_a_killed_one_resumes_its_own_work(tmp_path):
    from semitruths_dagster.storage import Warehouse

    store, part_key = TableStore(tmp_path), {"dataset": "a"}
    first = ResumablePartition(store, "t", part_key, "id", SCHEMA)
    first.write_chunk(rows(range(4)))
    first.finalize()
    warehouse = Warehouse(tmp_path)
    forced = ResumablePartition(store, "t", part_key, "id", SCHEMA)
    forced.reset()
    assert forced.done_keys() == set()  # every key is redone...
    assert store.read("t", part_key).height == 4  # ...while the committed version stays readable
    assert values(warehouse.query("SELECT id, value FROM t")) == [(f"k{i}", i) for i in range(4)]
    forced.write_chunk([{"id": "k0", "value": 100}, {"id": "k1", "value": 101}])
    # Killed here. Readers: the committed version plus the chunk since, one row per key, newest first.
    assert values(warehouse.query("SELECT id, value FROM t")) == [("k0", 100), ("k1", 101), ("k2", 2), ("k3", 3)]
    # The next run (not forced) carries on with the forced work: only the keys the forced run made are done.
    again = ResumablePartition(store, "t", part_key, "id", SCHEMA)
    assert again.done_keys() == {"k0", "k1"}
    again.write_chunk([{"id": "k2", "value": 102}, {"id": "k3", "value": 103}])
    final = again.finalize()
    assert values(final.rows()) == [(f"k{i}", 100 + i) for i in range(4)]
    assert not [p for p in again.chunk_dir.glob("*") if p.is_file()]  # chunks, marker and key file gone
    assert values(warehouse.query("SELECT id, value FROM t")) == [(f"k{i}", 100 + i) for i in range(4)]


def test_a_killed_first_run_shows_its_chunks_in_the_warehouse(tmp_path):
    from semitruths_dagster.storage import Warehouse

    part = ResumablePartition(TableStore(tmp_path), "t", {"dataset": "a"}, "id", SCHEMA)
    part.write_chunk(rows(range(2)))
    part.write_chunk(rows(range(1, 3)))  # an overlap: one row per key all the same
    assert Warehouse(tmp_path).query("SELECT count(*), count(DISTINCT id) FROM t") == [(3, 3)]


def test_a_guard_that_refuses_stops_every_write(tmp_path):
    store = TableStore(tmp_path)
    ended = {"now": False}

    def guard():
        if ended["now"]:
            raise RuntimeError("run ended")

    part = ResumablePartition(store, "t", {"dataset": "a"}, "id", SCHEMA, guard=guard)
    part.write_chunk(rows(range(2)))
    ended["now"] = True
    with pytest.raises(RuntimeError, match="run ended"):
        part.write_chunk(rows(range(2, 4)))
    with pytest.raises(RuntimeError, match="run ended"):
        part.finalize()
    assert part.done_keys() == {"k0", "k1"} and not store.exists("t", {"dataset": "a"})


def test_a_query_on_a_missing_table_is_one_line_naming_it(tmp_path, monkeypatch):
    from semitruths_dagster.cli import main

    config = tmp_path / "semitruths.yaml"
    config.write_text(f"storage: {{root: {tmp_path / 'storage'}}}\nsources: {{sample: {{adapter: embedded}}}}\n")
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(config))
    with pytest.raises(SystemExit) as err:
        main(["warehouse", "--query", "SELECT count(*) FROM generations"])
    message = str(err.value)
    assert message.startswith("semitruths warehouse: no table 'generations' yet") and "\n" not in message
