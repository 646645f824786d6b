"""localization_predictions and localization_evaluation end to end on real sample rows (ADE20K of
../shared/data): a sliding-window map of a random-weight NPR through the assets, a map-output detector
(test-only tiny conv net) through the stage, resuming after a crash, and the metrics of the stored maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from assets.generations import generations
from assets.localization import localization_evaluation, localization_predictions
from assets.masks import masks
from assets.metrics import bins, change_metrics, saliency_labels, saliency_scores
from assets.prompts import perturbed_prompts, prompt_filters
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.conditions import parse_condition
from semitruths_dagster.detectors import write_random_detector
from semitruths_dagster.localization import stage as loc_stage
from semitruths_dagster.localization.evaluation_stage import evaluate_detector
from semitruths_dagster.localization.metrics import histograms, per_image
from semitruths_dagster.localization.storage import load_levels
from semitruths_dagster.localization.truth import load_truth
from semitruths_dagster.sections import DetectorParams, LocalizationParams
from semitruths_dagster.storage.resumable import ResumablePartition
from tests.conftest import TEST_CONFIG, share_tiny_models
from tests.localization_helpers import TinyMapDetector, tiny_map_detector

DATASET = "ADE20K"
LOCALIZATION = {"window": 64, "stride": 64, "max_windows": 4, "map_size": 64, "gallery": 2,
                "conditions": ["jpeg_q75", "crop_0.8"]}


@pytest.fixture(scope="module")
def graph(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("loc")
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["generation"] = config.get("generation", {}) | {"max_per_method": 1}  # the demo's: one edit per method
    config |= {"prompts": {"masks_per_image": 1},
        "detectors": {"registry": str(root / "registry"), "weights": str(root / "weights"), "n_boot": 50,
                      "only_salient": False},
        "conditions": {"names": ["jpeg_q75", "crop_0.8"]}, "localization": LOCALIZATION}
    (root / "semitruths.yaml").write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(root / "semitruths.yaml"), storage_root=str(root / "storage"))
    share_tiny_models(project.storage_root, tiny_models)
    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    assert materialize([source_images, masks, perturbed_prompts], partition_key=DATASET, resources=resources).success
    assert materialize([prompt_filters], resources=resources).success
    key = MultiPartitionKey({"dataset": DATASET, "generator": "sd14"})
    assert materialize([generations, saliency_scores, change_metrics], partition_key=key, resources=resources).success
    assert materialize([saliency_labels, bins], resources=resources).success
    write_random_detector("npr", root / "registry", root / "weights")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["npr-random"])
    return project, resources, instance, root


def test_sliding_window_maps_through_the_assets(graph):
    project, resources, instance, _ = graph
    key = MultiPartitionKey({"dataset": DATASET, "detector": "npr-random"})
    assert materialize([localization_predictions], partition_key=key, resources=resources, instance=instance).success
    tables = project.tables()
    rows = tables.read(loc_stage.TABLE, {"dataset": DATASET, "detector": "npr-random"})
    edits = tables.read_all("generations")
    reals = tables.read("source_images", {"dataset": DATASET})
    assert set(rows["condition"]) == {"clean", "jpeg_q75"}  # crop_0.8 reframes the image: quarantined
    assert rows.height == 2 * (edits.height + reals.height) and rows["row_key"].is_unique().all()
    assert (rows["map_source"] == "sliding_window").all() and rows["random_weights"].all()
    assert (rows["windows"] <= 4).all() and rows["map_max"].is_between(0, 1).all()
    assert (rows[["map_height", "map_width"]].max_horizontal() <= 64).all()
    quarantine = tables.read_all("quarantine").filter(pl.col("rule") == "condition_reframes")
    assert quarantine.height == edits.height + reals.height
    again = materialize([localization_predictions], partition_key=key, resources=resources, instance=instance)
    assert again.asset_materializations_for_node("localization_predictions")[0].metadata["mapped_now"].value == 0

    # the detector's report, as the `evaluation` asset leaves it (its own tests make it): the section goes in
    report = project.config().storage_root / "reports" / "npr-random" / "report.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<!DOCTYPE html><html><body><h1>npr-random</h1></body></html>")
    assert materialize([localization_evaluation], partition_key="npr-random", resources=resources,
                       instance=instance).success
    row = tables.read("localization_evaluation", {"detector": "npr-random"}).row(0, named=True)
    result = json.loads(Path(row["result_path"]).read_text())
    methods = set(edits["method"])
    assert ("edit_mask" in result["truths"]) == ("inpainting" in methods)
    assert result["truths"]["post_edit_mask"]["n"] == edits.height  # every method has a post-edit mask
    assert result["n_reals"] == reals.height and 0 <= row["false_alarm_area"] <= 1
    assert {"clean", "jpeg_q75"} <= set(result["by_condition"]["condition"])
    assert {"method", "generator", "area_ratio_bin"} <= set(result["breakdowns"]["post_edit_mask"])
    text = report.read_text()
    assert "Localization: where is the edit?" in text and "RANDOM WEIGHTS: detector 'npr-random'" in text
    assert text.count("<figcaption>map</figcaption>") == 2  # the seeded gallery


class _Crashing(TinyMapDetector):
    calls = 0

    def localize(self, images, batch_size=8):
        type(self).calls += 1
        if type(self).calls > 1:
            raise RuntimeError("killed")
        return super().localize(images, batch_size)


def test_map_output_detector_resumes_and_its_metrics_match_the_stored_maps(graph, tmp_path):
    project, _, _, root = graph
    tables, store = project.tables(), project.images()
    params = LocalizationParams(chunk_size=3, map_size=48, controls=False)
    detector = tiny_map_detector(tmp_path)
    targets = loc_stage.dataset_targets(detector, DATASET, tables, pl.DataFrame(), DetectorParams(only_salient=False),
                                        params)
    clean = [parse_condition("clean")]
    partition = {"dataset": DATASET, "detector": detector.name}
    resumable = ResumablePartition(tables, loc_stage.TABLE, partition, "row_key", loc_stage.SCHEMA)
    crashing = _Crashing(detector.spec)
    with pytest.raises(RuntimeError, match="killed"):
        loc_stage.run_partition(crashing, targets, DATASET, store, resumable, params, clean, seed=0)
    assert len(resumable.done_keys()) == 3  # the first chunk was committed before the crash
    frame, rejections, counts = loc_stage.run_partition(detector, targets, DATASET, store, resumable, params, clean,
                                                        seed=0, log=lambda _m: None)
    assert not rejections and frame.height == len(targets) and counts["mapped"] == len(targets) - 3
    assert (frame["map_source"] == "native").all() and frame["score"].is_between(0, 1).all()

    row, result, html = evaluate_detector(tables, store, detector.name, params, n_boot=20, seed=0,
                                          out_dir=tmp_path / "out")
    assert row["map_source"] == "native" and row["image_auroc_own_score"] is not None
    # the post-edit F1 at 0.5, recomputed by hand from the stored maps and masks
    change = dict(zip(*tables.read_all("change_metrics")[["generation_id", "post_edit_mask_path"]], strict=True))
    f1s = []
    for r in frame.filter(pl.col("label") == 1).iter_rows(named=True):
        levels = load_levels(store, r["map_path"])
        truth = load_truth(store, change[r["generation_id"]], levels.shape)
        f1s.append(per_image(histograms(levels[None], truth[None]))["f1"][0])
    assert row["post_edit_mask_f1"] == pytest.approx(np.nanmean(f1s))
    assert "Localization" in html and "RANDOM WEIGHTS" in html
