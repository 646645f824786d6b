"""Data versions: each asset reports the content hash of what it wrote, and the automation reacts to
changed content, not to a re-materialization that wrote the same rows."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import polars as pl
import pytest
import yaml
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterInstance,
    evaluate_automation_conditions,
    materialize,
)

from assets.detectors import evaluation, leaderboard
from assets.released import released_edits
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.storage import TableStore
from semitruths_dagster.storage.versions import frame_version, partition_version
from tests.conftest import TEST_CONFIG

DETECTORS = ["det-a", "det-b"]  # registered detector partitions; none runs here
SOURCES = [source_images, released_edits]  # the `sources` group


def test_frame_version_is_the_content_not_the_order_nor_the_run():
    frame = pl.DataFrame({"id": ["a", "b", "c"], "score": [0.5, float("nan"), None], "box": [[1, 2], None, []]})
    version = frame_version(frame)
    assert version == frame_version(frame.reverse()) == frame_version(frame.select("box", "score", "id"))
    stamped = frame.with_columns(created_at=pl.lit(datetime.now(UTC)), code_version=pl.lit("abc+dirty"))
    assert frame_version(stamped) == version  # when and by which commit a row was written is not content
    assert frame_version(frame.with_columns(score=pl.Series([0.5, None, float("nan")]))) != version  # NaN != null
    assert frame_version(frame.with_columns(score=pl.Series([0.5, float("nan"), 0.0]))) != version
    assert frame_version(frame.head(2)) != version
    assert frame_version(frame.with_columns(pl.col("id").cast(pl.Categorical))) != version  # types count
    assert frame_version(frame.head(0)) != frame_version(frame.head(0).drop("box"))  # an empty table's columns


def test_partition_version_reads_the_written_file(tmp_path):
    store = TableStore(tmp_path)
    schema = {"id": pl.Utf8, "score": pl.Float64}
    store.write("t", {"dataset": "x"}, [{"id": "b", "score": 0.25}, {"id": "a", "score": 1.0}], schema)
    first = partition_version(store, "t", {"dataset": "x"})
    store.write("t", {"dataset": "x"}, [{"id": "a", "score": 1.0}, {"id": "b", "score": 0.25}], schema)
    assert partition_version(store, "t", {"dataset": "x"}) == first
    extra = tmp_path / "result.json"
    extra.write_text('{"roc_auc": 0.5}')
    with_file = partition_version(store, "t", {"dataset": "x"}, [extra])
    assert with_file != first
    extra.write_text('{"roc_auc": 0.6}')
    assert partition_version(store, "t", {"dataset": "x"}, [extra]) != with_file


def _versions(instance: DagsterInstance, asset: str, partition: str) -> list[str]:
    """The data versions of an asset partition's materializations, oldest first."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=100, ascending=True).records
    return [r.asset_materialization.tags["dagster/data_version"] for r in records]


@pytest.fixture
def project(released_set, tmp_path):
    """The test configuration with a `released` source of its own (a copy this test may change)."""
    root = tmp_path / "released"
    shutil.copytree(released_set.root, root)
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["sources"] = {"sample": {"adapter": "embedded"}, "released": {"adapter": "released", "root": str(root)}}
    (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))
    return ProjectResource(config_path=str(tmp_path / "semitruths.yaml"), storage_root=str(tmp_path / "storage"))


def test_a_sources_rerun_that_changed_nothing_starts_no_evaluation(project, released_set, tmp_path):
    from semitruths_dagster.definitions import defs  # the code location the daemon evaluates

    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", DETECTORS)
    selection = AssetSelection.assets(evaluation, leaderboard)

    def tick(cursor):
        result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                cursor=cursor)
        return result, set(result.get_requested_partitions(evaluation.key)), result.get_num_requested(leaderboard.key)

    def sources_then_tick(cursor):
        for dataset in ("sample", "released"):
            assert materialize(SOURCES, partition_key=dataset, resources=resources, instance=instance).success
        return tick(cursor)

    cursor = tick(None)[0].cursor
    first, requested, board = sources_then_tick(cursor)
    assert requested == set(DETECTORS)  # new data: every detector is evaluated again
    assert board == 0  # the leaderboard follows the evaluations' own data versions, a tick later
    # A request counts as handled on the next tick (the daemon would have launched its run by then).
    settled, requested, board = tick(first.cursor)
    assert requested == set() and board == 0

    again, requested, board = sources_then_tick(settled.cursor)
    assert requested == set() and board == 0  # the same rows again (released edits, the empty sample): nothing
    for asset in ("source_images", "released_edits"):
        for dataset in ("sample", "released"):
            versions = _versions(instance, asset, dataset)
            assert len(versions) == 2 and versions[0] == versions[1], (asset, dataset)  # deterministic

    # One edit less in the released set: its partition's content changed, every detector follows.
    csv_path = project.config().source("released").root / "metadata.csv"
    dropped = list(released_set.edits)[-1]  # an edit of the last image: no quirk, no duplicate row
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(line for line in lines if dropped not in line))
    assert len(csv_path.read_text().splitlines()) == len(lines) - 1
    _, requested, board = sources_then_tick(again.cursor)
    assert requested == set(DETECTORS)
    released = _versions(instance, "released_edits", "released")
    assert released[2] != released[1] and len(set(_versions(instance, "released_edits", "sample"))) == 1


def test_the_same_input_gives_the_same_version_in_another_storage(shared_sample, tmp_path):
    """Two fresh storage roots, the same source files: the same data version (not the time, nor the run)."""
    versions = []
    for name in ("one", "two"):
        project = ProjectResource(storage_root=str(tmp_path / name))
        result = materialize([source_images], partition_key="ADE20K", resources={"project": project})
        versions.append(result.asset_materializations_for_node("source_images")[0].tags["dagster/data_version"])
    assert versions[0] == versions[1]
