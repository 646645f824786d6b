"""Directional edits of prompt-based editing (issue 12, item 11): caption pairs grouped by changed words."""

from __future__ import annotations

import polars as pl
import pytest

from semitruths_dagster.evaluation.caption_edits import NOTHING, changed_words
from semitruths_dagster.evaluation.stage import attribute_frame


@pytest.mark.parametrize(("original", "perturbed", "expected"), [
    ("A cat sitting on a sofa.", "A dog sitting on a sofa.", ("cat", "dog")),
    ("a cat on a red sofa", "a dog on a blue sofa", ("cat / red", "dog / blue")),
    ("a red car parked outside", "a blue truck parked outside", ("red car", "blue truck")),
    ("a man on a beach", "a man on a snowy beach", (NOTHING, "snowy")),
    ("a small boat on the lake", "a boat on the lake", ("small", NOTHING)),
    ("Same words.", "same words", (None, None)),
    (None, "a dog", (None, None)),
])
def test_changed_words(original, perturbed, expected):
    assert changed_words(original, perturbed) == expected


def test_caption_edits_group_by_changed_words_beside_label_pairs():
    generations = pl.DataFrame({
        "generation_id": ["g1", "g2", "g3", "g4"], "method": ["p2p", "p2p", "inpainting", "p2p"],
        "generator": ["sd15"] * 4, "magnitude": ["small"] * 4,
        "original_text": ["a cat on a sofa", "the cat sleeps on the sofa", "cat", "a photo of a street"],
        "prompt": ["a dog on a sofa", "the dog sleeps on the sofa", "tiger", "a photo of a street"],
        "random_weights": [True] * 4,
    })
    predictions = pl.DataFrame({"generation_id": ["g1", "g2", "g3", "g4", None], "image_id": ["i"] * 5,
                                "dataset": ["d"] * 5, "label": [1, 1, 1, 1, 0]})
    frame = attribute_frame(predictions, generations, pl.DataFrame(), pl.DataFrame())
    pairs = list(zip(frame["original_label"], frame["perturbed_label"], strict=True))
    # two different captions, the same direction: one group; the inpainting label pair as before
    assert pairs == [("cat", "dog"), ("cat", "dog"), ("cat", "tiger"), (None, None), (None, None)]
