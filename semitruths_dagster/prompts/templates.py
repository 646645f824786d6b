"""Prompt templates, each with a version string that every row records.

Change a template's text => bump its version, so rows made with different wording can be told apart.
The LLaVA wording follows the original pipeline's final `mask_change_inference` (J-Kruk/SemiTruths).
"""

from __future__ import annotations

from dataclasses import dataclass

from .taxonomy import DEFINITIONS, check_magnitude, taxonomy_context

EDIT_MODES = ("alter", "replace")


@dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned prompt; `version` goes into each row as `template_version`."""

    name: str
    version: str
    text: str

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"


LLAVA_ALTER = PromptTemplate(
    "llava_alter",
    "1",
    "{context}\n\nUsing the definitions of small, medium, and large semantic changes above, how can the "
    "{label} in the image be altered to produce a {magnitude} semantic change? The change must be of a "
    "similar size and structure to the {label}. Represent the recommended change with a preposition, as "
    "in '{label} with X', or with an adjective, as in 'X {label}'. Concretely identify the color, texture, "
    "or attribute augmentation in your recommendation. Do not include explanation and use as few words "
    "as possible.",
)
LLAVA_REPLACE = PromptTemplate(
    "llava_replace",
    "1",
    "{context}\n\nUsing the definitions of small, medium, and large semantic changes above, what is "
    "something of a similar size and structure to the {label} that I can replace the {label} with to "
    "produce a {magnitude} semantic change in the image? Return only the target object. Do not include "
    "explanation and use as few words as possible.",
)
# The conversation format of llava-v1.6-mistral-7b-hf (its model card): one user turn with the image.
LLAVA_MISTRAL_FORMAT = "[INST] <image>\n{prompt} [/INST]"

LLM_CAPTION = PromptTemplate(
    "llm_caption",
    "1",
    "{context}\n\nA {magnitude} semantic change is defined as: {definition}\n\nRewrite the image caption "
    "below so that it describes the same image after a {magnitude} semantic change. Keep the sentence "
    "structure and change only what the change requires. Answer with the rewritten caption only: one "
    "sentence of at most 30 words, without explanation, quotes or special characters.\n\n"
    "Caption: {caption}\nRewritten caption:",
)


def clean_label(label: str) -> str:
    """A mask label as the prompt shows it: underscores and trailing instance digits dropped
    (as the original code did), e.g. 'left_ear' -> 'left ear', 'tree2' -> 'tree'."""
    text = label.replace("_", " ").strip()
    return text.rstrip("0123456789").strip() or text


def llava_template(mode: str) -> PromptTemplate:
    """The LLaVA template of an edit mode ('alter' or 'replace')."""
    if mode not in EDIT_MODES:
        raise ValueError(f"unknown edit mode '{mode}' (use one of {', '.join(EDIT_MODES)})")
    return LLAVA_ALTER if mode == "alter" else LLAVA_REPLACE


def llava_prompt(label: str, magnitude: str, mode: str) -> str:
    """The full LLaVA-NeXT (Mistral) prompt for one mask label, with the `<image>` placeholder."""
    text = llava_template(mode).text.format(
        context=taxonomy_context(), label=clean_label(label), magnitude=check_magnitude(magnitude)
    )
    return LLAVA_MISTRAL_FORMAT.format(prompt=text)


def llm_caption_prompt(caption: str, magnitude: str) -> str:
    """The caption-rewrite instruction (sent as one user turn through the LM's chat template if any)."""
    return LLM_CAPTION.text.format(
        context=taxonomy_context(),
        magnitude=check_magnitude(magnitude),
        definition=DEFINITIONS[magnitude],
        caption=caption.strip(),
    )
