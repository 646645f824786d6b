"""Random-weight rectified-flow pipelines at the real models' full size, for throughput benchmarks only
(`generation.families.build_full`): FLUX.1 Fill / Kontext [dev], SD 3.5 medium / large, Qwen-Image / Qwen-Image-Edit.

Every size below is a fact of the published config.json files (transformer, VAE, text encoders), written as
data; `tests/test_full_builds.py` builds each on the 'meta' device and checks the published parameter
counts (FLUX.1 transformer 11.9 B, SD 3.5 large 8.1 B / medium 2.5 B, Qwen-Image 20 B, T5-XXL encoder
4.76 B, Qwen2.5-VL-7B 8.3 B). Tokenizers: CLIP's real BPE; T5 and Qwen2 are the small offline-trained
ones (their ids stay within the real embedding tables, which have the real sizes). Never saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clip_tokenizer import clip_tokenizer
from .full_sd import clip_text_config
from .tokenizers import qwen_like_tokenizer, t5_like_tokenizer

# torch loads when a full-size build runs, not with the family table that names these builders.
if TYPE_CHECKING:
    import torch

# google/t5-v1_1-xxl (text_encoder_2 of FLUX.1, text_encoder_3 of SD 3.5): the encoder half only.
T5_XXL = {"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
          "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
          "feed_forward_proj": "gated-gelu", "layer_norm_epsilon": 1e-6}
# FLUX.1 [dev] transformer (Fill: 384 input channels = 64 latents + 64 masked-image latents + 256 mask).
FLUX_TRANSFORMER = {"patch_size": 1, "in_channels": 64, "out_channels": 64, "num_layers": 19,
                    "num_single_layers": 38, "attention_head_dim": 128, "num_attention_heads": 24,
                    "joint_attention_dim": 4096, "pooled_projection_dim": 768, "guidance_embeds": True,
                    "axes_dims_rope": (16, 56, 56)}
FLUX_FILL_IN_CHANNELS = 384
# The FLUX.1 and SD 3 VAEs: SD's AutoencoderKL with 16 latent channels and no quant convs.
FLOW_VAE = {"block_out_channels": (128, 256, 512, 512), "layers_per_block": 2, "latent_channels": 16,
            "use_quant_conv": False, "use_post_quant_conv": False, "sample_size": 1024}
SD35_TRANSFORMER = {
    "medium": {"num_layers": 24, "num_attention_heads": 24, "caption_projection_dim": 1536,
               "pos_embed_max_size": 384, "dual_attention_layers": tuple(range(13))},
    "large": {"num_layers": 38, "num_attention_heads": 38, "caption_projection_dim": 2432,
              "pos_embed_max_size": 192, "dual_attention_layers": ()},
}
SD35_COMMON = {"sample_size": 128, "patch_size": 2, "in_channels": 16, "out_channels": 16,
               "attention_head_dim": 64, "joint_attention_dim": 4096, "pooled_projection_dim": 2048,
               "qk_norm": "rms_norm"}
QWEN_TRANSFORMER = {"patch_size": 2, "in_channels": 64, "out_channels": 16, "num_layers": 60,
                    "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 3584,
                    "guidance_embeds": False, "axes_dims_rope": (16, 56, 56)}
# Its latent statistics are diffusers' defaults for AutoencoderKLQwenImage (the published ones).
QWEN_VAE = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
            "temperal_downsample": [False, True, True]}
# Qwen/Qwen-Image text_encoder (Qwen2.5-VL-7B-Instruct).
QWEN_VL_TEXT = {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 128000,
                "rms_norm_eps": 1e-6, "layer_types": ["full_attention"] * 28,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}}
QWEN_VL_VISION = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                  "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                  "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "hidden_act": "silu"}


def _t5_xxl() -> Any:
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(**T5_XXL, is_encoder_decoder=False, pad_token_id=0, eos_token_id=1)).eval()


def _flow_vae(shift_factor: float, scaling_factor: float) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         shift_factor=shift_factor, scaling_factor=scaling_factor, **FLOW_VAE)


def _flow_scheduler(**kwargs: Any) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**kwargs)


def full_flux(device: torch.device, fill: bool) -> Any:
    """FLUX.1 Fill [dev] (FluxFillPipeline) or FLUX.1 Kontext [dev] (FluxKontextPipeline): CLIP-L + T5-XXL."""
    import torch
    from diffusers import FluxFillPipeline, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    config = FLUX_TRANSFORMER | ({"in_channels": FLUX_FILL_IN_CHANNELS} if fill else {})
    with torch.device(device):
        transformer = FluxTransformer2DModel(**config)
        vae = _flow_vae(shift_factor=0.1159, scaling_factor=0.3611)
        text_encoder = CLIPTextModel(clip_text_config(768, 12, 12, 3072, 768)).eval()
        text_encoder_2 = _t5_xxl()
    cls = FluxFillPipeline if fill else FluxKontextPipeline
    return cls(
        scheduler=_flow_scheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                  base_image_seq_len=256, max_image_seq_len=4096),
        vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(), text_encoder_2=text_encoder_2,
        tokenizer_2=t5_like_tokenizer(), transformer=transformer,
    )


def full_sd35(device: torch.device, variant: str) -> Any:
    """SD 3.5 medium (MMDiT-X) or large: StableDiffusion3InpaintPipeline with CLIP-L, CLIP-G and T5-XXL."""
    import torch
    from diffusers import SD3Transformer2DModel, StableDiffusion3InpaintPipeline
    from transformers import CLIPTextModelWithProjection

    with torch.device(device):
        transformer = SD3Transformer2DModel(**SD35_COMMON, **SD35_TRANSFORMER[variant])
        vae = _flow_vae(shift_factor=0.0609, scaling_factor=1.5305)
        clip_l = CLIPTextModelWithProjection(clip_text_config(768, 12, 12, 3072, 768)).eval()
        clip_g = CLIPTextModelWithProjection(clip_text_config(1280, 32, 20, 5120, 1280, "gelu", pad=0)).eval()
        t5 = _t5_xxl()
    return StableDiffusion3InpaintPipeline(
        transformer=transformer, scheduler=_flow_scheduler(shift=3.0), vae=vae,
        text_encoder=clip_l, tokenizer=clip_tokenizer(), text_encoder_2=clip_g,
        tokenizer_2=clip_tokenizer(pad_token="!"), text_encoder_3=t5, tokenizer_3=t5_like_tokenizer(),
    )


def _qwen_vl(tokenizer: Any) -> Any:
    """Qwen2.5-VL-7B at its real size; the vision-token ids are the offline tokenizer's."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {f"{k}_token_id": tokenizer.convert_tokens_to_ids(t) for k, t in (
        ("image", "<|image_pad|>"), ("video", "<|video_pad|>"), ("vision_start", "<|vision_start|>"),
        ("vision_end", "<|vision_end|>"))}
    config = Qwen2_5_VLConfig(text_config=QWEN_VL_TEXT, vision_config=QWEN_VL_VISION, tie_word_embeddings=False,
                              **ids)
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def full_qwen_image(device: torch.device, edit: bool) -> Any:
    """Qwen-Image inpainting (QwenImageInpaintPipeline) or Qwen-Image-Edit (QwenImageEditPipeline)."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        QwenImageEditPipeline,
        QwenImageInpaintPipeline,
        QwenImageTransformer2DModel,
    )

    tokenizer = qwen_like_tokenizer()
    with torch.device(device):
        transformer = QwenImageTransformer2DModel(**QWEN_TRANSFORMER)
        vae = AutoencoderKLQwenImage(**QWEN_VAE)
        text_encoder = _qwen_vl(tokenizer)
    parts = {"transformer": transformer, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
             "scheduler": _flow_scheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
                                          base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02,
                                          time_shift_type="exponential")}
    if not edit:
        return QwenImageInpaintPipeline(**parts)
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    # The published processor: 56x56 .. 28x28x16384 pixels, 14 px patches merged 2x2.
    images = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056, patch_size=14, merge_size=2,
                                   temporal_patch_size=2)
    processor = Qwen2VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())
    return QwenImageEditPipeline(processor=processor, **parts)
