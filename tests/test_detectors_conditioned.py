"""Scoring under conditions: the cache is keyed by condition, so adding a condition scores only it;
an image that fails under a condition is reported alone."""

import numpy as np
import pytest
from PIL import Image

from semitruths_dagster.conditions import parse_condition
from semitruths_dagster.detectors import build_detector
from semitruths_dagster.detectors.cache import file_sha256
from semitruths_dagster.detectors.conditioned import score_conditions
from semitruths_dagster.detectors.registry import random_spec
from semitruths_dagster.detectors.stage import Target
from semitruths_dagster.storage import ImageStore


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return build_detector(random_spec("npr", tmp_path_factory.mktemp("npr")))


def _targets(root, n=4):
    rng = np.random.default_rng(0)
    targets = []
    for i in range(n):
        path = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
        targets.append(Target(i % 2, f"img{i}", None, path.name, file_sha256(path)))
    return targets


def test_adding_a_condition_scores_only_that_condition(detector, tmp_path, monkeypatch):
    store, targets = ImageStore(tmp_path), _targets(tmp_path)
    calls = []
    original = detector.score
    monkeypatch.setattr(detector, "score", lambda images, **kw: calls.append(len(images)) or original(images, **kw))
    conditions = [parse_condition("clean"), parse_condition("jpeg_q75")]
    first = score_conditions(detector, targets, store, conditions, {}, batch_size=8, seed=0)
    assert sum(calls) == 8 and all(r.fresh and r.score is not None for r in first)
    assert first[0].cache_key != first[4].cache_key  # same image, other condition: other key
    assert first[0].cache_key == detector.cache_key(targets[0].sha256, None)  # clean keys unchanged
    cached = {r.cache_key: r.score for r in first}
    calls.clear()
    again = score_conditions(detector, targets, store, [*conditions, parse_condition("resize_0.5")], cached, 8, 0)
    assert sum(calls) == 4  # only the 4 images under the new condition
    assert [r.score for r in again[:8]] == [r.score for r in first] and not any(r.fresh for r in again[:8])
    assert all(r.fresh for r in again[8:])
    # same seed, same condition: the same scores when recomputed from scratch
    fresh = score_conditions(detector, targets, store, conditions[1:], {}, 8, 0)
    assert [r.score for r in fresh] == [r.score for r in first[4:]]


def test_an_image_failing_under_a_condition_is_reported_alone(detector, tmp_path):
    store, targets = ImageStore(tmp_path), _targets(tmp_path, 2)
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    targets.append(Target(0, "tiny", None, "tiny.png", file_sha256(tmp_path / "tiny.png")))
    out = score_conditions(detector, targets, store, [parse_condition("resize_0.05")], {}, 8, 0)
    assert [r.error is None for r in out] == [True, True, False]
    assert "empty" in out[2].error and out[2].score is None


def test_prediction_rows_carry_condition_and_control_and_failures_become_rejections(detector, tmp_path):
    from semitruths_dagster.detectors.stage import SCHEMA, predict_partition

    store, targets = ImageStore(tmp_path), _targets(tmp_path, 2)
    targets.append(Target(1, "img0", "g0", targets[1].image_path, targets[1].sha256, control="pasted_back"))
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    targets.append(Target(0, "tiny", None, "tiny.png", file_sha256(tmp_path / "tiny.png")))
    conditions = [parse_condition("clean"), parse_condition("resize_0.05")]
    rows, rejections = predict_partition(detector, targets, store, "d", {}, 8, conditions, 0)
    assert len(rows) == 4 + 3 and len(rejections) == 1  # the 8x8 image has no resize_0.05
    assert rejections[0].rule == "condition_failed" and rejections[0].item_id == "tiny"
    assert rejections[0].stage == f"detector_predictions.{detector.name}"
    assert {r["condition"] for r in rows} == {"clean", "resize_0.05"}
    controls = [r for r in rows if r["control"]]
    assert len(controls) == 2 and all(r["image_kind"] == "control" for r in controls)
    assert set(rows[0]) == set(SCHEMA)
    # the control has its edit's bytes: one key, scored once, one score; rows stay unique by control
    assert len({r["cache_key"] for r in rows}) == len(rows) - 2
    assert len({(r["cache_key"], r["control"]) for r in rows}) == len(rows)
    by_key = {}
    for r in rows:
        by_key.setdefault(r["cache_key"], set()).add(r["score"])
    assert all(len(scores) == 1 for scores in by_key.values())
