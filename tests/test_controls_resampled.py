"""The `resampled` control: real images through the generation stage's own down/up path, made only where
the generator resamples, scored by a detector beside the reals, and reported as the share flagged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from PIL import Image

from semitruths_dagster.controls import CONTROLS
from semitruths_dagster.controls.stage import SCHEMA, TABLE, ControlParams, plan_controls, run_controls
from semitruths_dagster.detectors import build_detector
from semitruths_dagster.detectors import stage as predict_stage
from semitruths_dagster.detectors.registry import random_spec
from semitruths_dagster.evaluation.robustness import control_findings, controls_table
from semitruths_dagster.generation.sizing import to_original, to_working
from semitruths_dagster.generation.stage import GenerationParams, working_size
from semitruths_dagster.storage import ImageStore
from semitruths_dagster.storage.resumable import ResumablePartition
from semitruths_dagster.storage.tables import TableStore

PARAMS = GenerationParams(generators=("sd14",), size=64)  # the tiny profile's budget: 64 x 64 pixels


def _sized(original: tuple[int, int]) -> tuple[int, int]:
    return working_size("sd14", original, PARAMS)


@pytest.fixture
def world(tmp_path):
    """Six real images of 96 x 72 (resampled to 72 x 56 under a 64 x 64 budget) and one of 64 x 48 (its
    own size fits: never resampled), each with one edit."""
    from skimage import data

    store = ImageStore(tmp_path / "images")
    cat = np.asarray(Image.fromarray(data.chelsea()))
    rows, edits = [], []
    for i, size in enumerate([(96, 72)] * 6 + [(64, 48)]):
        crop = Image.fromarray(cat[i * 20:i * 20 + 200, i * 30:i * 30 + 260]).resize(size, Image.Resampling.LANCZOS)
        path, sha = store.put_png(crop)
        rows.append({"image_id": f"r{i}", "image_path": path, "image_sha256": sha, "width": size[0],
                     "height": size[1]})
        edited = np.asarray(crop).copy()
        edited[10:30, 10:30] = 255 - edited[10:30, 10:30]
        edit_path, edit_sha = store.put_png(edited)
        edits.append({"generation_id": f"g{i}", "image_id": f"r{i}", "mask_id": None, "method": "p2p",
                      "image_path": edit_path, "image_sha256": edit_sha})
    return (store, pl.DataFrame(rows), pl.DataFrame(edits, schema_overrides={"mask_id": pl.Utf8}),
            TableStore(tmp_path / "tables"), tmp_path)


def _made(world) -> pl.DataFrame:
    store, images, edits, tables, _ = world
    items = plan_controls(images, edits, {}, "sd14", ["resampled"], working_size=_sized)
    partition = ResumablePartition(tables, TABLE, {"dataset": "d", "generator": "sd14"}, "control_id", SCHEMA)
    frame, counts, failed = run_controls(items, partition, store, "d", "sd14", lambda: None, "-", True,
                                         working_size=_sized)
    assert not failed and counts["made"] == frame.height
    return frame


def test_resampled_control_is_the_generation_path_and_only_where_it_resamples(world):
    store, images, *_ = world
    frame = _made(world)
    assert sorted(frame["image_id"]) == [f"r{i}" for i in range(6)]  # r6 (64 x 48) is generated unresampled
    for row in frame.iter_rows(named=True):
        assert row["label"] == 0 and row["vae"] is None and row["generation_id"] is None
        assert row["working_size"] == [72, 56] and row["resample_filter"] == "pil_bicubic/pil_bicubic"
        original = store.open(images.filter(pl.col("image_id") == row["image_id"])["image_path"][0]).convert("RGB")
        made = np.asarray(store.open(row["image_path"]).convert("RGB"))
        # exactly the pixels an edit's unchanged region travels through: the stage's functions, both ways
        assert np.array_equal(made, np.asarray(to_original(to_working(original, (72, 56)), original.size)))
        assert made.shape == (72, 96, 3) and not np.array_equal(made, np.asarray(original))


def test_resampled_control_is_registered_and_needs_a_working_size(world):
    store, images, edits, *_ = world
    assert "resampled" in ControlParams().kinds and CONTROLS["resampled"].compared_with == "real"
    with pytest.raises(ValueError, match="resampled.*working size"):
        plan_controls(images, edits, {}, "sd14", ["resampled"])


def test_resampled_reals_are_scored_and_reported_beside_the_reals(world):
    store, images, edits, _, root = world
    frame = _made(world)
    detector = build_detector(random_spec("npr", root / "weights"))
    masks = pl.DataFrame(schema={"mask_id": pl.Utf8, "mask_path": pl.Utf8})
    targets = predict_stage.plan_targets(images, edits, masks, {})
    predict_stage.choose_boxes(detector, targets, store, 0.7, seed=0)
    controls = predict_stage.control_targets(frame.with_columns(pl.lit("d").alias("dataset")), targets)
    assert {t.control for t in controls} == {"resampled"} and len(controls) == 6
    reals = {t.image_id: t for t in targets if t.label == 0}
    assert all(t.label == 0 and t.box == reals[t.image_id].box for t in controls)  # the real twin's crop
    rows, rejected = predict_stage.predict_partition(detector, targets + controls, store, "d", {}, batch_size=4)
    assert not rejected
    predictions = pl.DataFrame(rows)
    table = controls_table(predictions, target_fpr=0.2)
    at = table["rows"].index("resampled")
    assert table["compared_with"][at] == "real" and table["n"][at] == 6
    resampled = predictions.filter(pl.col("control") == "resampled")["score"].to_numpy()
    share = float(np.mean(resampled > table["threshold"][0]))
    assert table["flagged_fake"][at] == pytest.approx(share)
    assert table["difference"][at] == pytest.approx(share - table["flagged_fake"][table["rows"].index("real")])
    assert f"Flags resampled reals as fake: {100 * share:.1f}% at the calibrated threshold" in \
        " ".join(control_findings(table))


def test_a_detector_of_resampling_is_caught_by_the_control():
    """Scores that rise for resampled reals only: the report says they are flagged far above the reals."""
    rng = np.random.default_rng(0)
    rows = [{"condition": "clean", "control": control, "label": label, "score": float(score), "image_id": f"i{i}"}
            for i in range(200)
            for control, label, score in ((None, 0, rng.normal(0, 1)), (None, 1, rng.normal(3, 1)),
                                          ("resampled", 0, rng.normal(3, 1)))]
    table = controls_table(pl.DataFrame(rows), target_fpr=0.05)
    flagged = dict(zip(table["rows"], table["flagged_fake"], strict=True))
    assert flagged["real"] <= 0.05 and flagged["resampled"] > 0.8
    [line] = control_findings(table)
    assert line.startswith(f"Flags resampled reals as fake: {100 * flagged['resampled']:.1f}%")
