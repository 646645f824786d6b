"""LLaVA prompt formatting and answer parsing, on the real answers LLaVA-Mistral-7B gave for ten real masks
(the original pipeline's output, shipped in ../shared/data/semitruths-sample)."""

import json
from pathlib import Path

import pytest

from semitruths_dagster.prompts import DEFINITIONS, MaskRequest, perturb_masks
from semitruths_dagster.prompts.backends import BackendInfo
from semitruths_dagster.prompts.parsing import parse_label_answer
from semitruths_dagster.prompts.templates import LLAVA_ALTER, LLAVA_REPLACE, clean_label, llava_prompt
from semitruths_dagster.prompts.validation import LABEL_TOO_LONG, validate_label

SAMPLE = Path(__file__).parents[1] / "../shared/data/semitruths-sample"
RECORDED = SAMPLE / "example_llava_mask_perturbations.json"


@pytest.fixture(scope="module")
def recorded():
    if not RECORDED.is_file():
        pytest.skip(f"recorded LLaVA answers not found at {RECORDED.resolve()} (the shared sample data)")
    data = json.loads(RECORDED.read_text())
    return [(img_id, info, obj) for img_id, info in data.items() for obj in info["objects"]]


def test_recorded_answers_parse_and_validate_like_the_original_flags(recorded):
    assert len(recorded) == 10
    for _, _, obj in recorded:
        label = parse_label_answer(obj["target"])
        reasons = validate_label(label, obj["name"])
        assert not label.endswith(".") and label.strip() == label
        # The original pipeline flagged exactly one answer as poor quality: the six-word one.
        assert bool(reasons) == obj["target_qual_flag"], (obj["target"], reasons)
        if obj["target_qual_flag"]:
            assert reasons == [LABEL_TOO_LONG]


def test_prompt_holds_label_magnitude_definition_and_image_placeholder(recorded):
    for _, _, obj in recorded:
        for mode, template in (("alter", LLAVA_ALTER), ("replace", LLAVA_REPLACE)):
            prompt = llava_prompt(obj["name"], obj["sem_magnitude"], mode)
            assert prompt.startswith("[INST] <image>\n") and prompt.endswith(" [/INST]")
            assert prompt.count("<image>") == 1
            assert f"the {clean_label(obj['name'])}" in prompt
            assert f"{obj['sem_magnitude']} semantic change" in prompt
            assert all(d in prompt for d in DEFINITIONS.values())
            assert ("with X" in prompt) == (mode == "alter")
            assert ("I can replace the" in prompt) == (mode == "replace")
            assert template.version


def test_parsing_strips_wrapping_but_not_content():
    assert parse_label_answer("Mouth with slightly darker lipstick.") == "Mouth with slightly darker lipstick"
    assert parse_label_answer("Recommended change: 'red car'") == "red car"
    assert parse_label_answer("\n\n1. Maple tree\n2. Oak tree") == "Maple tree"
    assert parse_label_answer("") == ""


class ReplayPerturber:
    """Replays recorded real LLaVA answers in order (no model): exercises retries on real outputs."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.info = BackendInfo("llava-recorded", "llava-hf/llava-v1.6-mistral-7b-hf")
        self.asked = []

    def template_version(self, mode):
        return f"llava_{mode}@1"

    def perturb_labels(self, queries):
        self.asked += list(queries)
        return [self.answers.pop(0) for _ in queries]

    def parse_label(self, raw):
        return parse_label_answer(raw)


def test_retry_after_a_rejected_real_answer_records_every_reason(recorded):
    targets = {obj["name"]: obj["target"] for _, _, obj in recorded}
    backend = ReplayPerturber([targets["bagel"], "bagel", targets["bagel"], "Bagel with sprinkles."])
    mask = MaskRequest("OpenImages", "e16d9f29e2462eea", "m1", "bagel", str(SAMPLE / "x.jpg"))
    (row,) = perturb_masks([mask], backend, magnitudes=["small"], retries=3, seed=7)
    assert row.valid and row.perturbed == "Bagel with sprinkles" and row.attempts == 4
    assert row.rejection_reasons == [
        "attempt 1: label_over_5_words",
        "attempt 2: same_as_input",
        "attempt 3: label_over_5_words",
    ]
    assert len({q.seed for q in backend.asked}) == 4  # a new seed on every retry
    assert row.edit_mode == backend.asked[-1].mode and row.template_version == f"llava_{row.edit_mode}@1"
