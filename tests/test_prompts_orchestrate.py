"""perturb_masks / perturb_captions end to end: rule-based on the real sample masks, and tiny models."""

import ast
import csv
from pathlib import Path

import pytest

from semitruths_dagster.models import ModelRegistry, clear_model_cache
from semitruths_dagster.prompts import (
    BlipCaptioner,
    ImageRequest,
    LlavaPerturber,
    LlmRewriter,
    MaskRequest,
    RuleBasedPerturber,
    TemplateCaptioner,
    filter_rows,
    perturb_captions,
    perturb_masks,
    score_rows,
)

SAMPLE = Path(__file__).parents[1] / "../shared/data/semitruths-sample"


@pytest.fixture(scope="module")
def masks():
    meta = SAMPLE / "metadata.csv"
    if not meta.is_file():
        pytest.skip(f"sample data not found at {meta.resolve()}")
    with meta.open() as f:
        rows = list(csv.DictReader(f))
    return [
        MaskRequest(
            r["dataset"],
            r["image_id"],
            r["mask_id"],
            r["mask_name"],
            str(SAMPLE / r["image_path"]),
            str(SAMPLE / r["mask_path"]),
            tuple(ast.literal_eval(r["entities"])),
        )
        for r in rows
    ]


@pytest.fixture(scope="module")
def images(masks):
    return [ImageRequest(m.dataset, m.image_id, m.image_path, m.entities) for m in masks]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    clear_model_cache()
    return ModelRegistry("tiny", tiny_root=tmp_path_factory.mktemp("tiny"), device="cpu")


def test_rule_based_mask_rows(masks):
    rows = perturb_masks(masks, RuleBasedPerturber(), per_mask=2, seed=3)
    assert len(rows) == len(masks) * 3 * 2
    assert all(r.valid and r.attempts == 1 and r.rejection_reasons == [] for r in rows)
    assert {r.edit_mode for r in rows} == {"alter", "replace"}
    assert all(r.template_version == f"rules_{r.edit_mode}@1" and r.random_weights is False for r in rows)
    assert len({r.request_id for r in rows}) == len(rows)
    assert rows == perturb_masks(masks, RuleBasedPerturber(), per_mask=2, seed=3)  # deterministic
    other = perturb_masks(masks, RuleBasedPerturber(), per_mask=2, seed=4)
    assert [r.request_id for r in other] == [r.request_id for r in rows]  # ids depend on the request only
    assert [r.perturbed for r in other] != [r.perturbed for r in rows]


def test_sampled_magnitudes_and_fixed_mode(masks):
    rows = perturb_masks(masks, RuleBasedPerturber(), sample_magnitude=True, edit_mode="replace", seed=1)
    assert len(rows) == len(masks) and {r.edit_mode for r in rows} == {"replace"}
    assert len({r.magnitude for r in rows}) > 1


def test_rule_based_caption_rows_scored_and_filtered(images):
    rows = perturb_captions(images, TemplateCaptioner(), RuleBasedPerturber(), seed=0)
    assert len(rows) == len(images) * 3 and all(r.valid and r.method == "p2p" for r in rows)
    assert rows[0].original.startswith("a photo of") and rows[0].caption_model == "template_captioner"
    scored = score_rows(rows, sentence=ModelRegistry("paper", device="cpu").load("sentence"))
    assert all(-1 <= r.sentence_similarity <= 1 for r in scored)
    large = [r.sentence_similarity for r in scored if r.magnitude == "large"]
    assert min(large) < 1.0


def test_tiny_models_end_to_end(registry, masks, images):
    llava = LlavaPerturber(registry.load("vlm"))
    rows = perturb_masks(masks[:3], llava, magnitudes=["small", "large"], retries=1, seed=0)
    assert len(rows) == 6 and all(r.random_weights and r.backend == "llava" for r in rows)
    assert all(1 <= r.attempts <= 2 and r.raw_output is not None for r in rows)
    assert all(r.valid or len(r.rejection_reasons) >= r.attempts for r in rows)
    assert rows == perturb_masks(masks[:3], llava, magnitudes=["small", "large"], retries=1, seed=0)

    caps = perturb_captions(
        images[:2],
        BlipCaptioner(registry.load("captioner")),
        LlmRewriter(registry.load("llm")),
        magnitudes=["medium"],
        retries=1,
        seed=0,
    )
    assert len(caps) == 2 and all(r.random_weights and r.template_version == "llm_caption@1" for r in caps)
    assert all(r.rejection_reasons or r.valid for r in caps)

    rule_caps = perturb_captions(images[:4], TemplateCaptioner(), RuleBasedPerturber(), seed=0)
    scored = score_rows(rule_caps, clip=registry.load("clip"))
    assert all(r.clip_score is not None and r.clip_text_similarity is not None for r in scored)
    out, cutoffs = filter_rows(scored)
    assert cutoffs.clipscore_min is not None and any(r.kept for r in out)


def test_backends_by_name_and_duplicate_requests(registry, masks):
    from semitruths_dagster.prompts import make_captioner, make_label_perturber, make_rewriter

    assert isinstance(make_label_perturber("rules", registry), RuleBasedPerturber)
    assert isinstance(make_label_perturber("llava", registry), LlavaPerturber)
    assert isinstance(make_captioner("template", registry), TemplateCaptioner)
    assert isinstance(make_rewriter("llm", registry), LlmRewriter)
    with pytest.raises(ValueError, match="unknown captioner"):
        make_captioner("gpt", registry)
    with pytest.raises(ValueError, match="duplicate request"):
        perturb_masks([masks[0], masks[0]], RuleBasedPerturber())
