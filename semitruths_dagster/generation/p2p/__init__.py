"""Prompt-to-prompt editing (Hertz et al. 2022) of real images by null-text inversion (Mokady et al. 2022),
written on diffusers' StableDiffusionPipeline components and attention processors."""

from .align import choose_mode, refine_mapper, replace_mapper, token_ids, word_token_indices
from .control import AttentionRefine, AttentionReplace, AttentionStore, LocalBlend, cross_replace_alpha
from .edit import EditItem, P2PParams, edit, edit_one
from .inversion import Inversion, ddim_invert, null_text_invert, sample

__all__ = [
    "AttentionRefine",
    "AttentionReplace",
    "AttentionStore",
    "EditItem",
    "Inversion",
    "LocalBlend",
    "P2PParams",
    "choose_mode",
    "cross_replace_alpha",
    "ddim_invert",
    "edit",
    "edit_one",
    "null_text_invert",
    "refine_mapper",
    "replace_mapper",
    "sample",
    "token_ids",
    "word_token_indices",
]
