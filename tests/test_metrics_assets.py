"""Saliency, change metrics and bins on edits made by hand, whose answers are known."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from dagster import MultiPartitionKey, materialize

from assets.masks import masks
from assets.metrics import bins, change_metrics, saliency_labels, saliency_scores
from assets.prompts import perturbed_prompts
from assets.sources import source_images
from resources import ModelsResource, ProjectResource
from semitruths_dagster.generation import stage
from tests.conftest import TEST_CONFIG, share_tiny_models

pytestmark = pytest.mark.slow  # materializes the graph up to bins

SIDE = 64  # the hand-made square edit


def handmade_edits(project: ProjectResource) -> dict[str, str]:
    """Write a `generations` partition of edits with known answers; returns kind -> generation_id."""
    tables, store = project.tables(), project.images()
    image = tables.read("source_images", {"dataset": "sample"}).filter(pl.col("image_id") == "astronaut").row(0, named=True)
    prompt = tables.read("perturbed_prompts", {"dataset": "sample"}).filter(pl.col("method") == "inpainting").row(0, named=True)
    original = np.asarray(store.open(image["image_path"]).convert("RGB"))
    square = original.copy()
    patch = square[100 : 100 + SIDE, 200 : 200 + SIDE]
    # Every channel moves by at least 128: every pixel of the square is above Algorithm 2's threshold.
    square[100 : 100 + SIDE, 200 : 200 + SIDE] = np.where(patch > 127, 0, 255)
    shift = original.copy()
    red = shift[..., 0].astype(int)
    shift[..., 0] = np.where(red <= 245, red + 10, red - 10)  # every pixel's red moves by exactly 10
    kinds = {"identical": original, "square": square, "shift": shift, "black": np.zeros_like(original)}
    rows = []
    for i, (kind, pixels) in enumerate(kinds.items()):
        path, sha = store.put_png(pixels)
        rows.append({
            "generation_id": f"hand-{kind}", "request_id": prompt["request_id"], "dataset": "sample",
            "image_id": "astronaut", "mask_id": prompt["mask_id"], "method": "inpainting", "generator": "sd14",
            "magnitude": prompt["magnitude"], "original_text": prompt["original"], "prompt": prompt["perturbed"],
            "seed": i, "image_path": path, "image_sha256": sha, "black": kind == "black", "random_weights": False,
        })
    tables.write(stage.TABLE, {"dataset": "sample", "generator": "sd14"}, rows, stage.SCHEMA)
    return {kind: f"hand-{kind}" for kind in kinds}


@pytest.fixture(scope="module")
def measured(tmp_path_factory, tiny_models):
    project = ProjectResource(config_path=str(TEST_CONFIG), storage_root=str(tmp_path_factory.mktemp("m") / "storage"))
    share_tiny_models(project.storage_root, tiny_models)
    resources = {"project": project, "models": ModelsResource()}
    assert materialize([source_images, masks, perturbed_prompts], partition_key="sample", resources=resources).success
    ids = handmade_edits(project)
    key = MultiPartitionKey({"dataset": "sample", "generator": "sd14"})
    result = materialize([saliency_scores, change_metrics], partition_key=key, resources=resources)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    result = materialize([saliency_labels, bins], resources=resources)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    tables = project.tables()

    def by_kind(table: str) -> dict[str, dict]:
        rows = {r["generation_id"]: r for r in tables.read_all(table).iter_rows(named=True)}
        return {kind: rows[gid] for kind, gid in ids.items()}

    return {t: by_kind(t) for t in ("change_metrics", "saliency_scores", "saliency_labels", "bins")}


def test_identical_images_changed_nothing(measured):
    row = measured["change_metrics"]["identical"]
    assert row["mse"] == 0 and row["ssim"] == pytest.approx(1.0) and row["post_edit_ratio"] == 0
    assert row["n_components"] == 0 and row["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert measured["saliency_scores"]["identical"]["directional_degenerate"]
    assert "directional_sim" in measured["saliency_labels"]["identical"]["failures"]


def test_square_edit_area_after_dilation(measured):
    row = measured["change_metrics"]["square"]
    assert row["n_components"] == 1
    assert row["post_edit_ratio"] == pytest.approx((SIDE + 10) ** 2 / 512**2, rel=0.02)
    assert row["area_ratio"] is not None  # taken from the mask the request was made for


def test_uniform_shift_exact_mse(measured):
    row = measured["change_metrics"]["shift"]
    original = measured["change_metrics"]["identical"]
    assert row["mse"] == pytest.approx(100 / (255**2 * 3), rel=1e-9)
    assert row["post_edit_ratio"] == 0 and original["mse"] == 0  # below Algorithm 2's per-pixel threshold


def test_black_image_fails_saliency_first(measured):
    assert measured["saliency_scores"]["black"]["black"]
    assert measured["saliency_labels"]["black"]["first_failure"] == "black_image"


def test_bins_are_direction_aware(measured):
    # The identical pair has the highest SSIM: the smallest change. The black image the largest MSE.
    assert measured["bins"]["identical"]["ssim_bin"] == "small"
    assert measured["bins"]["black"]["mse_bin"] == "large"
    assert measured["bins"]["square"]["localization"] == "localized"
