"""Detector predictions, evaluation and leaderboard; the registry sensor and automation."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
import yaml
from dagster import (
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
from semitruths_dagster.config import load_config
from semitruths_dagster.detectors import write_random_detector
from semitruths_dagster.detectors.stage import DetectorParams
from tests.conftest import TEST_CONFIG


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """The sample through bins (one generator), and a registry with one random-weight NPR detector."""
    root = tmp_path_factory.mktemp("det")
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "detectors": {"registry": str(root / "registry"), "weights": str(root / "weights"), "n_boot": 200,
                      "only_salient": False}}
    (root / "semitruths.yaml").write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(root / "semitruths.yaml"), storage_root=str(root / "storage"))
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

    again = materialize([detector_predictions], partition_key=key, resources=resources, instance=instance)
    assert again.asset_materializations_for_node("detector_predictions")[0].metadata["scored_now"].value == 0

    assert materialize([evaluation], partition_key="npr-random", resources=resources, instance=instance).success
    row = project.tables().read("evaluation", {"detector": "npr-random"}).row(0, named=True)
    with open(row["report_path"]) as fh:
        report = fh.read()
    first_text = report.split("<body>", 1)[-1].lstrip()
    assert "random weights" in first_text[:400].lower()
    assert 0 <= row["roc_auc"] <= 1 and row["n_real"] == 4
    assert materialize([leaderboard], resources=resources, instance=instance).success
    board = project.tables().read_all("leaderboard")
    assert board["detector"].to_list() == ["npr-random"] and board["random_weights"].all()


def test_sensor_requests_exactly_the_new_detectors_partitions(tmp_path):
    config = load_config()  # the sensor reads the process's configuration (the test one)
    registry = config.params("detectors", DetectorParams).registry_dir(config.path.parent)
    shutil.rmtree(registry, ignore_errors=True)
    try:
        write_random_detector("npr", registry, tmp_path / "w")
        instance = DagsterInstance.ephemeral()
        first = detector_registry(build_sensor_context(instance=instance))
        assert isinstance(first, SensorResult)
        assert {r.partition_key for r in first.run_requests} == {f"{d}|npr-random" for d in config.dataset_names}
        for request in first.dynamic_partitions_requests:
            if getattr(request, "partition_keys", None):
                instance.add_dynamic_partitions("detectors", list(request.partition_keys))

        # Nothing new: nothing runs; nor on a first tick that finds the detector's partition already there.
        for cursor in (first.cursor, None):
            idle = detector_registry(build_sensor_context(instance=instance, cursor=cursor))
            assert not isinstance(idle, SensorResult) or not idle.run_requests

        write_random_detector("universal_fake_detect", registry, tmp_path / "w")
        second = detector_registry(build_sensor_context(instance=instance, cursor=first.cursor))
        keys = {r.partition_key for r in second.run_requests}
        assert keys == {f"{d}|universal-fake-detect-random" for d in config.dataset_names}
        assert not any("npr-random" in k for k in keys)  # the other detector is not rerun
    finally:
        shutil.rmtree(registry, ignore_errors=True)


def test_automation_evaluates_only_the_detector_whose_predictions_landed(graph):
    project, resources, instance = graph
    instance.add_dynamic_partitions("detectors", ["other"])
    defs = Definitions(assets=[detector_predictions, evaluation, leaderboard, bins], resources=resources)
    selection = AssetSelection.assets(evaluation)
    first = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    key = MultiPartitionKey({"dataset": "sample", "detector": "npr-random"})
    assert materialize([detector_predictions], partition_key=key, resources=resources, instance=instance).success
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                            cursor=first.cursor)
    requested = set(result.get_requested_partitions(evaluation.key))
    assert requested == {"npr-random"}  # not the detector whose predictions did not change
