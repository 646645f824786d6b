"""The evaluation breaks recall down by method `instruction` and by the new generators."""

from __future__ import annotations

import polars as pl
import pytest

from semitruths_dagster.evaluation.stage import attribute_frame, evaluate


def test_recall_by_method_instruction_and_new_generators(tmp_path):
    # 4 reals, and edits whose detections are known: instruction 1 of 3 detected, inpainting 2 of 2.
    edits = [("g1", "instruction", "flux_kontext", 0.9), ("g2", "instruction", "qwen_image_edit", 0.1),
             ("g3", "instruction", "instruct_pix2pix", 0.2), ("g4", "inpainting", "flux_fill", 0.8),
             ("g5", "inpainting", "sd35_large", 0.7)]
    predictions = pl.DataFrame({
        "generation_id": [None] * 4 + [g for g, *_ in edits],
        "image_id": [f"r{i}" for i in range(4)] + ["r0"] * len(edits),
        "dataset": ["sample"] * (4 + len(edits)),
        "label": [0] * 4 + [1] * len(edits),
        "score": [0.1, 0.2, 0.3, 0.6] + [s for *_, s in edits],
    })
    generations = pl.DataFrame({
        "generation_id": [g for g, *_ in edits], "method": [m for _, m, *_ in edits],
        "generator": [g for _, _, g, _ in edits], "magnitude": ["small"] * len(edits),
        "original_text": ["dog"] * len(edits), "prompt": ["cat"] * len(edits), "random_weights": [True] * len(edits),
    })
    frame = attribute_frame(predictions, generations, pl.DataFrame(), pl.DataFrame())
    _, result = evaluate(frame, "det", "v1", random_weights=True, threshold=0.5, target_fpr=0.25, n_boot=20,
                         seed=0, out_dir=tmp_path)
    method = result.breakdowns["default"]["method"]
    recall = dict(zip(method["value"], method["recall"], strict=True))
    assert recall["instruction"] == pytest.approx(1 / 3) and recall["inpainting"] == pytest.approx(1.0)
    generator = result.breakdowns["default"]["generator"]
    by_generator = dict(zip(generator["value"], generator["recall"], strict=True))
    assert by_generator == {"flux_kontext": 1.0, "qwen_image_edit": 0.0, "instruct_pix2pix": 0.0,
                            "flux_fill": 1.0, "sd35_large": 1.0}


def test_instruction_edits_have_no_input_mask_for_the_crop():
    """Like prompt-based edits, an instruction edit's crop does not come from the request's mask (the model
    never saw it); only inpainting edits carry their input mask."""
    from semitruths_dagster.detectors.stage import plan_targets
    from semitruths_dagster.methods import has_input_mask

    assert has_input_mask("inpainting") and not has_input_mask("instruction") and not has_input_mask("p2p")
    images = pl.DataFrame({"image_id": ["a"], "image_path": ["a.png"], "image_sha256": ["s"]})
    edits = pl.DataFrame({"generation_id": ["g1", "g2"], "image_id": ["a", "a"], "method": ["inpainting", "instruction"],
                          "mask_id": ["m", "m"], "image_path": ["e1.png", "e2.png"], "image_sha256": ["1", "2"]})
    masks = pl.DataFrame({"mask_id": ["m"], "mask_path": ["m.png"]})
    targets = {t.generation_id: t.mask_path for t in plan_targets(images, edits, masks)}
    assert targets == {None: None, "g1": "m.png", "g2": None}
