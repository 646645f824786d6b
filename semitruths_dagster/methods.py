"""The editing methods, and which of them give the model a mask (one definition for every stage)."""

from __future__ import annotations

INPAINTING = "inpainting"  # a masked region regenerated from the perturbed label
P2P = "p2p"  # prompt-based editing: the caption turned into the perturbed caption (prompt-to-prompt)
INSTRUCTION = "instruction"  # an instruction ("replace the dog with a red bicycle") applied to the whole image
METHODS = (INPAINTING, P2P, INSTRUCTION)
# Methods whose model receives the mask; the others are localized (crop for detectors, area) by the
# post-edit mask of Algorithm 2.
MASKED_METHODS = (INPAINTING,)


def has_input_mask(method: str) -> bool:
    """Whether an edit of this method was made inside a given mask (else: no input mask)."""
    return method in MASKED_METHODS
