"""Prompt-to-prompt editing (Hertz et al. 2022) of real images by null-text inversion (Mokady et al. 2022),
written on diffusers' StableDiffusionPipeline components and attention processors."""

from .align import (
    align_ids,
    choose_mode,
    refine_mapper,
    replace_mapper,
    token_ids,
    word_spans,
    word_token_indices,
)
from .control import (
    SELF_MAX_TOKENS,
    AttentionRefine,
    AttentionReplace,
    AttentionStore,
    BatchController,
    LocalBlend,
    cross_replace_alpha,
)
from .edit import Edited, EditItem, P2PParams, edit, edit_batch, edit_one
from .inversion import Inversion, ddim_invert, null_text_invert, sample, unet_dtype

__all__ = [
    "SELF_MAX_TOKENS",
    "AttentionRefine",
    "AttentionReplace",
    "AttentionStore",
    "BatchController",
    "EditItem",
    "Edited",
    "Inversion",
    "LocalBlend",
    "P2PParams",
    "align_ids",
    "choose_mode",
    "cross_replace_alpha",
    "ddim_invert",
    "edit",
    "edit_batch",
    "edit_one",
    "null_text_invert",
    "refine_mapper",
    "replace_mapper",
    "sample",
    "token_ids",
    "unet_dtype",
    "word_spans",
    "word_token_indices",
]
