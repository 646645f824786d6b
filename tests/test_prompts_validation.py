"""Validation rejects each bad case with its own reason code."""

import pytest

from semitruths_dagster.prompts import validate_caption, validate_label
from semitruths_dagster.prompts.validation import (
    CAPTION_TOO_LONG,
    EMPTY,
    EXPLANATION,
    LABEL_TOO_LONG,
    SAME_AS_INPUT,
    SPECIAL_CHARACTERS,
)


@pytest.mark.parametrize(
    "candidate, reason",
    [
        ("", EMPTY),
        ("   ", EMPTY),
        ("bagel with pink frosting and sprinkles", LABEL_TOO_LONG),
        ("car: red", SPECIAL_CHARACTERS),
        ("car (red)", SPECIAL_CHARACTERS),
        ("red car #1", SPECIAL_CHARACTERS),
        ("Red  CAR", SAME_AS_INPUT),
        ("I'm sorry, I cannot", EXPLANATION),
        ("As an AI model", EXPLANATION),
        ("Here is a red car", EXPLANATION),
        ("Replace with a truck", EXPLANATION),
        ("the car is red", EXPLANATION),
    ],
)
def test_bad_labels_are_rejected_with_their_reason(candidate, reason):
    assert reason in validate_label(candidate, "red car")


@pytest.mark.parametrize("good", ["blue car", "car with a roof rack", "Trash can", "t-shirt", "chef's apron"])
def test_good_labels_pass(good):
    assert validate_label(good, "red car") == []


@pytest.mark.parametrize(
    "candidate, reason",
    [
        ("", EMPTY),
        (" ".join(["word"] * 31), CAPTION_TOO_LONG),
        ("a cat on a sofa :)", SPECIAL_CHARACTERS),
        ("a dog & a cat", SPECIAL_CHARACTERS),
        ("A cat sitting on a sofa.", SAME_AS_INPUT),
        ("Here is the rewritten caption", EXPLANATION),
        ("Sure, a dog on a sofa", EXPLANATION),
        ("A dog on a sofa. This is a large change.", EXPLANATION),
    ],
)
def test_bad_captions_are_rejected_with_their_reason(candidate, reason):
    assert reason in validate_caption(candidate, "a cat sitting on a sofa")


def test_several_broken_rules_are_all_reported():
    reasons = validate_label("Here is: a very long label of many words", "car")
    assert {EXPLANATION, SPECIAL_CHARACTERS, LABEL_TOO_LONG} <= set(reasons)


def test_good_caption_passes():
    assert validate_caption("a dog sitting on a red sofa, at dusk.", "a cat sitting on a sofa") == []
