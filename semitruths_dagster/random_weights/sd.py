"""Tiny random-weight Stable Diffusion pipelines (SD 1.x and SDXL inpainting) in the hub layout.

Same classes and component names as the hub checkpoints, scaled down: UNet2DConditionModel with
block_out_channels (32, 64) and one layer per block, a 4-level AutoencoderKL (latents are 1/8 of the image
side, as in the real VAE), CLIP text encoders of width 32 with CLIP's real BPE tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .clip_tokenizer import CLIP_VOCAB_SIZE, clip_tokenizer

TEXT_WIDTH = 32


def _text_config(projection_dim: int = 32, pad_token_id: int = 1) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection_dim,
        bos_token_id=49406,
        eos_token_id=49407,  # pooled output is taken at the first EOS, as in the real encoders
        pad_token_id=pad_token_id,
    )


def sd1_scheduler() -> Any:
    """The PNDM scheduler SD 1.x checkpoints ship with (same settings at every size)."""
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def tiny_vae(scaling_factor: float = 0.18215, force_upcast: bool = False) -> Any:
    """A 4-level AutoencoderKL: downsamples by 8 like SD's VAE, with 16-32 channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def tiny_sd1_unet(in_channels: int = 4) -> Any:
    """SD 1.x's UNet layout (cross-attention in the upper blocks and the middle, a plain lowest block)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def build_sd1(out: Path, in_channels: int = 4) -> Any:
    """SD 1.x: StableDiffusionPipeline (4 input channels: sd14, sd15, openjourney, used for inpainting by
    latent blending and for prompt-to-prompt) or StableDiffusionInpaintPipeline (9 channels)."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline
    from transformers import CLIPTextModel

    unet = tiny_sd1_unet(in_channels)
    vae = tiny_vae()
    text_encoder = CLIPTextModel(_text_config()).eval()
    scheduler = sd1_scheduler()
    cls = StableDiffusionInpaintPipeline if in_channels == 9 else StableDiffusionPipeline
    # No safety checker: a random CLIP would flag at random. Recorded as safety_checker=False on results.
    pipe = cls(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


def build_sdxl_inpaint(out: Path) -> Any:
    """SDXL inpainting (9 channels, two text encoders, 'text_time' added conditioning without the
    aesthetic score, as diffusers/stable-diffusion-xl-1.0-inpainting-0.1)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        cross_attention_dim=2 * TEXT_WIDTH,  # both encoders' hidden states, concatenated
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        # pooled text embedding + 6 time ids (original size, crop corner, target size)
        projection_class_embeddings_input_dim=TEXT_WIDTH + 6 * time_dim,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLInpaintPipeline(
        vae=tiny_vae(scaling_factor=0.13025, force_upcast=True),
        text_encoder=CLIPTextModel(_text_config()).eval(),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(pad_token_id=0)).eval(),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=scheduler,
        requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


def build_instruct_pix2pix(out: Path) -> Any:
    """InstructPix2Pix (timbrooks/instruct-pix2pix): SD 1.5 with an 8-channel UNet (noisy latents + the
    input image's latents) and the Euler ancestral scheduler it ships with."""
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline
    from transformers import CLIPTextModel

    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=tiny_vae(),
        text_encoder=CLIPTextModel(_text_config()).eval(),
        tokenizer=clip_tokenizer(),
        unet=tiny_sd1_unet(in_channels=8),
        scheduler=EulerAncestralDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe
