"""The `released` saliency preset reproduces the release (issue 12, item 1): the original code's formula
cos(img_o - txt_o, img_e - txt_e) on its CLIP's unnormalized features, stored as `directional_sim_original`
beside the paper's cos(img_o - img_e, txt_o - txt_e); `percentile` keeps the paper's formula."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch

from semitruths_dagster.hub import ModelSource
from semitruths_dagster.metrics import saliency as sal
from semitruths_dagster.metrics.saliency_stage import SaliencyParams, label_saliency, score_saliency
from semitruths_dagster.models import ModelRegistry, resolve_model
from semitruths_dagster.storage import ImageStore

IMG_O, IMG_E = np.array([[3.0, 0.0, 0.0]]), np.array([[0.8, 0.6, 0.0]])  # unnormalized: |img_o| = 3
TXT_O, TXT_E = np.array([[0.0, 0.0, 1.0]]), np.array([[0.0, 0.6, 0.8]])


def test_each_formula_gives_its_known_value():
    # paper: unit vectors (1,0,0), (.8,.6,0), (0,0,1), (0,.6,.8); differences (.2,-.6,0) and (0,-.6,.2)
    assert sal.directional_similarity(IMG_O, IMG_E, TXT_O, TXT_E).values[0] == pytest.approx(0.36 / 0.4)
    # original, unnormalized: (3,0,-1) . (.8,0,-.8) / (sqrt(10) * .8 sqrt(2)) = 2 / sqrt(5)
    assert sal.directional_similarity_original(IMG_O, IMG_E, TXT_O, TXT_E).values[0] == pytest.approx(2 / math.sqrt(5))
    # normalizing first would give 1.0: the original's value depends on the features' norms
    unit = sal.directional_similarity_original(IMG_O / 3, IMG_E, TXT_O, TXT_E).values[0]
    assert unit == pytest.approx(1.0)
    same = sal.directional_similarity_original(IMG_O, IMG_O, TXT_O, TXT_O)  # identical offsets: cosine 1
    assert not same.degenerate[0] and same.values[0] == pytest.approx(1.0)
    zero = sal.directional_similarity_original(TXT_O, IMG_E, TXT_O, TXT_E)  # image = caption: zero offset
    assert zero.degenerate[0] and math.isnan(zero.values[0])


def _scores(**columns) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"generation_id": [f"g{i}" for i in range(n)], "dataset": ["d"] * n, "generator": ["sd15"] * n,
            "method": ["inpainting"] * n, "black": [False] * n, "brisque": [20.0] * n}
    return pl.DataFrame(base | columns)


def test_released_preset_passes_an_edit_the_original_would_pass():
    """A typical good edit: the original's scores inside the released windows, the paper's directional
    similarity 0.2 (its usual range, far below the released directional window [0.8115, 0.9786])."""
    scores = _scores(clip_image_similarity=[0.93, 0.93], clip_edit_text_similarity=[0.25, 0.25],
                     directional_similarity=[0.2, 0.2], clip_image_sim_original=[0.93, 0.93],
                     clip_edit_text_sim_original=[0.25, 0.25], directional_sim_original=[0.9, 0.5])
    released = label_saliency(scores, SaliencyParams(thresholds="released"))
    assert [r["passed"] for r in released] == [True, False]
    assert released[1]["first_failure"] == "directional_sim"
    # what applying the released windows to the paper's formula did: every edit rejected
    wrong = sal.apply_saliency(sal.RELEASED_THRESHOLDS, directional_sim=[0.2, 0.2], clip_image_sim=[0.93] * 2,
                               clip_edit_text_sim=[0.25] * 2, brisque=[20.0] * 2)
    assert not wrong.passed.any()


def test_percentile_preset_keeps_the_papers_formula():
    n = 101
    scores = _scores(clip_image_similarity=np.linspace(0, 1, n), clip_edit_text_similarity=[0.2] * n,
                     directional_similarity=np.linspace(0, 1, n), clip_image_sim_original=[None] * n,
                     clip_edit_text_sim_original=[None] * n, directional_sim_original=[None] * n)
    rows = label_saliency(scores, SaliencyParams())
    thresholds = sal.SaliencyThresholds.from_json(rows[0]["thresholds"])
    assert thresholds.directional_sim.lo == pytest.approx(0.23)  # p23 of the paper's values
    with pytest.raises(ValueError, match="directional_sim_original"):
        label_saliency(scores, SaliencyParams(thresholds="released"))  # no original scores: refuse


def test_saliency_role_is_the_originals_clip_and_scores_come_unnormalized(tmp_path):
    ref = resolve_model("saliency", ModelSource("paper"))
    assert (ref.hub_id, ref.family) == ("openai/clip-vit-base-patch32", "hf_clip")
    registry = ModelRegistry("tiny", tiny_root=tmp_path / "models")
    clip, original = registry.load("clip"), registry.load("saliency")
    assert type(original.model).__name__ == "CLIPModel" and original.random_weights
    store = ImageStore(tmp_path / "images")
    rng = np.random.default_rng(0)
    o_path, _ = store.put_png(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    e_path, _ = store.put_png(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    generation = {"generation_id": "g", "dataset": "d", "generator": "sd15", "method": "p2p", "image_id": "i",
                  "image_path": e_path, "original_text": "a cat on a sofa", "prompt": "a dog on a sofa"}
    [row] = score_saliency([generation], {"i": o_path}, store, clip, SaliencyParams(), original)
    # the same numbers straight from CLIPModel, without normalizing
    proc, model = original.processor, original.model
    with torch.no_grad():
        pix = proc(images=[store.open(p).convert("RGB") for p in (o_path, e_path)], return_tensors="pt")
        img = model.get_image_features(pixel_values=pix["pixel_values"]).pooler_output.numpy()
        tok = proc.tokenizer(["a cat on a sofa", "a dog on a sofa"], padding=True, return_tensors="pt")
        txt = model.get_text_features(**tok).pooler_output.numpy()
    expected = sal.directional_similarity_original(img[:1], img[1:], txt[:1], txt[1:]).values[0]
    assert row["directional_sim_original"] == pytest.approx(expected, rel=1e-5)
    assert row["clip_image_sim_original"] == pytest.approx(sal.cosine_rows(img[:1], img[1:])[0], rel=1e-5)
    assert row["saliency_model"] == original.name and row["saliency_random_weights"] is True
    assert row["directional_similarity"] is not None  # the paper's, beside it
