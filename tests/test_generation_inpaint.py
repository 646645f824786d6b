"""Inpainting with the tiny random-weight generators: loading, determinism, batching, sizes, black flag."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from PIL import Image

from semitruths_dagster.generation import (
    DeviceSettings,
    InpaintItem,
    clear_pipeline_cache,
    ensure_tiny_generator,
    load_pipeline,
    resolve_generator,
)
from semitruths_dagster.generation.inpaint import inpaint
from semitruths_dagster.hub import ModelSource, ModelUnavailableError

SIZE = 64
STEPS = 2


@pytest.fixture(scope="module")
def tiny_root(tiny_models):
    return tiny_models


@pytest.fixture(scope="module")
def photo() -> tuple[Image.Image, Image.Image]:
    """A real photo (skimage's chelsea) at a non-square size, and a soft mask in its top-left corner."""
    from skimage import data

    image = Image.fromarray(data.chelsea()).resize((96, 72))
    mask = np.zeros((72, 96), np.uint8)
    mask[:24, :32] = 255
    return image, Image.fromarray(mask)


def _items(photo, prompts, seeds=None):
    image, mask = photo
    seeds = seeds or list(range(len(prompts)))
    return [
        InpaintItem(f"item{i}", image, mask, p, seed=s, steps=STEPS, size=SIZE, prior_steps=2)
        for i, (p, s) in enumerate(zip(prompts, seeds, strict=True))
    ]


def _arr(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def _load(tiny_root, name, **settings):
    return load_pipeline(
        resolve_generator(name, ModelSource("tiny", tiny_root=tiny_root)), "inpainting", DeviceSettings(**settings)
    )


def test_tiny_build_is_deterministic_and_idempotent(tmp_path):
    a = ensure_tiny_generator(tmp_path / "a", "sd14")
    stamp = (a / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_generator(tmp_path / "a", "sd14") == a  # second call reuses the folder
    assert (a / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == stamp
    b = ensure_tiny_generator(tmp_path / "b", "sd14")
    for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        assert (a / part).read_bytes() == (b / part).read_bytes()
    assert not [p for p in a.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


@pytest.mark.parametrize(
    ("name", "pipeline", "scheduler"),
    [
        ("sd14", "StableDiffusionInpaintPipeline", "PNDMScheduler"),
        ("sdxl", "StableDiffusionXLInpaintPipeline", "EulerDiscreteScheduler"),
        ("kandinsky22", "KandinskyV22InpaintCombinedPipeline", "DDPMScheduler"),
    ],
)
def test_every_architecture_inpaints_at_the_original_size(tiny_root, photo, name, pipeline, scheduler):
    loaded = _load(tiny_root, name)
    [result] = inpaint(loaded, _items(photo, ["a red cat"]))
    assert result.image.size == photo[0].size == result.output_size
    assert result.working_size == (SIZE, SIZE)
    assert (result.pipeline, result.scheduler) == (pipeline, scheduler)
    row = result.record()
    assert row["random_weights"] is True and row["safety_checker"] is False
    assert row["generator"] == name and row["method"] == "inpainting" and row["hub_id"]
    assert row["steps"] == STEPS and row["seed"] == 0 and "image" not in row


def test_reload_from_disk_gives_identical_images(tiny_root, photo):
    first = _arr(next(inpaint(_load(tiny_root, "sd15"), _items(photo, ["a dog"]))))
    clear_pipeline_cache()  # the next load reads the saved folder again through from_pretrained
    again = _arr(next(inpaint(_load(tiny_root, "sd15"), _items(photo, ["a dog"]))))
    assert np.array_equal(first, again)


def test_pipeline_is_loaded_once_per_settings(tiny_root):
    assert _load(tiny_root, "sd14") is _load(tiny_root, "sd14", batch_size=4)
    eager = _load(tiny_root, "sd14", attention="eager")
    assert eager is not _load(tiny_root, "sd14")
    assert {type(p).__name__ for p in eager.pipe.unet.attn_processors.values()} == {"AttnProcessor"}


def test_batch_gives_the_same_images_as_one_at_a_time(tiny_root, photo):
    items = _items(photo, ["a cat", "a dog", "a tree"], seeds=[3, 4, 5])
    batched = list(inpaint(_load(tiny_root, "sd14"), items, DeviceSettings(batch_size=3)))
    single = list(inpaint(_load(tiny_root, "sd14"), items, DeviceSettings(batch_size=1)))
    assert [r.batch_size for r in batched] == [3, 3, 3] and [r.key for r in batched] == [
        "item0",
        "item1",
        "item2",
    ]
    for a, b in zip(batched, single, strict=True):
        assert np.abs(_arr(a) - _arr(b)).max() <= 1  # float rounding of batched kernels, at most 1/255
    assert not np.array_equal(_arr(batched[0]), _arr(batched[1]))  # seeds and prompts matter


def test_four_channel_inpainting_keeps_far_pixels_whatever_the_prompt(tiny_root, photo):
    """SD 1.x text-to-image checkpoints inpaint by blending latents: outside the mask the final latents
    are the image's, so pixels far from the mask barely depend on the prompt (the VAE decoder's attention
    block still mixes a little in from everywhere). They are NOT the original pixels: the tiny random VAE
    does not reconstruct images, so that is not asserted."""
    loaded = _load(tiny_root, "sd14")
    a, b = (_arr(r) for r in inpaint(loaded, _items(photo, ["a cat", "a bright red car"], seeds=[7, 7])))
    far = (slice(48, None), slice(64, None))  # mask is rows < 24, cols < 32
    far_change, inside_change = np.abs(a[far] - b[far]).mean(), np.abs(a[:24, :32] - b[:24, :32]).mean()
    assert far_change < 0.5 and np.abs(a[far] - b[far]).max() <= 3
    assert inside_change > 10 * far_change  # inside, the prompt changes the pixels


def test_safety_checker_black_outputs_are_flagged(tiny_root, photo):
    from diffusers import StableDiffusionInpaintPipeline
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    loaded = _load(tiny_root, "sd14")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    checker.concept_embeds_weights.data.fill_(-2.0)  # every cosine exceeds the threshold: all flagged
    pipe = StableDiffusionInpaintPipeline(
        **{
            **loaded.pipe.components,
            "safety_checker": checker,
            "feature_extractor": CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32),
        },
    )
    pipe.set_progress_bar_config(disable=True)
    flagged = dataclasses.replace(loaded, pipe=pipe, safety_checker=True)
    [result] = inpaint(flagged, _items(photo, ["a cat"]))
    assert result.black and result.nsfw_flagged and result.safety_checker
    [clean] = inpaint(loaded, _items(photo, ["a cat"]))
    assert not clean.black and clean.nsfw_flagged is None


def test_missing_hub_id_fails_fast_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = resolve_generator("sd14", ModelSource("paper", overrides={"sd14": "nobody/no-such-model-xyz"}))
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        load_pipeline(ref, "inpainting")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "generator 'sd14'" in message and "nobody/no-such-model-xyz" in message
    assert "generation.overrides.sd14" in message


def test_paper_profile_names_the_paper_hub_ids(tmp_path):
    assert resolve_generator("sd15", ModelSource("paper")).ref == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert (
        resolve_generator("kandinsky22", ModelSource("paper")).ref == "kandinsky-community/kandinsky-2-2-decoder-inpaint"
    )
    with pytest.raises(ModelUnavailableError, match="model_index.json"):
        load_pipeline(resolve_generator("sd14", ModelSource(overrides={"sd14": str(tmp_path)})), "inpainting")
    with pytest.raises(ValueError, match="does not support"):
        load_pipeline(resolve_generator("sdxl", ModelSource("paper")), "p2p")


def test_device_settings_resolve_auto():
    cpu = DeviceSettings(device="cpu")
    assert cpu.torch_dtype() == torch.float32
    assert DeviceSettings(device="cpu", dtype="bf16").torch_dtype() == torch.bfloat16
    assert DeviceSettings().torch_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        DeviceSettings(batch_size=0)
