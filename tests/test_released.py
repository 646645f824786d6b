"""Importing the released Semi-Truths evaluation set and judging a detector on it as given."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from assets.detectors import detector_predictions, evaluation
from assets.masks import masks
from assets.released import released_edits
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.config import load_config
from semitruths_dagster.detectors import write_random_detector
from semitruths_dagster.sources.released import (
    from_released_units,
    generation_id,
    parse_released,
    to_released_units,
)
from semitruths_dagster.sources.released_stage import SCHEMA, TABLE, build_edits, released_bins
from semitruths_dagster.storage import ImageStore, TableStore
from semitruths_dagster.storage.resumable import ResumablePartition
from tests.conftest import TEST_CONFIG


def test_parse_keeps_usable_rows_and_names_each_broken_one(released_set):
    table = parse_released(load_config(TEST_CONFIG).source("released"))
    assert len(table.reals) == released_set.n_real
    # rows broken in the csv itself; missing and escaping files are found when the files are opened
    expected = [rule for rule in released_set.broken.values() if rule not in ("file_exists", "path_inside_root")]
    assert sorted(r.rule for r in table.rejections) == sorted(expected)
    assert all(r.line and r.line > 1 and r.file.endswith("metadata.csv") for r in table.rejections)
    # the five released levels land as `<metric>_bin5`, scene bins as the paper's three levels
    assert table.category_columns["ratio_category"] == "area_ratio_bin5"
    assert table.category_columns["sen_sim_category"] == "sentence_similarity_bin5"
    assert table.category_columns["scene_diversity_category"] == "scene_diversity_bin"


def _resources(tmp_path):
    """The test configuration with its own detector registry and storage in `tmp_path`."""
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "detectors": {"registry": str(tmp_path / "registry"), "weights": str(tmp_path / "weights"), "n_boot": 100}}
    (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(tmp_path / "semitruths.yaml"), storage_root=str(tmp_path / "storage"))
    return project, {"project": project, "models": ModelsResource(), "gpu": GpuResource()}


@pytest.mark.slow  # materializes assets end to end
def test_released_edits_take_metrics_and_bins_as_given(released_set, tmp_path):
    project, resources = _resources(tmp_path)
    result = materialize([source_images, released_edits, masks], partition_key="released", resources=resources)
    assert result.success
    tables = project.tables()
    assert tables.read("source_images", {"dataset": "released"}).height == released_set.n_real
    assert tables.read("masks", {"dataset": "released"}).height == released_set.n_real
    edits = tables.read(TABLE, {"dataset": "released"})
    good = {p: row for p, row in released_set.edits.items()}
    assert sorted(edits["released_path"].to_list()) == sorted(good)
    assert edits["generation_id"].is_unique().all()

    for row in edits.iter_rows(named=True):
        given = good[row["released_path"]]
        values = given["values"]
        for released, ours in [("mse_rgb", "mse"), ("ssim_rgb", "ssim"), ("lpips_score", "lpips"),
                               ("dreamsim", "dreamsim")]:
            assert row[ours] == (pytest.approx(values[released], abs=1e-3) if values[released] is not None else None)
        # component columns come in the original's units: background counted, pixels, -1 for no spread
        assert row["n_components"] == values["cc_cluters_rgb"] - 1
        assert row["largest_component_ratio"] == pytest.approx(
            values["largest_component_size_rgb"] / (row["width"] * row["height"]))
        assert row["max_centroid_distance"] == (0.0 if values["cluster_dist_rgb"] == -1 else
                                                pytest.approx(values["cluster_dist_rgb"], rel=1e-3))
        # the release stored the sentence similarity as 1 - cos: kept here as the similarity
        assert row["sentence_similarity"] == pytest.approx(1 - values["sen_sim"], abs=1e-3)
        assert row["generator"] == {"StableDiffusion_v5": "sd15", "Kandinsky_2_2": "kandinsky22",
                                    "OpenJourney": "openjourney"}[given["model"]]
        assert row["magnitude"] == given["sem_magnitude"].lower()
        expected_bin = given["mse_rgb_category"].lower().replace(" ", "_")
        assert row["mse_bin5"] == expected_bin
        if row["released_path"] in released_set.unreadable:
            assert any(i.startswith(released_set.unreadable[row["released_path"]]) for i in row["issues"])
        assert json.loads(row["released_row"])["image_path"] == row["released_path"]
    bad_mask = edits.filter(pl.col("released_path") == released_set.bad_mask).row(0, named=True)
    assert bad_mask["mask_path"] is None and any("file_exists" in i for i in bad_mask["issues"])

    quarantined = tables.read("quarantine", {"stage": TABLE, "dataset": "released"})
    rules = dict(zip(quarantined["item_id"], quarantined["rule"], strict=True))
    assert sorted(rules.values()) == sorted(r for r in released_set.broken.values() if r != "csv_row_shape")
    real_stage = tables.read("quarantine", {"stage": "source_images", "dataset": "released"})
    assert real_stage["rule"].to_list() == ["csv_row_shape"]
    assert rules["inpainting/ADE20K/x/missing.png"] == "file_exists"
    assert rules["../outside.png"] == "path_inside_root"

    checks = {(c.asset_key.path[-1], c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert checks[(TABLE, "unique_generation_ids")] and checks[(TABLE, "files_in_store")]
    assert not checks[(TABLE, "cells_readable")]  # one unreadable number, one unknown bin level
    again = materialize([released_edits], partition_key="released", resources=resources)
    metadata = again.asset_materializations_for_node("released_edits")[0].metadata
    assert metadata["copied_this_run"].value == 0 and metadata["dagster/row_count"].value == edits.height
    # another source's partition stays empty
    assert materialize([released_edits], partition_key="sample", resources=resources).success
    assert tables.read(TABLE, {"dataset": "sample"}).height == 0


def test_a_killed_import_resumes_without_copying_again(released_set, tmp_path):
    table = parse_released(load_config(TEST_CONFIG).source("released"))
    tables, store = TableStore(tmp_path / "t"), ImageStore(tmp_path / "i")
    resumable = ResumablePartition(tables, TABLE, {"dataset": "released"}, "generation_id", SCHEMA)
    committed = []

    def commit_then_die(rows):
        resumable.write_chunk(rows)
        committed.append(len(rows))
        if len(committed) == 2:
            raise KeyboardInterrupt  # the process dies between two chunks

    with pytest.raises(KeyboardInterrupt):
        build_edits(table, "released", store, resumable.done_keys(), commit_then_die, chunk_size=4)
    done = resumable.done_keys()
    assert len(done) == 8
    made, _ = build_edits(table, "released", store, done, resumable.write_chunk, chunk_size=4)
    frame = resumable.finalize()
    assert made == len(released_set.edits) - 8
    assert frame.height == len(released_set.edits) and frame["generation_id"].is_unique().all()
    assert set(frame["generation_id"]) == {generation_id("released", p) for p in released_set.edits}


def test_paper_bins_and_localization_from_given_values():
    n = 100
    values = np.linspace(0, 1, n)
    frame = pl.DataFrame({c: [None] * n for c, t in SCHEMA.items() if t == pl.Utf8}, schema={
        c: t for c, t in SCHEMA.items() if t == pl.Utf8}).with_columns(
        mse=pl.Series(values), ssim=pl.Series(values), width=pl.lit(100), height=pl.lit(100),
        n_components=pl.Series([1.0] * (n - 1) + [50.0]),
        largest_component_ratio=pl.Series([0.5] + [0.01] * (n - 1)),  # a share
        max_centroid_distance=pl.Series([0.0] * (n - 1) + [141.0]),  # pixels: the whole diagonal
        **{m: pl.lit(None, pl.Float64) for m in ("area_ratio", "post_edit_ratio", "lpips", "dreamsim",
                                                 "sentence_similarity")})
    out = released_bins(frame)
    mse, ssim = out["mse_bin"].to_list(), out["ssim_bin"].to_list()
    assert mse[0] == "small" and mse[-1] == "large" and mse[n // 2] == "medium"
    assert ssim[0] == "large" and ssim[-1] == "small"  # a high SSIM is a small change
    assert out["lpips_bin"].null_count() == n  # nothing given, nothing binned
    assert out["localization"].to_list()[0] == "diffused" and out["localization"].to_list()[-1] == "diffused"
    assert out["localization"].to_list()[1] == "localized"


@pytest.mark.slow  # materializes assets end to end
def test_a_detector_is_judged_on_the_released_set_without_regenerating(released_set, tmp_path):
    project, resources = _resources(tmp_path)
    assert materialize([source_images, released_edits, masks], partition_key="released", resources=resources).success
    name = yaml.safe_load(write_random_detector("cnnspot", tmp_path / "registry", tmp_path / "weights").read_text())["name"]
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", [name])
    key = MultiPartitionKey({"dataset": "released", "detector": name})
    assert materialize([detector_predictions], partition_key=key, resources=resources, instance=instance).success
    tables = project.tables()
    assert tables.read_all("generations").is_empty()  # nothing was generated
    rows = tables.read("detector_predictions", {"dataset": "released", "detector": name})
    edits = tables.read(TABLE, {"dataset": "released"})
    assert rows.filter(pl.col("label") == 1).height == edits.height
    assert rows.filter(pl.col("label") == 0).height == released_set.n_real
    inpainted = rows.join(edits.select("generation_id", "method"), on="generation_id").filter(
        pl.col("method") == "inpainting")
    assert inpainted["crop_box"].null_count() <= 1  # every inpainting edit but the one without a mask
    assert materialize([evaluation], partition_key=name, resources=resources, instance=instance).success
    row = tables.read("evaluation", {"detector": name}).row(0, named=True)
    result = json.loads(Path(row["result_path"]).read_text())
    breakdowns = result["breakdowns"]["default"]
    assert {"area_ratio_bin5", "mse_bin", "mse_bin5", "generator", "magnitude", "localization",
            "scene_diversity_bin"} <= set(breakdowns)
    assert not any(k.endswith("_right") for k in breakdowns)
    assert row["n_edited"] == edits.height and row["n_real"] == released_set.n_real
    assert row["edits_random_weights"] == 0  # the release says nothing of random weights: real edits


def test_component_columns_in_the_originals_units():
    """Hand-made rows: OpenCV counted the background, sized the largest component in pixels and wrote -1
    for the spread of fewer than two components; this project counts without the background, stores a
    share and 0. Import subtracts / divides, export adds / multiplies back."""
    released = {"n_components": 3.0, "largest_component_ratio": 2500.0, "max_centroid_distance": 70.5,
                "n_components_gray": 1.0, "largest_component_ratio_gray": 0.0, "max_centroid_distance_gray": -1.0}
    ours = from_released_units(released, 100, 50)
    assert ours == {"n_components": 2.0, "largest_component_ratio": 0.5, "max_centroid_distance": 70.5,
                    "n_components_gray": 0.0, "largest_component_ratio_gray": 0.0, "max_centroid_distance_gray": 0.0}
    assert to_released_units(ours, 100, 50) == released
    one = to_released_units({"n_components": 1, "largest_component_ratio": 0.02, "max_centroid_distance": 0.0}, 100, 50)
    assert one == {"n_components": 2, "largest_component_ratio": 100.0, "max_centroid_distance": -1.0}
    assert from_released_units({"n_components": None, "largest_component_ratio": None}, 10, 10) == {
        "n_components": None, "largest_component_ratio": None}


def test_process_import_equals_thread_import(released_set, tmp_path, monkeypatch):
    """The same rows (and store files) whether decoding runs in worker processes or on threads."""
    from semitruths_dagster.sources import released_stage as stage

    monkeypatch.setattr(stage, "PROCESS_MIN_ROWS", 1)  # the fixture is small: force the process pool
    table = parse_released(load_config(TEST_CONFIG).source("released"))
    frames = {}
    for executor in ("thread", "process"):
        rows: list[dict] = []
        made, rejections = build_edits(table, "released", ImageStore(tmp_path / executor), set(), rows.extend,
                                       chunk_size=4, workers=2, executor=executor)
        assert made == len(released_set.edits) == len(rows)
        frames[executor] = sorted((r["generation_id"], r["image_path"], r["image_sha256"], r["mask_path"], r["width"],
                                   tuple(r["issues"])) for r in rows), sorted(x.rule for x in rejections)
    assert frames["thread"] == frames["process"]
    assert sorted(p.name for p in (tmp_path / "process").rglob("*.*")) == sorted(
        p.name for p in (tmp_path / "thread").rglob("*.*"))
