"""Detector predictions, evaluation and leaderboard; the registry sensor and automation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest
import yaml
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterInstance,
    Definitions,
    MultiPartitionKey,
    SensorResult,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from assets.detectors import detector_predictions, detector_registry, evaluation, leaderboard
from assets.generations import generations
from assets.masks import masks
from assets.metrics import bins, change_metrics, saliency_labels, saliency_scores
from assets.prompts import perturbed_prompts, prompt_filters
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.config import SourceConfig, load_config
from semitruths_dagster.detectors import write_random_detector
from semitruths_dagster.detectors.stage import DetectorParams
from semitruths_dagster.sources.released import parse_released
from semitruths_dagster.sources.released_export import export_released
from semitruths_dagster.sources.released_stage import SCHEMA as RELEASED_SCHEMA
from semitruths_dagster.sources.released_stage import build_edits
from semitruths_dagster.storage import ImageStore
from tests.conftest import TEST_CONFIG, share_tiny_models

pytestmark = pytest.mark.slow  # end to end: materializes the graph from sources to the leaderboard


@pytest.fixture(scope="module")
def graph(tmp_path_factory, tiny_models):
    """The sample through bins (one generator), and a registry with one random-weight NPR detector."""
    root = tmp_path_factory.mktemp("det")
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "detectors": {"registry": str(root / "registry"), "weights": str(root / "weights"), "n_boot": 200,
                      "only_salient": False}}
    (root / "semitruths.yaml").write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(root / "semitruths.yaml"), storage_root=str(root / "storage"))
    share_tiny_models(project.storage_root, tiny_models)
    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    assert materialize([source_images, masks, perturbed_prompts], partition_key="sample", resources=resources).success
    assert materialize([prompt_filters], resources=resources).success
    key = MultiPartitionKey({"dataset": "sample", "generator": "sd14"})
    assert materialize([generations, saliency_scores, change_metrics], partition_key=key, resources=resources).success
    assert materialize([saliency_labels, bins], resources=resources).success
    write_random_detector("npr", root / "registry", root / "weights")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["npr-random"])
    return project, resources, instance


def test_predictions_evaluation_and_report_for_a_registered_detector(graph):
    project, resources, instance = graph
    key = MultiPartitionKey({"dataset": "sample", "detector": "npr-random"})
    assert materialize([detector_predictions], partition_key=key, resources=resources, instance=instance).success
    rows = project.tables().read("detector_predictions", {"dataset": "sample", "detector": "npr-random"})
    edits = project.tables().read_all("generations")
    assert rows.filter(pl.col("label") == 0).height == 4 and rows.filter(pl.col("label") == 1).height == edits.height
    assert rows["random_weights"].all() and rows["score"].is_between(0, 1).all()
    assert rows["cache_key"].is_unique().all()
    speed = rows["images_per_s"][0]
    assert speed > 0 and (rows["images_per_s"] == speed).all()  # this run's throughput on each row

    again = materialize([detector_predictions], partition_key=key, resources=resources, instance=instance)
    assert again.asset_materializations_for_node("detector_predictions")[0].metadata["scored_now"].value == 0
    rows = project.tables().read("detector_predictions", {"dataset": "sample", "detector": "npr-random"})
    assert (rows["images_per_s"] == speed).all()  # a run that scored nothing keeps the last figure

    assert materialize([evaluation], partition_key="npr-random", resources=resources, instance=instance).success
    row = project.tables().read("evaluation", {"detector": "npr-random"}).row(0, named=True)
    with open(row["report_path"]) as fh:
        report = fh.read()
    first_text = report.split("<body>", 1)[-1].lstrip()
    assert "random weights" in first_text[:400].lower()
    assert "random-weight generators" in first_text[:800]  # the tiny profile's edits are noise too
    assert 0 <= row["roc_auc"] <= 1 and row["n_real"] == 4 and row["edits_random_weights"] == edits.height
    assert materialize([leaderboard], resources=resources, instance=instance).success
    board = project.tables().read_all("leaderboard")
    assert board["detector"].to_list() == ["npr-random"] and board["random_weights"].all()
    assert board["images_per_s"].to_list() == [pytest.approx(speed)]


def test_sensor_requests_exactly_the_new_detectors_partitions(tmp_path):
    config = load_config()  # the sensor's project resource reads the process's configuration (the test one)
    project = {"project": ProjectResource()}
    registry = config.params("detectors", DetectorParams).registry_dir(config.path.parent)
    shutil.rmtree(registry, ignore_errors=True)
    try:
        write_random_detector("npr", registry, tmp_path / "w")
        instance = DagsterInstance.ephemeral()
        first = detector_registry(build_sensor_context(instance=instance, resources=project))
        assert isinstance(first, SensorResult)
        assert {r.partition_key for r in first.run_requests} == {f"{d}|npr-random" for d in config.dataset_names}
        for request in first.dynamic_partitions_requests:
            if getattr(request, "partition_keys", None):
                instance.add_dynamic_partitions("detectors", list(request.partition_keys))

        # Nothing new: nothing runs; nor on a first tick that finds the detector's partition already there.
        for cursor in (first.cursor, None):
            idle = detector_registry(build_sensor_context(instance=instance, cursor=cursor, resources=project))
            assert not isinstance(idle, SensorResult) or not idle.run_requests

        write_random_detector("universal_fake_detect", registry, tmp_path / "w")
        second = detector_registry(build_sensor_context(instance=instance, cursor=first.cursor, resources=project))
        keys = {r.partition_key for r in second.run_requests}
        assert keys == {f"{d}|universal-fake-detect-random" for d in config.dataset_names}
        assert not any("npr-random" in k for k in keys)  # the other detector is not rerun
    finally:
        shutil.rmtree(registry, ignore_errors=True)


def test_sensor_skips_a_refused_spec_with_its_reason_and_runs_the_others(tmp_path):
    config = load_config()
    registry = config.params("detectors", DetectorParams).registry_dir(config.path.parent)
    shutil.rmtree(registry, ignore_errors=True)
    try:
        write_random_detector("npr", registry, tmp_path / "w")
        spec = yaml.safe_load((registry / "npr-random.yaml").read_text())
        (registry / "bad-digest.yaml").write_text(yaml.safe_dump(spec | {"name": "bad-digest",
                                                                         "sha256": {"model": "3" * 64}}))
        instance = DagsterInstance.ephemeral()
        first = detector_registry(build_sensor_context(instance=instance, resources={"project": ProjectResource()}))
        assert {r.partition_key for r in first.run_requests} == {f"{d}|npr-random" for d in config.dataset_names}
        for request in first.dynamic_partitions_requests:
            assert "bad-digest" not in (getattr(request, "partition_keys", None) or [])
        idle = detector_registry(build_sensor_context(instance=instance, cursor=first.cursor,
                                                      resources={"project": ProjectResource()}))
        assert not isinstance(idle, SensorResult)
        reason = idle.skip_message
        assert "1 refused" in reason and "bad-digest" in reason and "rule sha256.model" in reason
        assert f"expected {'3' * 64}" in reason
    finally:
        shutil.rmtree(registry, ignore_errors=True)


def test_automation_evaluates_only_the_detector_whose_predictions_landed(graph):
    project, resources, _ = graph
    # An instance with no history: these predictions are new data there (in the module's instance they
    # were written before with the same rows, which starts nothing: the test below).
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["npr-random", "other"])
    defs = Definitions(assets=[detector_predictions, evaluation, leaderboard, bins], resources=resources)
    selection = AssetSelection.assets(evaluation)
    first = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    key = MultiPartitionKey({"dataset": "sample", "detector": "npr-random"})
    assert materialize([detector_predictions], partition_key=key, resources=resources, instance=instance).success
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                            cursor=first.cursor)
    requested = set(result.get_requested_partitions(evaluation.key))
    assert requested == {"npr-random"}  # not the detector whose predictions did not change


def test_reruns_that_wrote_the_same_rows_start_no_evaluation_nor_leaderboard(graph):
    """Predictions rescored from their cache and an evaluation run again report the same data versions
    (the run's `reused_from_cache`, `created_at` aside), so the automation requests nothing after them."""
    project, resources, instance = graph
    defs = Definitions(assets=[detector_predictions, evaluation, leaderboard, bins], resources=resources)
    selection = AssetSelection.assets(evaluation, leaderboard)
    key = MultiPartitionKey({"dataset": "sample", "detector": "npr-random"})

    def both() -> None:
        assert materialize([detector_predictions], partition_key=key, resources=resources, instance=instance).success
        assert materialize([evaluation], partition_key="npr-random", resources=resources, instance=instance).success

    both()
    cursor = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection).cursor
    both()
    for asset, partition in (("detector_predictions", str(key)), ("evaluation", "npr-random")):
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=2).records
        versions = {r.asset_materialization.tags["dagster/data_version"] for r in records}
        assert len(records) == 2 and len(versions) == 1, asset
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection, cursor=cursor)
    assert result.total_requested == 0


