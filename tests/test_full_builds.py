"""Full-size random-weight builds (`families.build_full`): every config instantiates (on the 'meta' device: no
memory, no weights) with the published models' sizes, and the GPU benchmark runs the large ones in bf16 with
CPU offload."""

from __future__ import annotations

import sys
from argparse import Namespace

import pytest
import torch

from semitruths_dagster.generation import generator_spec
from semitruths_dagster.generation.families import FAMILIES, FULL_FAMILIES, build_full
from semitruths_dagster.generation.loading import pipeline_dtype
from semitruths_dagster.generation.settings import DeviceSettings
from tests.conftest import REPO

B = 1e9
# Tensors per component (parameters + persistent buffers, i.e. what a checkpoint holds), from the model cards
# and the published checkpoints: SD 1.5 UNet 860 M, SDXL inpainting UNet 2.6 B, FLUX.1 [dev] "12 B"
# (11.9 B), SD 3.5 large 8.1 B and medium 2.5 B (MMDiT-X; both with their learned position tables),
# Qwen-Image 20 B, Qwen2.5-VL-7B 8.3 B, T5-v1.1-XXL encoder 4.76 B, OpenCLIP bigG text tower 695 M,
# CLIP ViT-L/14 text tower 123 M, the SD / FLUX / SD3 VAEs 84 M, Qwen-Image's VAE 127 M; Kandinsky 2.2's
# card: decoder UNet 1.22 B, MoVQ 67 M, prior 1 B, CLIP ViT-bigG image encoder 1.8 B.
SD_VAE, CLIP_L, CLIP_G, T5_XXL = 0.0838 * B, 0.123 * B, 0.695 * B, 4.76 * B
PUBLISHED = {
    "sd1": {"unet": 0.860 * B, "text_encoder": CLIP_L, "vae": SD_VAE},
    "sd1_inpainting": {"unet": 0.860 * B, "text_encoder": CLIP_L, "vae": SD_VAE},
    "sdxl": {"unet": 2.57 * B, "text_encoder": CLIP_L, "text_encoder_2": CLIP_G, "vae": SD_VAE},
    "flux_fill": {"transformer": 11.9 * B, "text_encoder": CLIP_L, "text_encoder_2": T5_XXL, "vae": SD_VAE},
    "flux_kontext": {"transformer": 11.9 * B, "text_encoder": CLIP_L, "text_encoder_2": T5_XXL, "vae": SD_VAE},
    "sd35_medium": {"transformer": 2.5 * B, "text_encoder": CLIP_L, "text_encoder_2": CLIP_G,
                    "text_encoder_3": T5_XXL, "vae": SD_VAE},
    "sd35_large": {"transformer": 8.1 * B, "text_encoder": CLIP_L, "text_encoder_2": CLIP_G,
                   "text_encoder_3": T5_XXL, "vae": SD_VAE},
    "qwen_image": {"transformer": 20.4 * B, "text_encoder": 8.29 * B, "vae": 0.127 * B},
    "qwen_image_edit": {"transformer": 20.4 * B, "text_encoder": 8.29 * B, "vae": 0.127 * B},
    "instruct_pix2pix": {"unet": 0.860 * B, "text_encoder": CLIP_L, "vae": SD_VAE},
    "kandinsky22": {"unet": 1.22 * B, "movq": 0.067 * B, "prior_prior": 1.0 * B, "prior_image_encoder": 1.8 * B,
                    "prior_text_encoder": CLIP_G},
}
# Input / output channels that distinguish the checkpoints of one architecture.
CHANNELS = {"flux_fill": (384, 64), "flux_kontext": (64, 64), "instruct_pix2pix": (8, 4), "sd1": (4, 4), "sd1_inpainting": (9, 4),
            "qwen_image": (64, 16), "sd35_large": (16, 16), "kandinsky22": (9, 8)}


def _method(family: str) -> str:
    return "instruction" if family in ("flux_kontext", "qwen_image_edit", "instruct_pix2pix") else "inpainting"


def _tensors(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in module.state_dict().values())


def test_every_new_family_has_a_full_build():
    assert set(PUBLISHED) == set(FULL_FAMILIES) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(PUBLISHED))
def test_full_build_has_the_published_size(family):
    pipe = build_full(family, _method(family), torch.device("meta"), torch.bfloat16)
    sizes = {name: _tensors(m) for name, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
    assert sizes.keys() == PUBLISHED[family].keys()
    for name, expected in PUBLISHED[family].items():
        assert sizes[name] == pytest.approx(expected, rel=0.03), (family, name, sizes[name] / B)
    assert all(p.dtype == torch.bfloat16 for p in pipe.components[next(iter(PUBLISHED[family]))].parameters())
    if family in CHANNELS:
        denoiser = pipe.components["unet" if "unet" in PUBLISHED[family] else "transformer"]
        assert (denoiser.config.in_channels, denoiser.config.out_channels) == CHANNELS[family]


def test_text_embeddings_have_the_real_vocabulary_sizes():
    """The tokenizers of T5 and Qwen2 are small offline ones; the embedding tables are the real ones."""
    flux = build_full("flux_fill", "inpainting", torch.device("meta"), torch.float32)
    assert tuple(flux.text_encoder_2.get_input_embeddings().weight.shape) == (32128, 4096)
    assert tuple(flux.text_encoder.get_input_embeddings().weight.shape) == (49408, 768)
    assert len(flux.tokenizer_2) <= 32128
    qwen = build_full("qwen_image_edit", "instruction", torch.device("meta"), torch.float32)
    assert tuple(qwen.text_encoder.get_input_embeddings().weight.shape) == (152064, 3584)
    assert qwen.text_encoder.config.image_token_id == qwen.tokenizer.convert_tokens_to_ids("<|image_pad|>")


def test_large_transformers_run_in_bf16_with_cpu_offload_on_a_gpu():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu  # benchmarks/gpu.py

    args = Namespace(arch="full", size=512, steps=50, device="auto", dtype="auto", repeats=1, warmup=1,
                     null_inner_steps=10, prior_steps=25, smoke=False)
    for generator in gpu.GENERATORS:
        expected = "on" if generator_spec(generator).large else "off"
        assert gpu.settings(args, generator).cpu_offload == expected, generator
    assert {"flux_fill", "sd35_medium", "sd35_large", "qwen_image", "flux_kontext", "qwen_image_edit",
            "instruct_pix2pix"} <= set(gpu.GENERATORS)
    on_gpu = DeviceSettings(device="cuda", dtype="auto")
    assert pipeline_dtype(on_gpu, "qwen_image") == torch.bfloat16
    assert pipeline_dtype(on_gpu, "sd15") == torch.float16
    assert pipeline_dtype(DeviceSettings(device="cpu"), "qwen_image") == torch.float32
