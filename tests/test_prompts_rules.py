"""The rule-based backend: valid, readable, deterministic edits at every magnitude."""

import pytest

from semitruths_dagster.prompts import MAGNITUDES, validate_caption, validate_label
from semitruths_dagster.prompts.backends import perturb_label, rewrite_caption, template_caption
from semitruths_dagster.prompts.vocab import categorize

LABELS = [
    "trees",
    "rider",
    "Upper-clothes",
    "vegetation",
    "sidewalk",
    "mouth",
    "bucket",
    "headphones",
    "bagel",
    "tree",
    "car",
    "sky",
    "cat",
    "left_ear",
    "sofa",
    "building",
    "road",
    "person",
    "hair",
    "Skirt",
    "lamp",
]


@pytest.mark.parametrize("label", LABELS)
def test_label_edits_are_valid_at_every_magnitude_and_mode(label):
    for magnitude in MAGNITUDES:
        for mode in ("alter", "replace"):
            for seed in range(5):
                edit = perturb_label(label, magnitude, mode, seed)
                assert validate_label(edit, label) == [], (label, magnitude, mode, edit)


def test_label_edits_are_deterministic_and_vary_with_the_seed():
    assert perturb_label("car", "medium", "alter", 3) == perturb_label("car", "medium", "alter", 3)
    assert len({perturb_label("car", "small", "alter", s) for s in range(20)}) > 3


def test_edits_follow_the_taxonomy():
    assert categorize("Upper-clothes").name == "clothing" and categorize("left_ear").name == "face_part"
    # small replacements stay alike, medium ones are the same kind, large ones another kind of thing
    vehicle = categorize("car")
    for seed in range(5):
        assert categorize(perturb_label("car", "small", "replace", seed)).name == "vehicle"
        assert perturb_label("car", "small", "replace", seed) in vehicle.similar
        assert perturb_label("car", "medium", "replace", seed) in vehicle.kindred
        assert perturb_label("car", "large", "replace", seed) in vehicle.distant
    # alter answers keep the object: 'adjective X' or 'X with Y'
    assert "car" in perturb_label("car", "medium", "alter", 2)


def test_captions():
    caption = template_caption(["out of roi", "sky", "grass", "fence", "plants", "house", "sky"])
    assert caption == "a photo of the sky, grass, a fence and plants"
    assert template_caption(["Background"]) == "a photo"
    for magnitude in MAGNITUDES:
        for seed in range(10):
            edited = rewrite_caption(caption, magnitude, seed, ["sky"])
            assert validate_caption(edited, caption) == [], edited
            assert edited == rewrite_caption(caption, magnitude, seed, ["sky"])
    assert rewrite_caption("an owl", "large", 1).split()[0] in {"a", "an"}
