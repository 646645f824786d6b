"""Post-processing conditions: parsing and errors at configuration load, determinism, label independence."""

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from semitruths_dagster.conditions import ConditionError, ConditionFailed, ConditionParams, parse_condition
from semitruths_dagster.config import ConfigError, load_config


def _image(seed: int = 0, size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["clean", "jpeg_q75", "webp_q75", "resize_0.5", "resize_1.5", "blur_sigma_1",
                                  "noise_std_0.03", "crop_0.8", "jpeg75+resize0.5"])
def test_same_seed_same_bytes_and_label_never_enters(name):
    image = _image()
    sha = hashlib.sha256(_bytes(image)).hexdigest()
    condition = parse_condition(name)
    first, second = condition.apply(image, 0, sha), condition.apply(image.copy(), 0, sha)
    assert _bytes(first) == _bytes(second)
    # apply() takes no label: an image's output depends on its pixels, hash and seed only.
    assert "label" not in condition.apply.__code__.co_varnames
    if condition.is_clean:
        assert _bytes(first) == _bytes(image)
    else:
        assert _bytes(first) != _bytes(image)


def test_steps_do_what_their_names_say():
    image = _image(size=(100, 80))
    assert parse_condition("crop_0.8").apply(image, 0, "x").size == (80, 64)
    assert parse_condition("resize_0.5").apply(image, 0, "x").size == (100, 80)
    noisy = [np.asarray(parse_condition("noise_std_0.03").apply(image, s, "x"), dtype=float) for s in (0, 1)]
    assert not np.array_equal(noisy[0], noisy[1])  # the seed matters
    assert abs((noisy[0] - np.asarray(image, dtype=float)).std() - 0.03 * 255) < 1.5
    blurred = np.asarray(parse_condition("blur_sigma_2").apply(image, 0, "x"), dtype=float)
    assert blurred.std() < np.asarray(image, dtype=float).std() / 2
    assert parse_condition("jpeg75+resize0.5").signature == parse_condition("jpeg_q75+resize_0.5").signature


@pytest.mark.parametrize("names, needle", [
    (["jpeg_q150"], "JPEG quality 150 is outside [1, 100]"),
    (["sharpen_2"], "unknown condition 'sharpen_2'"),
    (["resize_0"], "would leave an empty image"),
    (["crop_0.01"], "would leave an empty image"),
    (["jpeg_q75", "jpeg75"], "same condition"),
    (["jpeg75+bogus"], "step 'bogus'"),
])
def test_bad_conditions_fail_at_configuration_load_naming_the_key(tmp_path, names, needle):
    path = tmp_path / "semitruths.yaml"
    path.write_text("sources:\n  a: {adapter: standardized, root: x}\n"
                    f"conditions:\n  names: {names}\n")
    with pytest.raises(ConfigError, match="conditions") as info:
        load_config(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_per_detector_subset_defaults_to_all():
    params = ConditionParams(names=["jpeg_q75", "resize_0.5"], per_detector={"npr": ["jpeg_q75"]})
    assert [c.name for c in params.for_detector("ufd")] == ["clean", "jpeg_q75", "resize_0.5"]
    assert [c.name for c in params.for_detector("npr")] == ["clean", "jpeg_q75"]
    with pytest.raises(ConditionError, match="per_detector.npr"):
        ConditionParams(names=["jpeg_q75"], per_detector={"npr": ["blur_sigma_1"]})


def test_an_image_too_small_for_a_condition_fails_alone():
    with pytest.raises(ConditionFailed, match="empty"):
        parse_condition("resize_0.05").apply(_image(size=(8, 8)), 0, "x")