def test_export_in_the_released_layout_reads_back_as_given(graph, tmp_path):
    """`semitruths export` writes what `adapter: released` reads: same edits, metrics and bins."""
    project, _, _ = graph
    tables = project.tables()
    edits = tables.read_all("generations")
    counts = export_released(tables, project.images(), tmp_path / "export")
    assert counts["real"] == 4 and counts["fake"] == edits.height and counts["random_weights"]
    assert (tmp_path / "export" / "EXPORT.md").read_text().startswith("RANDOM WEIGHTS")
    table = parse_released(SourceConfig(name="back", adapter="released", root=tmp_path / "export"))
    assert not table.rejections and len(table.reals) == 4
    rows: list[dict] = []
    made, rejections = build_edits(table, "back", ImageStore(tmp_path / "store"), set(), rows.extend)
    assert made == edits.height and not rejections
    back = pl.DataFrame(rows, schema=RELEASED_SCHEMA, orient="row").with_columns(
        generation_id=pl.col("released_row").map_elements(lambda r: json.loads(r)["generation_id"], pl.Utf8))
    given = (edits.select("generation_id", "generator", "method", "magnitude", "image_sha256")
             .join(tables.read_all("change_metrics").select("generation_id", "mse", "ssim", "sentence_similarity",
                                                            "n_components", "largest_component_ratio",
                                                            "max_centroid_distance"), on="generation_id")
             .join(tables.read_all("saliency_scores").select("generation_id", "directional_sim_original"),
                   on="generation_id")
             .join(tables.read_all("bins").select("generation_id", "area_ratio_bin5", "lpips_bin5"),
                   on="generation_id"))
    merged = given.join(back, on="generation_id", suffix="_back")
    assert merged.height == edits.height
    for column in ("generator", "method", "magnitude", "image_sha256", "area_ratio_bin5", "lpips_bin5"):
        assert merged[column].to_list() == merged[f"{column}_back"].to_list(), column
    # component columns go out in the original's units (background counted, pixels, -1) and come back
    for column in ("mse", "ssim", "n_components", "largest_component_ratio", "max_centroid_distance",
                   "directional_sim_original"):
        assert np.allclose(merged[column].to_numpy(), merged[f"{column}_back"].to_numpy(), equal_nan=True)
    # the release stored 1 - max(cos, 0), so a negative similarity comes back as 0
    cos = merged["sentence_similarity"].to_numpy()
    assert np.allclose(np.maximum(cos, 0), merged["sentence_similarity_back"].to_numpy(), equal_nan=True)
