"""Edit requests as instructions for instruction-following editors (FLUX.1 Kontext, Qwen-Image-Edit,
InstructPix2Pix): one template per kind of request (mask label or caption), alter / replace and magnitude,
or (`generation.instruction_backend: llm`) written by the `llm` role's language model.

The perturbed label or caption comes from the prompts stage (rules or a language model); only its
phrasing as an instruction is made here. Every row records the template version and backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

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
    random_weights: bool = False  # written by a random-weight (tiny) language model


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


LLM_INSTRUCTION_VERSION = "llm-instruction-v1"
LLM_INSTRUCTION_PROMPT = (
    "Write one short instruction for an image editing model that changes {what} '{original}' into "
    "'{perturbed}' ({magnitude} semantic change). Return only the instruction."
)
MAX_INSTRUCTION_WORDS = 40


def parse_instruction(raw: str) -> str | None:
    """The first non-empty line of a language model's answer, unquoted; None if empty or too long."""
    for line in str(raw).splitlines():
        text = line.strip().strip("\"'").strip()
        if text:
            return text if len(text.split()) <= MAX_INSTRUCTION_WORDS else None
    return None


def write_with_llm(handle: Any, requests: Sequence[dict], seed: int) -> list[Instruction]:
    """Instructions written by a causal LM (role `llm`), one per request (dicts with method, original,
    perturbed, edit_mode, magnitude). An answer that is empty or too long falls back to the template, and
    the row says so (`backend`: 'template (llm answer rejected)')."""
    import torch

    from .backends.generation import GenerationParams, decode_new_tokens, seeded

    tokenizer, model = handle.processor, handle.model
    settings = GenerationParams(max_new_tokens=40, do_sample=False)
    out: list[Instruction] = []
    for i, r in enumerate(requests):
        made = instruction_for(r["method"], r["original"], r["perturbed"], r["edit_mode"], r["magnitude"])
        text = LLM_INSTRUCTION_PROMPT.format(what="the object" if made.kind == "label" else "the image described as",
                                             original=_clean(r["original"]), perturbed=_clean(r["perturbed"]),
                                             magnitude=r["magnitude"])
        chat = getattr(tokenizer, "chat_template", None)
        if chat:
            text = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True)
        inputs = tokenizer([text], return_tensors="pt", add_special_tokens=not chat).to(handle.device)
        with torch.inference_mode(), seeded(seed + i, handle.device):
            output = model.generate(**inputs, pad_token_id=tokenizer.pad_token_id, **settings.generate_kwargs())
        answer = parse_instruction(decode_new_tokens(tokenizer, output, inputs["input_ids"].shape[1])[0])
        if answer is None:
            out.append(replace(made, backend="template (llm answer rejected)"))
        else:
            out.append(replace(made, text=answer, template_version=LLM_INSTRUCTION_VERSION,
                               backend=f"llm:{handle.name}", random_weights=bool(handle.random_weights)))
    return out
