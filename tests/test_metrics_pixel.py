"""Known-answer tests for semitruths_dagster.metrics.pixel (MSE, SSIM, Algorithm 2, localization)."""

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from semitruths_dagster.metrics import pixel as px

H = W = 128
NORM = 255.0**2 * 3


def flat(h=H, w=W, value=100):
    return np.full((h, w, 3), value, np.uint8)


def textured(h=H, w=W, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def with_square(img, top, left, s, shift=128):
    out = img.copy()
    # +128 mod 256 moves every channel by exactly 128: per-pixel normalised MSE 0.252 > 0.1
    out[top : top + s, left : left + s] = (img[top : top + s, left : left + s].astype(int) + shift) % 256
    return out


def one(img):
    return img[None]


def test_identical_images():
    img = textured()
    m = px.pixel_metrics(one(img), one(img))
    assert m.mse[0] == 0.0
    assert m.ssim[0] == pytest.approx(1.0)
    assert m.post_edit_ratio[0] == 0.0
    assert m.n_components[0] == 0
    assert m.largest_component_ratio[0] == 0.0
    assert m.max_centroid_distance[0] == 0.0


def test_uniform_colour_shift_exact_mse():
    a = flat()
    b = a.copy()
    b[..., 0] += 10
    m = px.pixel_metrics(one(a), one(b))
    assert m.mse[0] == pytest.approx(100.0 / NORM, rel=1e-12)
    assert m.post_edit_ratio[0] == 0.0  # 100/NORM per pixel is far below 0.1


@pytest.mark.parametrize("base", [flat, textured])
@pytest.mark.parametrize("s", [10, 30])
def test_square_edit_area_after_dilation(base, s):
    a = base()
    b = with_square(a, 40, 50, s)
    m = px.pixel_metrics(one(a), one(b), return_masks=True)
    expect = (s + 10) ** 2 / (H * W)  # 11x11 dilation grows each side by 5
    assert m.post_edit_ratio[0] == pytest.approx(expect)
    assert m.n_components[0] == 1
    assert m.largest_component_ratio[0] == pytest.approx(expect)
    assert m.max_centroid_distance[0] == 0.0
    assert m.masks[0, 40 - 5 : 40 + s + 5, 50 - 5 : 50 + s + 5].all()
    assert m.masks[0].sum() == (s + 10) ** 2
    assert m.mse[0] == pytest.approx(s * s * (128.0**2 * 3 / NORM) / (H * W))


def test_square_at_border_is_clipped_not_wrapped():
    a = flat()
    b = with_square(a, 0, 0, 20)
    m = px.pixel_metrics(one(a), one(b))
    assert m.post_edit_ratio[0] == pytest.approx(25 * 25 / (H * W))  # grows by 5 only inward


def test_noise_and_small_component_filters():
    a = flat()
    b = with_square(a, 10, 10, 3)  # 9 px < 10: noise, removed before dilation
    b = with_square(b, 60, 10, 4)  # 16 px survives, but dilates to 14x14 = 196 < 200: dropped
    assert px.pixel_metrics(one(a), one(b)).n_components[0] == 0
    c = with_square(a, 60, 60, 5)  # 25 px -> 15x15 = 225 >= 200: kept
    m = px.pixel_metrics(one(a), one(c))
    assert m.n_components[0] == 1
    assert m.post_edit_ratio[0] == pytest.approx(225 / (H * W))


def test_params_are_configurable():
    a = flat()
    b = with_square(a, 60, 60, 5)
    p = px.PostEditParams(dilation_size=1, min_component_size=25)
    assert px.pixel_metrics(one(a), one(b), p).post_edit_ratio[0] == pytest.approx(25 / (H * W))
    p = px.PostEditParams(pixel_threshold=0.3)  # 0.252 no longer counts as changed
    assert px.pixel_metrics(one(a), one(b), p).n_components[0] == 0


def test_more_than_255_components_counted_exactly():
    # 20x20 grid of 5x5 blocks, pitch 17: each dilates to 15x15 = 225 px (>= 200) leaving a 2 px gap,
    # so all 400 stay separate; first block at 10 so dilation (5 px) never touches the border (size 350).
    size, pitch, off, n = 350, 17, 10, 20
    a = flat(size, size)
    b = a.copy()
    for i in range(n):
        for j in range(n):
            b = with_square(b, off + i * pitch, off + j * pitch, 5)
    labels = px.post_edit_mask(one(a), one(b))
    assert labels.dtype == np.int32 and labels.max() >= 400
    m = px.pixel_metrics(one(a), one(b))
    assert m.n_components[0] == 400
    assert m.post_edit_ratio[0] == pytest.approx(400 * 225 / size**2)
    assert m.largest_component_ratio[0] == pytest.approx(225 / size**2)
    far = np.hypot(19 * pitch, 19 * pitch)  # centroids of opposite corner blocks
    assert m.max_centroid_distance[0] == pytest.approx(far)
    assert m.max_centroid_distance_norm[0] == pytest.approx(far / np.hypot(size, size))


def test_centroid_distance_two_squares():
    a = flat()
    b = with_square(with_square(a, 10, 10, 10), 100, 90, 10)
    m = px.pixel_metrics(one(a), one(b))
    assert m.n_components[0] == 2
    assert m.max_centroid_distance[0] == pytest.approx(np.hypot(90, 80))
    assert m.diagonal[0] == pytest.approx(np.hypot(H, W))


def test_batched_equals_one_at_a_time_and_skimage_ssim():
    rng = np.random.default_rng(1)
    origs, edits = [], []
    for k in range(5):
        o = textured(seed=k)
        e = with_square(o, int(rng.integers(0, 90)), int(rng.integers(0, 90)), int(rng.integers(5, 40)))
        e = np.clip(e.astype(int) + rng.integers(-20, 20, e.shape), 0, 255).astype(np.uint8)
        origs.append(o)
        edits.append(e)
    origs.append(flat())
    edits.append(flat())
    batch = px.pixel_metrics(np.stack(origs), np.stack(edits)).to_dict()
    for i, (o, e) in enumerate(zip(origs, edits, strict=True)):
        single = px.pixel_metrics(one(o), one(e)).to_dict()
        for k, v in single.items():
            assert batch[k][i] == pytest.approx(v[0], rel=1e-12, abs=1e-12), k
        ref = structural_similarity(o, e, channel_axis=-1, win_size=5, data_range=255)
        assert batch["ssim"][i] == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_ssim_chunking_and_grayscale():
    o = np.stack([textured(seed=s) for s in range(3)])
    e = np.stack([textured(seed=s + 10) for s in range(3)])
    g1, g2 = o[..., 0], e[..., 0]  # (N,H,W) is read as a grayscale batch
    ref = [structural_similarity(a, b, win_size=5, data_range=255) for a, b in zip(g1, g2, strict=True)]
    assert np.allclose(px.ssim(g1, g2), ref, rtol=1e-10)
    assert px.mse(g1[:1], g1[:1])[0] == 0.0
    # non-square images and another window size
    o2, e2 = textured(40, 57, seed=3), textured(40, 57, seed=4)
    ref = structural_similarity(o2, e2, channel_axis=-1, win_size=5, data_range=255)
    assert px.ssim(o2, e2)[0] == pytest.approx(ref, rel=1e-10)
    assert px.ssim(o2, e2, win_size=7)[0] == pytest.approx(
        structural_similarity(o2, e2, channel_axis=-1, win_size=7, data_range=255), rel=1e-10
    )


def test_empty_batch():
    z = np.zeros((0, 16, 16, 3), np.uint8)
    m = px.pixel_metrics(z, z)
    assert all(v.shape == (0,) for v in m.to_dict().values())
    assert px.pixel_metrics_for_pairs([]).mse.shape == (0,)


def test_pairs_of_mixed_sizes_are_aligned_and_kept_in_order():
    small, big = flat(64, 64), textured(96, 80)
    edit_big_resized = Image.fromarray(with_square(big, 10, 10, 20)).resize((40, 50))  # resized back inside
    pairs = [(small, small), (big, edit_big_resized), (Image.fromarray(small), with_square(small, 5, 5, 20))]
    m = px.pixel_metrics_for_pairs(pairs)
    assert m.mse[0] == 0.0 and m.mse[1] > 0 and m.mse[2] > 0
    assert m.post_edit_ratio[2] == pytest.approx(30 * 30 / 64**2)
    assert m.n_components.dtype == np.int64
    o, e = px.align_pair(big, edit_big_resized)
    assert e.shape == o.shape == (96, 80, 3)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        px.pixel_metrics(one(flat(64, 64)), one(flat(64, 65)))


def test_localization_rules():
    share = np.array([0.25, 0.05, 0.05, 0.05, 0.20, np.nan])
    ncomp = np.array([1, 5, 5, 1, 1, 1])
    dist = np.array([0.0, 0.30, 0.10, 0.90, 0.0, 0.0])
    labels = px.localization_labels(share, ncomp, dist, mean_n_components=2.0)
    assert list(labels) == ["diffused", "diffused", "localized", "localized", "diffused", None]
    labels, mean_n = px.dataset_localization(share, ncomp, dist)
    assert mean_n == pytest.approx(14 / 6)


def test_localization_end_to_end():
    a = flat()
    big = with_square(a, 10, 10, 60)  # (70^2)/128^2 = 0.30 >= 0.2
    far = with_square(with_square(with_square(a, 5, 5, 8), 110, 110, 8), 5, 110, 8)  # spread out
    near = with_square(a, 50, 50, 8)
    m = px.pixel_metrics(np.stack([a, a, a]), np.stack([big, far, near]))
    labels, mean_n = px.dataset_localization(
        m.largest_component_ratio, m.n_components, m.max_centroid_distance_norm
    )
    assert list(m.n_components) == [1, 3, 1] and mean_n == pytest.approx(5 / 3)
    assert list(labels) == ["diffused", "diffused", "localized"]


@pytest.mark.parametrize("shape", [(5, 5, 3), (37, 70, 3), (100, 61, 1), (67, 200, 3)])
@pytest.mark.parametrize("win", [5, 7, 13])
def test_ssim_equals_skimage_across_shapes_tiles_and_extremes(shape, win):
    """Tile edges (rows not a multiple of the tile), odd sizes, gray, the int64 path (win 13), and the
    extremes of the value range (black vs white, constant planes): scikit-image's value to 1e-9."""
    if min(shape[:2]) < win:
        with pytest.raises(ValueError, match="exceeds the image extent"):
            px.ssim(np.zeros(shape, np.uint8)[None], np.zeros(shape, np.uint8)[None], win_size=win)
        return
    rng = np.random.default_rng(win)
    pairs = [
        (rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 256, shape, dtype=np.uint8)),
        (np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)),
        (np.full(shape, 255, np.uint8), np.full(shape, 255, np.uint8)),
        (rng.integers(250, 256, shape, dtype=np.uint8), rng.integers(0, 6, shape, dtype=np.uint8)),
    ]
    gray = shape[-1] == 1
    for a, b in pairs:
        ref = structural_similarity(a[..., 0] if gray else a, b[..., 0] if gray else b, win_size=win,
                                    data_range=255, channel_axis=None if gray else -1)
        assert abs(px.ssim(a[None], b[None], win_size=win)[0] - ref) < 1e-9
