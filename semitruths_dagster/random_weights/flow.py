"""Tiny random-weight rectified-flow transformers (FLUX.1, SD 3.5, Qwen-Image) in the hub layout.

Same pipeline classes, component names and kinds of text encoders as the hub checkpoints, scaled down:
FLUX.1 (MMDiT + single-stream blocks, CLIP-L + T5), SD 3.5 (MMDiT; CLIP-L, CLIP-G and T5), Qwen-Image
(MMDiT with a Qwen2.5-VL text encoder and its causal 3D VAE). VAEs downsample by 8 like the real ones,
with 4 latent channels instead of 16. Tokenizers: CLIP's real BPE; small offline T5 / Qwen2 ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .clip_tokenizer import clip_tokenizer
from .sd import _text_config
from .tokenizers import qwen_like_tokenizer, t5_like_tokenizer

LATENT = 4  # latent channels of the tiny VAEs (the real FLUX / SD3 / Qwen-Image VAEs have 16)
SD3_LATENT = 16  # SD3's inpainting pipeline accepts only the real 16 (or 33 for a 9-channel-style model)
T5_WIDTH = 64


def _flow_scheduler(**kwargs: Any) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**kwargs)


def _flow_vae(shift_factor: float, scaling_factor: float, latent: int = LATENT) -> Any:
    """AutoencoderKL without quant convs, as FLUX's and SD3's VAEs."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(16, 16, 32, 32), layers_per_block=1,
        latent_channels=latent, norm_num_groups=8, sample_size=64, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=shift_factor, scaling_factor=scaling_factor,
    )


def _t5() -> Any:
    from transformers import T5Config, T5EncoderModel

    tokenizer = t5_like_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer), d_model=T5_WIDTH, d_kv=16, d_ff=64, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", is_encoder_decoder=False,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    return T5EncoderModel(config).eval(), tokenizer


def _flux(out: Path, fill: bool) -> Any:
    """FLUX.1 [dev] Fill (mask + masked image as extra input channels) or Kontext (image as extra tokens)."""
    from diffusers import FluxFillPipeline, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    packed = LATENT * 4  # latents are packed 2x2 into tokens
    # Fill: latents + masked-image latents + the 8x8 mask per latent pixel, all packed.
    in_channels = packed * 2 + 64 * 4 if fill else packed
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=in_channels, out_channels=packed, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=T5_WIDTH, pooled_projection_dim=32,
        guidance_embeds=True, axes_dims_rope=(4, 6, 6),
    )
    text_encoder_2, tokenizer_2 = _t5()
    cls = FluxFillPipeline if fill else FluxKontextPipeline
    pipe = cls(
        scheduler=_flow_scheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
            max_image_seq_len=4096,
        ),
        vae=_flow_vae(shift_factor=0.1159, scaling_factor=0.3611),
        text_encoder=CLIPTextModel(_text_config()).eval(), tokenizer=clip_tokenizer(),
        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


def build_flux_fill(out: Path) -> Any:
    return _flux(out, fill=True)


def build_flux_kontext(out: Path) -> Any:
    return _flux(out, fill=False)


def build_sd3(out: Path, variant: str = "medium") -> Any:
    """SD 3.5 medium (MMDiT-X: dual attention in the first layers, QK RMS-norm) or large (QK norm only),
    with CLIP-L, CLIP-G (both with projections; pooled outputs concatenated) and T5."""
    from diffusers import SD3Transformer2DModel, StableDiffusion3InpaintPipeline
    from transformers import CLIPTextModelWithProjection

    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=SD3_LATENT, out_channels=SD3_LATENT, num_layers=2,
        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=T5_WIDTH, caption_projection_dim=32,
        pooled_projection_dim=64, pos_embed_max_size=64, qk_norm="rms_norm",  # up to 1024 px
        dual_attention_layers=(0,) if variant == "medium" else (),
    )
    text_encoder_3, tokenizer_3 = _t5()
    pipe = StableDiffusion3InpaintPipeline(
        transformer=transformer, scheduler=_flow_scheduler(shift=3.0),
        vae=_flow_vae(shift_factor=0.0609, scaling_factor=1.5305, latent=SD3_LATENT),
        text_encoder=CLIPTextModelWithProjection(_text_config()).eval(), tokenizer=clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(pad_token_id=0)).eval(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


QWEN_TEXT_WIDTH = 32


def _qwen_vl(tokenizer: Any) -> Any:
    """A tiny Qwen2.5-VL (vision tower + causal LM) whose last hidden states condition the transformer."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": QWEN_TEXT_WIDTH, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "max_position_embeddings": 4096, "layer_types": ["full_attention"] * 2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
        },
        vision_config={
            "depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2,
            "out_hidden_size": QWEN_TEXT_WIDTH, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [0],
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _qwen(out: Path, edit: bool) -> Any:
    """Qwen-Image inpainting (QwenImageInpaintPipeline) or Qwen-Image-Edit (QwenImageEditPipeline: the
    input image goes to the VL encoder and, as latent tokens, to the transformer)."""
    from diffusers import (
        AutoencoderKLQwenImage,
        QwenImageEditPipeline,
        QwenImageInpaintPipeline,
        QwenImageTransformer2DModel,
    )

    tokenizer = qwen_like_tokenizer()
    vae = AutoencoderKLQwenImage(
        base_dim=8, z_dim=LATENT, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
        temperal_downsample=[False, True, True], latents_mean=[0.0] * LATENT, latents_std=[1.0] * LATENT,
    )
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=LATENT * 4, out_channels=LATENT, num_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=QWEN_TEXT_WIDTH, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    scheduler = _flow_scheduler(
        shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9, base_image_seq_len=256,
        max_image_seq_len=8192, shift_terminal=0.02, time_shift_type="exponential",
    )
    parts = {"scheduler": scheduler, "vae": vae, "text_encoder": _qwen_vl(tokenizer), "tokenizer": tokenizer,
             "transformer": transformer}
    if edit:
        from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

        # Few pixels for the tiny vision tower (the real processor allows ~12.8 MP).
        images = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14,
                                       merge_size=2, temporal_patch_size=2)
        processor = Qwen2VLProcessor(image_processor=images, tokenizer=tokenizer,
                                     video_processor=Qwen2VLVideoProcessor())
        pipe = QwenImageEditPipeline(processor=processor, **parts)
    else:
        pipe = QwenImageInpaintPipeline(**parts)
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


def build_qwen_image_inpaint(out: Path) -> Any:
    return _qwen(out, edit=False)


def build_qwen_image_edit(out: Path) -> Any:
    return _qwen(out, edit=True)
