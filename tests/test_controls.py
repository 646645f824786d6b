"""Confound controls: pasted-back equals the original outside the mask, VAE round trip changes the image,
the JPEG quality estimate recovers the quality used to save an image, format matching keeps the format."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from semitruths_dagster.controls import estimate_jpeg_quality, format_matched, paste_back, vae_roundtrip


def _photo(seed: int = 0, size=(96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)


def _saved(image: Image.Image, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_pasted_back_is_the_original_exactly_where_the_mask_is_zero():
    original, edited = _photo(0), _photo(1)
    mask = Image.new("L", original.size, 0)
    ImageDraw.Draw(mask).rectangle((30, 20, 60, 45), fill=255)
    soft = mask.filter(ImageFilter.GaussianBlur(4))
    out = np.asarray(paste_back(original, edited, soft))
    m = np.asarray(soft)
    assert (m == 0).any() and (m == 255).any() and ((m > 0) & (m < 255)).any()
    assert np.array_equal(out[m == 0], np.asarray(original)[m == 0])
    assert np.array_equal(out[m == 255], np.asarray(edited)[m == 255])
    between = (m > 0) & (m < 255)
    assert not np.array_equal(out[between], np.asarray(original)[between])


def test_pasted_back_resizes_an_edit_of_another_size():
    original = _photo(0, (90, 60))
    out = paste_back(original, _photo(1, (96, 64)), Image.new("L", (90, 60), 0))
    assert np.array_equal(np.asarray(out), np.asarray(original))


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_estimate_recovers_the_saved_quality(quality):
    image = _saved(_photo(), format="JPEG", quality=quality)
    assert abs(estimate_jpeg_quality(image) - quality) <= 2
    assert estimate_jpeg_quality(_saved(_photo(), format="PNG")) is None


def test_format_matched_takes_the_originals_format_and_quality():
    edited = _photo(3)
    data, provenance = format_matched(edited, _saved(_photo(), format="JPEG", quality=80, subsampling=2))
    again = Image.open(io.BytesIO(data))
    assert again.format == "JPEG" and provenance["format"] == "JPEG"
    assert abs(provenance["quality"] - 80) <= 2 and abs(estimate_jpeg_quality(again) - 80) <= 2
    data, provenance = format_matched(edited, _saved(_photo(), format="PNG"))
    assert Image.open(io.BytesIO(data)).format == "PNG" and provenance["quality"] is None
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(edited))


def test_vae_roundtrip_of_a_tiny_vae_changes_the_image_and_keeps_its_size():
    import torch

    from semitruths_dagster.random_weights.sd import tiny_vae

    torch.manual_seed(0)
    vae = tiny_vae().eval()
    image = _photo(0, (60, 44))  # not a multiple of 8: padded and cropped back
    out = vae_roundtrip(vae, image)
    assert out.size == image.size
    assert not np.array_equal(np.asarray(out), np.asarray(image))
    assert np.array_equal(np.asarray(vae_roundtrip(vae, image)), np.asarray(out))  # deterministic (mode)
