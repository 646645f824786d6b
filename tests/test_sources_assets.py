"""Materialize `source_images` and `masks` into a temp dir and check what landed."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import materialize

from assets.masks import masks
from assets.sources import source_images
from tests.conftest import SAMPLE_DATASETS


def run_partition(project, dataset: str):
    result = materialize([source_images, masks], partition_key=dataset, resources={"project": project})
    assert result.success
    return result


def check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_shared_sample_lands_with_ratios_matching_the_csv(project, shared_sample):
    for dataset in SAMPLE_DATASETS:
        result = run_partition(project, dataset)
        assert all(check_results(result).values()), check_results(result)
    tables = project.tables()
    images = tables.read_all("source_images")
    mask_rows = tables.read_all("masks")
    assert images.height == 10 and mask_rows.height == 10
    assert set(images["dataset"]) == set(SAMPLE_DATASETS)
    assert tables.read_all("quarantine").is_empty()

    csv = pl.read_csv(shared_sample / "metadata.csv").select("mask_id", "ratio")
    joined = mask_rows.join(csv, on="mask_id")
    assert joined.height == 10
    binary = joined.filter(pl.col("source_was_binary"))
    assert binary.height >= 4  # the PNG masks of ADE20K, HumanParsing and OpenImages
    assert (binary["area_ratio"] - binary["ratio"]).abs().max() < 1e-6
    # Anti-aliased and JPEG masks still land near the csv's figure after binarizing at half the max.
    assert (joined["area_ratio"] - joined["ratio"]).abs().max() < 0.01
    # The 5% minimum keeps exactly the masks the csv says are large enough.
    assert set(mask_rows.filter("eligible")["mask_id"]) == set(csv.filter(pl.col("ratio") >= 0.05)["mask_id"])
    assert mask_rows.filter(~pl.col("eligible"))["preprocessed_mask_path"].is_null().all()
    # The CelebAHQ mask is named 20046_mouth.jpg while its id is 20046_004: the id wins.
    assert "20046_004" in set(mask_rows["mask_id"])


def test_preprocessed_mask_is_dilated_and_soft(project, shared_sample):
    import numpy as np

    run_partition(project, "HumanParsing")
    row = project.tables().read("masks", {"dataset": "HumanParsing"}).row(0, named=True)
    store = project.images()
    binary = np.asarray(store.open(row["mask_path"])) > 127
    soft = np.asarray(store.open(row["preprocessed_mask_path"]))
    assert soft.shape == binary.shape
    assert (soft > 127).sum() > binary.sum()  # the max filters grow the region
    assert len(np.unique(soft)) > 2  # the Gaussian blur softens the edge


def test_embedded_sample_needs_no_download(project):
    result = run_partition(project, "sample")
    assert all(check_results(result).values())
    images = project.tables().read("source_images", {"dataset": "sample"})
    mask_rows = project.tables().read("masks", {"dataset": "sample"})
    assert images.height >= 4
    assert mask_rows.height >= 3 * images.height
    assert mask_rows["eligible"].sum() >= images.height
    assert (~mask_rows["eligible"]).sum() >= 1  # some authored masks fall under the 5% minimum
    assert (mask_rows["scene_complexity"] >= 1).all()
    assert "scene_complexity_bin" not in mask_rows.columns  # binned once over every dataset, by `bins`
    for path in images["image_path"]:
        assert project.images().abspath(path).is_file()


def test_broken_inputs_are_quarantined_and_good_rows_land(project, broken_source):
    result = run_partition(project, "broken")
    images = project.tables().read("source_images", {"dataset": "broken"})
    mask_rows = project.tables().read("masks", {"dataset": "broken"})
    assert set(images["image_id"]) == {"good_a", "good_b", "other_size", "empty_mask"}
    assert set(mask_rows["mask_id"]) == {"good_a_m", "good_b_m"}
    assert mask_rows.filter(pl.col("mask_id") == "good_b_m")["area_ratio"].item() == pytest.approx(0.5)

    quarantined = project.tables().read_all("quarantine")
    found = {(row["item_id"], row["rule"]) for row in quarantined.iter_rows(named=True)}
    for item, rule in broken_source.items():
        assert (item, rule) in found, f"{item} should be quarantined for {rule}; got {sorted(found, key=str)}"
    assert all(quarantined["message"].str.len_chars() > 0)
    assert quarantined.filter(pl.col("rule") == "csv_row_shape")["line"].item() == 11
    # Masks of rejected images are quarantined too, pointing at the image's rejection.
    assert ("truncated_m", "image_accepted") in found
    assert check_results(result)["mostly_accepted"] is False  # 4 of 10 listed images survive


def test_rematerializing_replaces_the_partition(project, shared_sample):
    run_partition(project, "ADE20K")
    run_partition(project, "ADE20K")
    assert project.tables().read_all("source_images").height == 2
    assert project.tables().read_all("masks").height == 2


def test_warehouse_exposes_every_stage(project, shared_sample):
    import duckdb

    run_partition(project, "ADE20K")
    run_partition(project, "CityScapes")
    warehouse = project.warehouse()
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        counts = dict(con.execute("SELECT dataset, count(*) FROM masks GROUP BY dataset").fetchall())
        assert counts == {"ADE20K": 2, "CityScapes": 3}
        joined = con.execute(
            "SELECT count(*) FROM masks m JOIN source_images s USING (image_id, dataset)"
        ).fetchone()[0]
        assert joined == 5
