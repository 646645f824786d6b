"""Random-weight pipelines at the real architectures' full size, for throughput benchmarks only
(`generation.families.build_full`).

Configs written out from the published model configs (no hub): SD 1.5 (UNet 860 M parameters, CLIP
ViT-L/14 text encoder, the SD VAE) and SDXL inpainting (UNet 2.6 B, CLIP-L + OpenCLIP bigG text encoders).
InstructPix2Pix is SD 1.5 with an 8-channel UNet input. Built in memory directly on the target device and
dtype; never saved. The other families: full_flow.py (FLUX.1, SD 3.5, Qwen-Image) and full_kandinsky.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clip_tokenizer import CLIP_VOCAB_SIZE, clip_tokenizer
from .sd import sd1_scheduler

# torch loads when a full-size build runs, not with the family table that names these builders.
if TYPE_CHECKING:
    import torch


def clip_text_config(
    hidden: int, layers: int, heads: int, ff: int, projection: int, act: str = "quick_gelu", pad: int = 1
) -> Any:
    """A CLIP text tower (CLIP-L: 768 wide, 12 layers; OpenCLIP bigG: 1280, 32 layers) with CLIP's vocabulary;
    `pad`: the padding id (0 where the tokenizer pads with '!')."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=ff,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        projection_dim=projection,
        hidden_act=act,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=pad,
    )


def _sd_vae(scaling_factor: float) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
        scaling_factor=scaling_factor,
    )


def full_sd1(device: torch.device, in_channels: int = 4, p2p: bool = False) -> Any:
    """SD 1.5 at full size: StableDiffusionInpaintPipeline (or StableDiffusionPipeline for p2p)."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    cls = StableDiffusionPipeline if p2p else StableDiffusionInpaintPipeline
    return cls(**_sd1_parts(device, in_channels), scheduler=sd1_scheduler(), safety_checker=None,
               feature_extractor=None, requires_safety_checker=False)


def full_instruct_pix2pix(device: torch.device) -> Any:
    """timbrooks/instruct-pix2pix at full size: SD 1.5 with an 8-channel UNet input (noisy latents + the input
    image's latents) and its Euler ancestral scheduler."""
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                steps_offset=1)
    return StableDiffusionInstructPix2PixPipeline(**_sd1_parts(device, 8), scheduler=scheduler,
                                                  safety_checker=None, feature_extractor=None,
                                                  requires_safety_checker=False)


def _sd1_parts(device: torch.device, in_channels: int) -> dict[str, Any]:
    import torch
    from transformers import CLIPTextModel

    with torch.device(device):  # initialise the weights where they will run (schedulers stay on the CPU)
        unet, vae = _sd1_unet(in_channels), _sd_vae(0.18215)
        text_encoder = CLIPTextModel(clip_text_config(768, 12, 12, 3072, 768)).eval()
    return {"vae": vae, "text_encoder": text_encoder, "tokenizer": clip_tokenizer(), "unet": unet}


def _sd1_unet(in_channels: int) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=64,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
    )


def full_sdxl_inpaint(device: torch.device) -> Any:
    """SDXL inpainting 0.1 at full size."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    with torch.device(device):
        unet, vae = _sdxl_unet(), _sd_vae(0.13025)
        text_encoder = CLIPTextModel(clip_text_config(768, 12, 12, 3072, 768)).eval()
        text_encoder_2 = CLIPTextModelWithProjection(clip_text_config(1280, 32, 20, 5120, 1280, "gelu")).eval()
    return StableDiffusionXLInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        ),
        requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )


def _sdxl_unet() -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=128,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        cross_attention_dim=2048,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )


def parameter_count(model: Any) -> int:
    """Number of parameters of a torch module."""
    return sum(p.numel() for p in model.parameters())
