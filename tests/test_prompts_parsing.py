"""Parsing of BLIP captions and LM rewrites.

No recorded real BLIP / LLM answers are available offline; the inputs below are hand-written in the forms
those models are known to answer in (BLIP-large's 'arafed' artefact, an instruct LM repeating the marker
or numbering its answer)."""

from semitruths_dagster.prompts.parsing import parse_blip_caption, parse_caption_answer
from semitruths_dagster.prompts.templates import LLM_CAPTION, llm_caption_prompt


def test_blip_artefacts_are_removed():
    assert parse_blip_caption("arafed man riding a bike down a street") == "man riding a bike down a street"
    assert parse_blip_caption("there is a cat  sitting on a couch ") == "there is a cat sitting on a couch"


def test_llm_answers_are_reduced_to_the_caption():
    assert parse_caption_answer("Rewritten caption: a dog on a sofa.") == "a dog on a sofa."
    assert parse_caption_answer('"A dog sitting on a sofa at night."\n\nThis is a small change.') == (
        "A dog sitting on a sofa at night."
    )
    assert parse_caption_answer("1. a red bus on a bridge\n2. a bus") == "a red bus on a bridge"
    assert (
        parse_caption_answer("Sure! Here is the rewritten caption") == "Sure! Here is the rewritten caption"
    )


def test_llm_prompt_holds_caption_magnitude_and_definition():
    prompt = llm_caption_prompt("  a cat on a sofa ", "medium")
    assert prompt.endswith("Caption: a cat on a sofa\nRewritten caption:")
    assert "medium semantic change" in prompt and "orientation of an object or person" in prompt
    assert LLM_CAPTION.tag == "llm_caption@1"
