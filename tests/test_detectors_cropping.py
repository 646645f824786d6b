"""Mask-aware cropping (Algorithm 1, fixed): enough of the mask stays in, the image is cropped where the
mask was measured, and a real image given its edited twin's box is cropped identically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semitruths_dagster.detectors import (
    CropBox,
    Preprocessing,
    choose_crop_box,
    crop_box_for_mask,
    mask_share,
)

PLAIN = Preprocessing(resize=None, crop=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _random_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A union of 1-3 random rectangles (sizes from tiny to larger than the crop)."""
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        mh, mw = rng.integers(1, h // 2 + 1), rng.integers(1, w // 2 + 1)
        top, left = rng.integers(0, h - mh + 1), rng.integers(0, w - mw + 1)
        mask[top : top + mh, left : left + mw] = True
    return mask


def _best_share(mask: np.ndarray, crop: int) -> float:
    h, w = mask.shape
    return max(
        mask_share(mask, CropBox(x, y, crop, crop, (w, h)))
        for y in range(h - crop + 1)
        for x in range(w - crop + 1)
    )


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_keeps_threshold_share_whenever_possible(threshold):
    rng = np.random.default_rng(0)
    for trial in range(60):
        h, w = rng.integers(40, 72, size=2)
        mask = _random_mask(rng, int(h), int(w))
        choice = choose_crop_box(mask, 32, threshold=threshold, seed=trial, max_tries=20)
        best = _best_share(mask, 32)
        assert choice.share == pytest.approx(mask_share(mask, choice.box))
        if best >= threshold:
            assert choice.share >= threshold, (trial, best, choice)
        else:
            assert choice.how == "best" and choice.share == pytest.approx(best)
        assert 0 <= choice.box.left <= w - 32 and 0 <= choice.box.top <= h - 32


def test_centre_first_and_seeded():
    mask = np.zeros((64, 64), dtype=bool)
    mask[30:34, 30:34] = True
    assert choose_crop_box(mask, 32).how == "center"
    mask = np.zeros((64, 64), dtype=bool)
    mask[0:10, 50:64] = True  # corner: the centre crop misses it
    a, b = choose_crop_box(mask, 32, seed=3), choose_crop_box(mask, 32, seed=3)
    assert a == b and a.how in ("random", "best") and a.share >= 0.7


def test_image_cropped_exactly_where_mask_was_measured():
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = _random_mask(rng, 64, 80)
        choice = crop_box_for_mask(PLAIN, mask.astype(np.uint8) * 255)
        # An image that IS the mask: the cropped tensor holds exactly the mask pixels counted as kept.
        image = Image.fromarray(np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2))
        tensor = PLAIN.apply(image, choice.box)
        assert tensor.shape == (3, 32, 32)
        kept = int(tensor[0].round().sum())
        assert kept == round(choice.share * mask.sum())


def test_real_twin_gets_identical_crop_and_no_label_input():
    rng = np.random.default_rng(2)
    mask = _random_mask(rng, 64, 64)
    edited = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    real = edited.copy()  # same pixels: only the label differs, and preprocessing never sees it
    box = crop_box_for_mask(PLAIN, mask).box
    assert torch.equal(PLAIN.apply(edited, box), PLAIN.apply(real, box))
    assert PLAIN.signature(box) == PLAIN.signature(CropBox.from_list(box.as_list()))
    x = np.asarray(real)[box.top : box.top + 32, box.left : box.left + 32].transpose(2, 0, 1) / 255.0
    assert torch.allclose(PLAIN.apply(real, box), torch.from_numpy(x).float())


def test_resize_detectors_choose_in_their_frame():
    pre = Preprocessing(resize=88, crop=77, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # 440/384 scaled
    mask = np.zeros((128, 128), dtype=np.uint8)
    mask[0:20, 0:20] = 255
    choice = crop_box_for_mask(pre, mask)
    assert choice.box.frame == (88, 88) and choice.share >= 0.7
    assert pre.apply(Image.new("RGB", (128, 128)), choice.box).shape == (3, 77, 77)
    with pytest.raises(ValueError, match="same size"):
        pre.apply(Image.new("RGB", (100, 128)), choice.box)


def test_no_crop_detectors_get_no_box():
    pre = Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    assert crop_box_for_mask(pre, np.ones((16, 16))) is None


def test_frame_smaller_than_crop_pads_like_center_crop():
    mask = np.ones((20, 20), dtype=bool)
    choice = choose_crop_box(mask, 32)
    assert choice.share == 1.0 and choice.box.left == -6
