"""Crop masks (issue 12, items 5 and 6): the one binarization rule of `masks` (half the maximum), a crop
that falls back says so, and prompt-based edits are cropped around Algorithm 2's post-edit mask, which
`change_metrics` stores; the real twin takes the same box."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from semitruths_dagster.detectors import Preprocessing, build_detector, crop_box_for_mask
from semitruths_dagster.detectors import stage as predict_stage
from semitruths_dagster.detectors.registry import random_spec
from semitruths_dagster.metrics.change_stage import ChangeParams, compute_change_metrics
from semitruths_dagster.storage import ImageStore

PLAIN = Preprocessing(resize=None, crop=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _corner_mask(value: int) -> np.ndarray:
    """A 96x96 mask whose foreground (16x16 in the bottom-right corner) has pixel value `value`."""
    mask = np.zeros((96, 96), np.uint8)
    mask[80:, 80:] = value
    return mask


@pytest.mark.parametrize("value", [1, 255, 100])
def test_zero_one_masks_are_not_emptied(value):
    """A 0/1 (or 0/100) mask keeps its foreground: the crop moves towards the corner and keeps >= 70%.
    Binarizing at > 127 first, as the stage did, emptied it and the crop silently stayed in the centre."""
    choice = crop_box_for_mask(PLAIN, _corner_mask(value))
    assert choice.fallback is None and choice.how != "center"
    assert choice.share >= 0.7 and choice.box.left > 32 and choice.box.top > 32


def test_an_empty_mask_falls_back_and_says_so():
    choice = crop_box_for_mask(PLAIN, np.zeros((96, 96), np.uint8))
    assert choice.fallback == "empty_mask" and choice.how == "center" and math.isnan(choice.share)
    assert (choice.box.left, choice.box.top) == (32, 32)


def test_a_window_below_the_threshold_says_so():
    mask = np.zeros((96, 96), bool)
    mask[0, 0] = mask[95, 95] = True  # two pixels no 32x32 window holds together
    choice = crop_box_for_mask(PLAIN, mask)
    assert choice.how == "best" and choice.share == 0.5 and choice.fallback == "below_threshold"


def test_change_metrics_store_the_post_edit_mask(tmp_path):
    """Algorithm 2 on a 40x40 changed square: dilation by 11 (5 px each side) gives a 50x50 mask."""
    store = ImageStore(tmp_path / "images")
    original = np.full((128, 128, 3), 120, np.uint8)
    edited = original.copy()
    edited[30:70, 50:90] = 250
    orig_path, _ = store.put_png(original)
    edit_path, _ = store.put_png(edited)
    generation = {"generation_id": "g1", "dataset": "d", "generator": "sd15", "method": "p2p", "image_id": "i1",
                  "mask_id": None, "magnitude": "small", "request_id": "r1", "image_path": edit_path}
    [row] = compute_change_metrics([generation], {"i1": orig_path}, {}, {}, store, ChangeParams(lpips=False))
    mask = np.asarray(store.open(row["post_edit_mask_path"]).convert("L")) > 0
    expected = np.zeros((128, 128), bool)
    expected[25:75, 45:95] = True
    assert np.array_equal(mask, expected)
    assert row["post_edit_ratio"] == pytest.approx(2500 / 128**2)


def test_p2p_edits_crop_around_the_post_edit_mask_and_the_twin_takes_the_box(tmp_path):
    detector = build_detector(random_spec("cnnspot", tmp_path / "weights"))
    crop = detector.preprocessing.crop
    store = ImageStore(tmp_path / "images")
    size = crop * 2
    image_path, image_sha = store.put_png(np.full((size, size, 3), 90, np.uint8))
    change = np.zeros((size, size), np.uint8)
    change[size - 20 :, : 20] = 1  # 0/1 values: the half-maximum rule must still see it
    mask_path, _ = store.put_png(change)
    images = pl.DataFrame({"image_id": ["i1"], "image_path": [image_path], "image_sha256": [image_sha]})
    edits = pl.DataFrame({"generation_id": ["g1", "g2"], "image_id": ["i1", "i1"], "mask_id": [None, None],
                          "method": ["p2p", "p2p"], "image_path": [image_path] * 2, "image_sha256": [image_sha] * 2},
                         schema_overrides={"mask_id": pl.Utf8})
    masks = pl.DataFrame(schema={"mask_id": pl.Utf8, "mask_path": pl.Utf8})
    metrics = pl.DataFrame({"generation_id": ["g1"], "post_edit_mask_path": [mask_path]})
    targets = predict_stage.plan_targets(images, edits, masks, predict_stage.post_edit_masks(metrics))
    predict_stage.choose_boxes(detector, targets, store, 0.7, seed=0)
    real, g1, g2 = targets
    center = detector.preprocessing.center_box(detector.preprocessing.frame_size((size, size)))
    assert g1.crop_source == "post_edit_mask" and g1.fallback is None and g1.share >= 0.7
    assert g1.box != center  # moved towards the bottom-left change
    assert g2.box is None and g2.fallback == "no_mask"  # no post-edit mask: centre crop, and it says so
    assert real.box == g1.box and real.crop_source == "twin"
    rows, rejected = predict_stage.predict_partition(detector, targets, store, "d", {}, batch_size=4)
    assert not rejected
    assert [r["crop_fallback"] for r in rows] == [None, None, "no_mask"]
    assert [r["crop_source"] for r in rows] == ["twin", "post_edit_mask", None]
