"""Maps: the sliding-window grid and map (against a hand-computed case), the map-output contract on a
tiny test-only torch detector, quantized storage."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from semitruths_dagster.localization.maps import (
    NATIVE,
    SLIDING,
    WindowSettings,
    detector_maps,
    quantize,
    sliding_window_maps,
    window_grid,
)
from semitruths_dagster.localization.storage import load_levels, put_map
from semitruths_dagster.storage import ImageStore
from tests.localization_helpers import red_detector, tiny_map_detector


def test_window_grid_covers_the_image_within_the_cap():
    side, ys, xs = window_grid(100, 160, WindowSettings(window=40, stride=20, max_windows=1000))
    assert side == 40 and list(ys) == [0, 20, 40, 60] and list(xs) == [0, 20, 40, 60, 80, 100, 120]
    side, ys, xs = window_grid(100, 160, WindowSettings(window=40, stride=20, max_windows=13))
    assert list(ys) == [0, 30, 60] and list(xs) == [0, 40, 80, 120]  # thinned, still covering every pixel
    side, ys, xs = window_grid(100, 160, WindowSettings(window=40, stride=20, max_windows=6))
    assert len(ys) * len(xs) == 6 and ys[0] == xs[0] == 0 and ys[-1] == 60 and xs[-1] == 120
    side, ys, xs = window_grid(30, 50, WindowSettings(window=64, stride=8, max_windows=2))
    assert side == 30 and list(ys) == [0] and list(xs) == [0, 20]  # a window never larger than the image


def test_sliding_window_map_is_the_mean_of_covering_windows():
    # left half red (255), right half black: windows of 4 px every 2 px over an 4x8 image
    pixels = np.zeros((4, 8, 3), dtype=np.uint8)
    pixels[:, :4, 0] = 255
    image = Image.fromarray(pixels)
    maps, windows = sliding_window_maps(red_detector(), [image], WindowSettings(window=4, stride=2, max_windows=10))
    assert windows == [3]  # x = 0, 2, 4: red shares 1, 0.5, 0
    expected_columns = [1, 1, 0.75, 0.75, 0.25, 0.25, 0, 0]  # columns 2-3 in windows 0 and 2 (1, .5); 4-5 in (.5, 0)
    assert np.allclose(maps[0], np.tile(expected_columns, (4, 1)), atol=1e-6)


def test_detector_maps_uses_a_map_output_detector_and_checks_its_contract(tmp_path):
    detector = tiny_map_detector(tmp_path)
    images = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (20 + i, 30, 3), dtype=np.uint8))
              for i in range(2)]
    result = detector_maps(detector, images, WindowSettings(8, 4, 4))
    assert result.source == NATIVE and result.windows == [0, 0]
    assert [m.shape for m in result.maps] == [(20, 30), (21, 30)]
    assert np.isfinite(result.scores).all() and all((m >= 0).all() and (m <= 1).all() for m in result.maps)
    sliding = detector_maps(red_detector(), images, WindowSettings(8, 4, 4))
    assert sliding.source == SLIDING and np.isnan(sliding.scores).all() and sliding.windows == [4, 4]

    broken = tiny_map_detector(tmp_path)
    broken.localize = lambda imgs, batch_size=8: (np.zeros(len(imgs)), [np.zeros((5, 5), np.float32)] * len(imgs))
    with pytest.raises(ValueError, match="map 0 has shape"):
        detector_maps(broken, images, WindowSettings())


def test_quantized_map_round_trips_through_the_store(tmp_path):
    prob = np.linspace(0, 1, 600 * 400, dtype=np.float32).reshape(600, 400)
    levels = quantize(prob, map_size=256)
    assert levels.shape == (256, 171) and levels.dtype == np.uint8
    assert levels[0, 0] == 0 and levels[-1, -1] >= 254
    store = ImageStore(tmp_path)
    path, sha = put_map(store, levels)
    assert (load_levels(store, path) == levels).all() and put_map(store, levels) == (path, sha)
