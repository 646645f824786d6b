"""Working sizes: each image at its own size where the generator allows it (no resampling), else the nearest
allowed size with its aspect kept, or the family's trained bucket; the resampling recorded on every row."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from semitruths_dagster.generation import (
    DeviceSettings,
    EditItem,
    InpaintItem,
    InstructItem,
    P2PParams,
    edit,
    load_pipeline,
    resolve_generator,
)
from semitruths_dagster.generation.inpaint import inpaint
from semitruths_dagster.generation.instruct import instruct
from semitruths_dagster.generation.registry import GENERATORS, generator_spec
from semitruths_dagster.generation.stage import SCHEMA, TABLE, GenerationParams, plan, run_partition
from semitruths_dagster.hub import ModelSource
from semitruths_dagster.storage import ImageStore
from semitruths_dagster.storage.resumable import ResumablePartition
from semitruths_dagster.storage.tables import TableStore


def _photo(size: tuple[int, int]) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea()).resize(size, Image.Resampling.LANCZOS)


def _load(tiny_models, name: str, method: str):
    return load_pipeline(resolve_generator(name, ModelSource("tiny", tiny_root=tiny_models)), method, DeviceSettings(device="cpu"))


def test_sd1_at_its_own_size_is_not_resampled(tiny_models):
    """SD 1.x on an original whose sides are multiples of 8 within its 512 x 512 budget runs at the
    original's size: the pipeline gets the original's pixels and its output is not resized."""
    photo = _photo((64, 48))
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (0, 0, 24, 16))
    [result] = inpaint(_load(tiny_models, "sd14", "inpainting"),
                       [InpaintItem("a", photo, mask, "a red cat", seed=0, steps=2)])
    assert result.working_size == (64, 48) == result.output_size == photo.size
    assert result.resampled is False and result.resample_filter is None
    row = result.record()
    assert row["resampled"] is False and row["working_size"] == [64, 48]


def test_p2p_and_instruction_editing_run_at_the_originals_size(tiny_models):
    photo = _photo((64, 48))
    [edited] = edit(_load(tiny_models, "sd14", "p2p"),
                    [EditItem("p", photo, "a cat", "a dog", seed=0,
                              params=P2PParams(steps=2, null_inner_steps=1, size=(64, 48)))])
    assert edited.working_size == (64, 48) and edited.resampled is False
    [instructed] = instruct(_load(tiny_models, "instruct_pix2pix", "instruction"),
                            [InstructItem("i", photo, "make it red", seed=0, steps=2)])
    assert instructed.working_size == (64, 48) and instructed.resampled is False
    assert instructed.image.size == photo.size


@pytest.mark.parametrize(("original", "expected"), [
    ((512, 512), (512, 512)),    # the released samples: no resampling at all
    ((64, 48), (64, 48)),        # smaller than the budget, multiples of 8: itself
    ((1024, 768), (584, 440)),   # 4:3 at about 512 x 512 pixels
    ((500, 375), (496, 376)),    # the nearest multiples of 8
    ((768, 1024), (440, 584)),   # portrait stays portrait
])
def test_sd1_working_size_keeps_the_aspect_within_its_budget(original, expected):
    size = generator_spec("sd15").working_size(original)
    assert size == expected
    assert size[0] * size[1] <= 512 * 512 and size[0] % 8 == 0 and size[1] % 8 == 0
    assert abs(size[0] / size[1] - original[0] / original[1]) < 0.02


def test_every_generator_gives_multiples_of_its_factor_within_its_budget():
    rng = np.random.default_rng(0)
    for name, spec in GENERATORS.items():
        m = spec.facts.sizing.multiple
        for w, h in rng.integers(100, 3000, size=(30, 2)):
            size = spec.working_size((int(w), int(h)))
            assert size[0] % m == 0 and size[1] % m == 0, (name, w, h, size)
            if not spec.facts.sizing.buckets:
                assert size[0] * size[1] <= max(spec.default_size ** 2, int(w) * int(h)) * 1.1, (name, w, h, size)
                assert abs(np.log(size[0] / size[1]) - np.log(w / h)) < 0.25, (name, w, h, size)


@pytest.mark.parametrize(("original", "bucket"), [
    ((1920, 1080), (1664, 928)),   # 16:9
    ((1080, 1920), (928, 1664)),   # 9:16
    ((1024, 768), (1472, 1136)),   # 4:3: the model card's 1472 x 1140, floored to 16 as the pipeline does
    ((600, 400), (1584, 1056)),    # 3:2
    ((512, 512), (1328, 1328)),    # 1:1
])
def test_qwen_image_uses_its_model_cards_buckets(original, bucket):
    assert generator_spec("qwen_image").working_size(original) == bucket


def test_flux_kontext_picks_the_bucket_its_pipeline_would():
    from diffusers.pipelines.flux.pipeline_flux_kontext import PREFERRED_KONTEXT_RESOLUTIONS

    spec = generator_spec("flux_kontext")
    assert tuple(map(tuple, PREFERRED_KONTEXT_RESOLUTIONS)) == spec.facts.sizing.buckets  # one table, checked
    for original in ((1024, 768), (768, 1024), (1920, 1080), (640, 640), (2048, 900)):
        aspect = original[0] / original[1]
        _, w, h = min((abs(aspect - w / h), w, h) for w, h in PREFERRED_KONTEXT_RESOLUTIONS)
        assert spec.working_size(original) == (w, h)
    assert spec.working_size((1024, 768), size=64)[0] > spec.working_size((1024, 768), size=64)[1]


def test_qwen_image_edit_runs_where_its_pipeline_resizes_the_image():
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit import calculate_dimensions

    spec = generator_spec("qwen_image_edit")
    for original in ((1024, 768), (512, 512), (730, 530), (2048, 1024), (333, 777)):
        size = spec.working_size(original)
        # given an image of that size, the pipeline keeps it: no second resize inside the pipeline
        assert calculate_dimensions(1024 * 1024, size[0] / size[1])[:2] == size


def test_flux_and_sd35_at_multiples_of_16_around_one_megapixel():
    for name in ("flux_fill", "sd35_medium", "sd35_large"):
        spec = generator_spec(name)
        assert spec.working_size((1024, 1024)) == (1024, 1024)
        assert spec.working_size((1920, 1080)) == (1360, 768)
        assert spec.working_size((720, 480)) == (720, 480)  # multiples of 16 within 1 MP: itself


def test_square_sizing_is_the_old_working_size():
    assert generator_spec("sd15").working_size((96, 72), 64, "square") == (64, 64)
    with pytest.raises(ValueError, match="generation.sizing"):
        GenerationParams(sizing="stretch")


@pytest.fixture
def world(tmp_path):
    store = ImageStore(tmp_path / "images")
    image_path, _ = store.put_png(_photo((96, 72)))
    mask = Image.new("L", (96, 72), 0)
    mask.paste(255, (10, 10, 40, 40))
    mask_path, _ = store.put_png(mask)
    request = {"dataset": "d", "image_id": "cat", "valid": True, "magnitude": "small", "request_id": "r1",
               "mask_id": "m1", "method": "inpainting", "original": "cat", "perturbed": "dog",
               "edit_mode": "replace"}
    caption = request | {"request_id": "r2", "mask_id": None, "method": "p2p", "original": "a cat",
                         "perturbed": "a dog", "edit_mode": "caption"}
    return tmp_path, store, [request, caption], {"m1": mask_path}, {"cat": image_path}


@pytest.mark.parametrize(("sizing", "working", "resampled"), [("native", [72, 56], True),
                                                               ("square", [64, 64], True)])
def test_the_stage_records_working_size_and_resampling(tiny_models, world, sizing, working, resampled):
    root, store, prompts, masks, images = world
    params = GenerationParams(generators=("sd14",), methods=("inpainting", "p2p"), steps=2, size=64,
                              sizing=sizing, chunk_size=1, p2p={"null_inner_steps": 1})
    ref = resolve_generator("sd14", ModelSource("tiny", tiny_root=tiny_models))
    items = plan(prompts, masks, images, "sd14", params, ref.ref, seed=0)
    partition = ResumablePartition(TableStore(root / "tables"), TABLE, {"dataset": "d", "generator": "sd14"},
                                   "generation_id", SCHEMA)
    frame, _ = run_partition(items, partition, store, lambda m: load_pipeline(ref, m, DeviceSettings(device="cpu")),
                             params, log=lambda _: None)
    assert sorted(frame["method"]) == ["inpainting", "p2p"]
    for row in frame.iter_rows(named=True):  # every method at the same working size
        assert row["working_size"] == working and row["output_size"] == [96, 72]  # aspect kept under native
        assert row["resampled"] is resampled and row["resample_filter"] == "pil_bicubic/pil_bicubic"
        assert store.open(row["image_path"]).size == (96, 72)


def test_resampling_is_recorded_per_direction_and_untouched_pixels_stay_identical():
    from semitruths_dagster.generation.sizing import resample_record, to_original, to_working

    photo = _photo((64, 48))
    assert np.array_equal(np.asarray(to_working(photo, (64, 48))), np.asarray(photo))  # no filter at all
    assert to_original(photo, (64, 48)) is photo
    assert resample_record((64, 48), (64, 48), (64, 48)) == (False, None)
    assert resample_record((96, 72), (72, 56), (72, 56)) == (True, "pil_bicubic/pil_bicubic")
    # a pipeline that rounds the size itself (Kandinsky 2.2 to multiples of 64): only the way back
    assert resample_record((64, 48), (64, 48), (64, 64)) == (True, "none/pil_bicubic")
