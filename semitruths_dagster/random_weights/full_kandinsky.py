"""Kandinsky 2.2 inpainting at full size with random weights, for throughput benchmarks only
(`generation.families.build_full`): the combined pipeline AutoPipelineForInpainting loads for the hub id (prior + decoder).

Sizes from the published configs, matching the model card's table (checked on the 'meta' device in
tests/test_full_builds.py): decoder UNet 1.22 B (9 input channels: latents + masked-image latents + mask;
image-embedding conditioning), MoVQ 67 M, prior transformer 1 B, CLIP ViT-bigG/14 image tower 1.8 B and the
bigG text tower 695 M (both projecting to the 1280-wide image embedding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clip_tokenizer import clip_tokenizer
from .full_sd import clip_text_config
from .kandinsky import clip_image_processor, decoder_scheduler, prior_scheduler

# torch loads when a full-size build runs, not with the family table that names these builders.
if TYPE_CHECKING:
    import torch

EMBED = 1280  # CLIP ViT-bigG image-embedding width
DECODER_UNET = {"sample_size": 64, "in_channels": 9, "out_channels": 8, "addition_embed_type": "image",
                "down_block_types": ("ResnetDownsampleBlock2D",) + ("SimpleCrossAttnDownBlock2D",) * 3,
                "up_block_types": ("SimpleCrossAttnUpBlock2D",) * 3 + ("ResnetUpsampleBlock2D",),
                "mid_block_type": "UNetMidBlock2DSimpleCrossAttn", "block_out_channels": (384, 768, 1152, 1536),
                "layers_per_block": 3, "encoder_hid_dim": EMBED, "encoder_hid_dim_type": "image_proj",
                "cross_attention_dim": 768, "attention_head_dim": 64, "resnet_time_scale_shift": "scale_shift",
                "class_embed_type": None}
MOVQ = {"down_block_types": ("DownEncoderBlock2D",) * 3 + ("AttnDownEncoderBlock2D",),
        "up_block_types": ("AttnUpDecoderBlock2D",) + ("UpDecoderBlock2D",) * 3,
        "block_out_channels": (128, 256, 256, 512), "layers_per_block": 2, "latent_channels": 4,
        "norm_num_groups": 32, "norm_type": "spatial", "num_vq_embeddings": 16384, "vq_embed_dim": 4}
PRIOR = {"num_attention_heads": 32, "attention_head_dim": 64, "num_layers": 20, "embedding_dim": EMBED,
         "num_embeddings": 77, "additional_embeddings": 4}
VIT_BIGG = {"hidden_size": 1664, "intermediate_size": 8192, "num_hidden_layers": 48, "num_attention_heads": 16,
            "image_size": 224, "patch_size": 14, "projection_dim": EMBED, "hidden_act": "gelu"}


def full_kandinsky22_inpaint(device: torch.device) -> Any:
    """KandinskyV22InpaintCombinedPipeline (prior + inpainting decoder) at full size."""
    import torch
    from diffusers import KandinskyV22InpaintCombinedPipeline, PriorTransformer, UNet2DConditionModel, VQModel
    from transformers import CLIPTextModelWithProjection, CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.device(device):
        unet, movq, prior = UNet2DConditionModel(**DECODER_UNET), VQModel(**MOVQ), PriorTransformer(**PRIOR)
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**VIT_BIGG)).eval()
        text_encoder = CLIPTextModelWithProjection(clip_text_config(1280, 32, 20, 5120, EMBED, "gelu", pad=0)).eval()
    return KandinskyV22InpaintCombinedPipeline(
        unet=unet, scheduler=decoder_scheduler(), movq=movq, prior_prior=prior, prior_image_encoder=image_encoder,
        prior_text_encoder=text_encoder, prior_tokenizer=clip_tokenizer(pad_token="!"),
        prior_scheduler=prior_scheduler(), prior_image_processor=clip_image_processor(224),
    )
