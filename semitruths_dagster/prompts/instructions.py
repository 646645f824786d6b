"""Edit requests as instructions for instruction-following editors (FLUX.1 Kontext, Qwen-Image-Edit,
InstructPix2Pix): one template per kind of request (mask label or caption), alter / replace and magnitude.

The perturbed label or caption comes from the prompts stage (rules or a language model); only its
phrasing as an instruction is made here. Every row records the template version.
"""

from __future__ import annotations

from dataclasses import dataclass

INSTRUCTION_TEMPLATE_VERSION = "instruction-v1"
KEEP = "Keep everything else unchanged."

# (request kind, edit mode) -> magnitude -> template. Label requests name the object (mask label); caption
# requests rewrite the whole description. Small edits ask for a slight change, large ones for a new thing.
TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
    ("label", "replace"): {
        "small": "Replace the {original} with a similar {perturbed}.",
        "medium": "Replace the {original} with {perturbed}.",
        "large": "Replace the {original} with {perturbed}, a completely different thing.",
    },
    ("label", "alter"): {
        "small": "Slightly change the {original} so that it becomes {perturbed}.",
        "medium": "Change the {original} so that it becomes {perturbed}.",
        "large": "Transform the {original} into {perturbed}.",
    },
    # Caption requests have no alter / replace choice: the whole description is rewritten.
    ("caption", "rewrite"): {
        "small": "Make a small change so that the image shows {perturbed} instead of {original}.",
        "medium": "Edit the image so that it shows {perturbed} instead of {original}.",
        "large": "Change the scene so that it shows {perturbed} instead of {original}.",
    },
}


@dataclass(frozen=True)
class Instruction:
    """An instruction and what it was made from."""

    text: str
    kind: str  # label | caption
    edit_mode: str
    magnitude: str
    template_version: str = INSTRUCTION_TEMPLATE_VERSION
    backend: str = "template"


def _clean(text: str) -> str:
    return " ".join(str(text).split()).rstrip(".")


def instruction_for(request_method: str, original: str, perturbed: str, edit_mode: str, magnitude: str) -> Instruction:
    """The instruction for one edit request (request_method 'inpainting': a mask label; 'p2p': a caption)."""
    kind = "label" if request_method == "inpainting" else "caption"
    if kind == "caption":
        mode = "rewrite"
    elif edit_mode in ("alter", "replace"):
        mode = edit_mode
    else:
        raise ValueError(f"label request with edit_mode '{edit_mode}': expected 'alter' or 'replace'")
    try:
        template = TEMPLATES[(kind, mode)][magnitude]
    except KeyError:
        raise ValueError(f"no instruction template for magnitude '{magnitude}' (small, medium, large)") from None
    text = template.format(original=_clean(original), perturbed=_clean(perturbed))
    return Instruction(f"{text} {KEEP}", kind, mode, magnitude)
