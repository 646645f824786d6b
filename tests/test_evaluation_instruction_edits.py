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


def _instruction_params(request_method: str, perturbed: str) -> str:
    """`params` as the generation stage writes it for an instruction edit (see generation/stage.py `_row`)."""
    import json

    return json.dumps({"call": {}, "stage": {}, "instruction": {
        "text": "...", "kind": "label" if request_method == "inpainting" else "caption", "request_method": request_method,
        "perturbed": perturbed}})


def test_instruction_edits_get_the_directional_pair_of_their_request(tmp_path):
    """An instruction edit's pair is its request's (label -> perturbed label; caption -> changed words), not
    the instruction text; rows that do not record the request stay out of the directional breakdown."""
    from semitruths_dagster.evaluation.stage import edit_pair

    label = _instruction_params("inpainting", "red bicycle")
    caption = _instruction_params("p2p", "a cat on a sofa")
    assert edit_pair("instruction", "dog", "Replace the dog with red bicycle.", label) == ("dog", "red bicycle")
    assert edit_pair("instruction", "a dog on a sofa", "Edit the image ...", caption) == ("dog", "cat")
    assert edit_pair("instruction", "dog", "Replace the dog ...", None) == (None, None)
    assert edit_pair("inpainting", "dog", "red bicycle") == ("dog", "red bicycle")

    # Known case: dog -> red bicycle: 3 instruction edits (2 detected) + 1 inpainting edit (detected) = 3 of 4;
    # dog -> cat (caption request): 1 of 2 detected; one row without the record (not in any pair).
    edits = [("g1", "flux_kontext", "dog", label, 0.9), ("g2", "qwen_image_edit", "dog", label, 0.8),
             ("g3", "instruct_pix2pix", "dog", label, 0.1), ("g5", "flux_kontext", "a dog on a sofa", caption, 0.7),
             ("g6", "qwen_image_edit", "a dog on a sofa", caption, 0.2), ("g7", "flux_kontext", "dog", None, 0.9)]
    generations = pl.DataFrame({
        "generation_id": [g for g, *_ in edits] + ["g4"], "method": ["instruction"] * len(edits) + ["inpainting"],
        "generator": [e[1] for e in edits] + ["flux_fill"], "magnitude": ["small"] * (len(edits) + 1),
        "original_text": [e[2] for e in edits] + ["dog"],
        "prompt": ["an instruction"] * len(edits) + ["red bicycle"],
        "params": [e[3] for e in edits] + [None], "random_weights": [True] * (len(edits) + 1),
    })
    scores = [e[4] for e in edits] + [0.6]
    predictions = pl.DataFrame({
        "generation_id": [None] * 2 + generations["generation_id"].to_list(),
        "image_id": ["r0", "r1"] + ["r0"] * generations.height, "dataset": ["sample"] * (2 + generations.height),
        "label": [0, 0] + [1] * generations.height, "score": [0.1, 0.2] + scores,
    })
    frame = attribute_frame(predictions, generations, pl.DataFrame(), pl.DataFrame())
    assert frame.filter(pl.col("generation_id") == "g1")["perturbed_label"].item() == "red bicycle"
    _, result = evaluate(frame, "det", "v1", random_weights=True, threshold=0.5, target_fpr=0.5, n_boot=20,
                         seed=0, out_dir=tmp_path)
    pairs = result.pairs["default"]
    by_pair = {p: (int(n), int(d)) for p, n, d in zip(pairs["pair"], pairs["n_fake"], pairs["detected"], strict=True)}
    assert by_pair == {"dog -> red bicycle": (4, 3), "dog -> cat": (2, 1)}
    method = result.breakdowns["default"]["method"]
    assert dict(zip(method["value"], method["n_fake"], strict=True)) == {"instruction": 6, "inpainting": 1}
