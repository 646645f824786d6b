"""Which mask is the ground truth of which edit.

- Inpainting: the request's mask (the model was told to change exactly there; binarized by the masks
  rule, `masks.stage.binarize`) AND the post-edit mask of Algorithm 2 (the pixels that really changed,
  cleaned of noise: the diffusion model also alters pixels outside the mask, and leaves parts of it as
  they were). Both are scored, side by side.
- Prompt-based (p2p) and instruction edits: the post-edit mask only (they have no input mask; the whole
  image went through the model).
- Real images (and controls labelled real): no edit; what a map flags there is false-alarm area.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from PIL import Image

from ..masks.stage import binarize
from ..methods import has_input_mask
from ..storage import ImageStore

EDIT_MASK = "edit_mask"
POST_EDIT_MASK = "post_edit_mask"
NO_EDIT = "none"  # real images: false-alarm area
TRUTHS = (EDIT_MASK, POST_EDIT_MASK)


def truth_paths(method: str | None, edit_mask: str | None, post_edit_mask: str | None) -> dict[str, str | None]:
    """Truth kind -> store path for one edit (None where the mask is missing)."""
    if method is not None and has_input_mask(method):
        return {EDIT_MASK: edit_mask, POST_EDIT_MASK: post_edit_mask}
    return {POST_EDIT_MASK: post_edit_mask}


def truth_table(edits: pl.DataFrame, masks: pl.DataFrame, change_metrics: pl.DataFrame) -> dict[str, dict]:
    """generation_id -> {truth kind: path} for every edit in `edits` (generation_id, method, mask_id and,
    for released edits, their own `mask_path`). The edit mask is the `masks` stage's binarized mask,
    else the edit's own; the post-edit mask is `change_metrics`'."""
    mask_paths: Mapping[str, str] = dict(zip(masks["mask_id"], masks["mask_path"], strict=True)) if masks.height else {}
    post: Mapping[str, str] = {}
    if change_metrics.height and "post_edit_mask_path" in change_metrics.columns:
        known = change_metrics.filter(pl.col("post_edit_mask_path").is_not_null())
        post = dict(zip(known["generation_id"], known["post_edit_mask_path"], strict=True))
    out = {}
    for r in edits.iter_rows(named=True):
        own = r.get("mask_path")
        out[r["generation_id"]] = truth_paths(r["method"], mask_paths.get(r.get("mask_id")) or own,
                                              post.get(r["generation_id"]))
    return out


def load_truth(store: ImageStore, path: str, size: tuple[int, int]) -> np.ndarray:
    """A truth mask as bool (H, W) at `size` (height, width): binarized by the masks rule (above half
    its maximum) at its own size, then resized by nearest neighbour (a pixel stays edited or not)."""
    with store.open(path) as image:
        values = np.asarray(image.convert("L"))
    binary, _ = binarize(values)
    if binary.shape != tuple(size):
        resized = Image.fromarray(binary.astype(np.uint8) * 255, mode="L").resize((size[1], size[0]), Image.NEAREST)
        binary = np.asarray(resized) > 127
    return binary
