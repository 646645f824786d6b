"""The published configurations of every backbone a model role or detector plugin builds, as data.

One place for the sizes the authors' weights were trained at: plugins and model roles build from their own
libraries' configs, and tests (tests/test_published_configs.py) check those builds against this table, so a
library default that drifts (open_clip's GELU for OpenAI's QuickGELU weights) fails a test instead of
changing every score. Sources: each hub repo's config.json / open_clip's pretrained config / timm's and
torchvision's model definitions, as named per entry. No torch import here.

Fields: `image_size`, `patch_size`, `width` (hidden size), `layers`, `heads`, `mlp` (hidden width of the
MLP), `act` (activation), `registers` (ViT register tokens), `layerscale`; CNNs: `depths` / `dims`
(ConvNeXt stages) or `blocks` (ResNet bottlenecks per stage), `features` (output width); `used_for`: which
output the project uses; `used_by`: model roles / detector plugins that build it.
"""

from __future__ import annotations

from typing import Any

PUBLISHED: dict[str, dict[str, Any]] = {
    # config.json of openai/clip-vit-large-patch14; open_clip `ViT-L-14` + tag `openai` (quick_gelu: True).
    "openai/clip-vit-large-patch14": {
        "open_clip": "open_clip:ViT-L-14/openai",
        "embed_dim": 768,
        "vision": {"image_size": 224, "patch_size": 14, "width": 1024, "layers": 24, "heads": 16, "mlp": 4096,
                   "act": "quick_gelu", "layer_norm_eps": 1e-5},
        "text": {"width": 768, "layers": 12, "heads": 12, "mlp": 3072, "context_length": 77, "vocab_size": 49408,
                 "act": "quick_gelu"},
        "used_for": "image embedding: final-LayerNorm CLS token times the visual projection (encode_image); "
                    "RINE: every block's ln_2(CLS)",
        "used_by": ["role:clip", "universal_fake_detect", "rine", "linear_probe(clip)", "drct(clip-ViT-L-14)",
                    "c2p_clip"],
    },
    # config.json of openai/clip-vit-base-patch32; open_clip `ViT-B-32` + tag `openai`.
    "openai/clip-vit-base-patch32": {
        "open_clip": "open_clip:ViT-B-32/openai",
        "embed_dim": 512,
        "vision": {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12, "heads": 12, "mlp": 3072,
                   "act": "quick_gelu", "layer_norm_eps": 1e-5},
        "text": {"width": 512, "layers": 12, "heads": 8, "mlp": 2048, "context_length": 77, "vocab_size": 49408,
                 "act": "quick_gelu"},
        "used_for": "image and text embeddings (get_image_features / encode_image)",
        "used_by": ["role:saliency", "de_fake"],
    },
    # open_clip `ViT-SO400M-14-SigLIP-384` + tag `webli` (timm trunk vit_so400m_patch14_siglip_384).
    "timm/ViT-SO400M-14-SigLIP-384": {
        "open_clip": "open_clip:ViT-SO400M-14-SigLIP-384/webli",
        "timm": "vit_so400m_patch14_siglip_384",
        "embed_dim": 1152,
        # big_vision trained it with tanh-approximated GELU; open_clip/timm build exact GELU, and CO-SPY's
        # authors ran open_clip, so the heads were trained on exact-GELU features: the project keeps that.
        "vision": {"image_size": 384, "patch_size": 14, "width": 1152, "layers": 27, "heads": 16, "mlp": 4304,
                   "act": "gelu", "pool": "map"},
        "used_for": "image embedding (encode_image, attention-pooled)",
        "used_by": ["cospy"],
    },
    # torchvision.models.resnet50 (timm `resnet50` has the same layout and key names).
    "torchvision/resnet50": {
        "timm": "resnet50",
        "blocks": [3, 4, 6, 3], "width": 64, "features": 2048, "act": "relu",
        "used_for": "pooled layer4 features -> fc",
        "used_by": ["cnnspot", "aide (30-channel stem)"],
    },
    # timm vit_base_patch14_dinov2.lvd142m (= facebook/dinov2-base).
    "timm/vit_base_patch14_dinov2.lvd142m": {
        "transformers": "facebook/dinov2-base",
        "timm": "vit_base_patch14_dinov2.lvd142m",
        "vision": {"image_size": 518, "patch_size": 14, "width": 768, "layers": 12, "heads": 12, "mlp": 3072,
                   "act": "gelu", "layerscale": True, "registers": 0, "layer_norm_eps": 1e-6},
        "used_for": "CLS token after the final LayerNorm",
        "used_by": ["linear_probe(dinov2)", "dinov2_zero_shot (transformers)"],
    },
    # timm vit_base_patch14_reg4_dinov2.lvd142m (= facebook/dinov2-with-registers-base).
    "timm/vit_base_patch14_reg4_dinov2.lvd142m": {
        "transformers": "facebook/dinov2-with-registers-base",
        "timm": "vit_base_patch14_reg4_dinov2.lvd142m",
        "vision": {"image_size": 518, "patch_size": 14, "width": 768, "layers": 12, "heads": 12, "mlp": 3072,
                   "act": "gelu", "layerscale": True, "registers": 4, "layer_norm_eps": 1e-6},
        "used_for": "CLS token after the final LayerNorm -> Linear(768, 1), at 504 px crops",
        "used_by": ["b_free"],
    },
    # timm vit_small_patch16_384.augreg_in21k_ft_in1k.
    "timm/vit_small_patch16_384.augreg_in21k_ft_in1k": {
        "timm": "vit_small_patch16_384.augreg_in21k_ft_in1k",
        "vision": {"image_size": 384, "patch_size": 16, "width": 384, "layers": 12, "heads": 6, "mlp": 1536,
                   "act": "gelu", "layerscale": False, "registers": 0, "layer_norm_eps": 1e-6},
        "used_for": "CLS token after the final LayerNorm -> Linear(384, 1)",
        "used_by": ["community_forensics"],
    },
    # timm convnext_base (DRCT's convnext_base_in22k).
    "timm/convnext_base": {
        "timm": "convnext_base",
        "depths": [3, 3, 27, 3], "dims": [128, 256, 512, 1024], "act": "gelu", "layer_norm_eps": 1e-6,
        "used_for": "pooled, LayerNorm-ed last stage -> head.fc (1024 -> 1024)",
        "used_by": ["drct(convnext_base_in22k)"],
    },
    # open_clip `convnext_xxlarge` (timm trunk convnext_xxlarge).
    "timm/convnext_xxlarge": {
        "timm": "convnext_xxlarge",
        # LayerNorm eps 1e-5 (the LAION CLIP ConvNeXts), which transformers' ConvNeXt cannot be configured with.
        "depths": [3, 4, 30, 3], "dims": [384, 768, 1536, 3072], "act": "gelu", "layer_norm_eps": 1e-5,
        "used_for": "last-stage feature map (trunk without pooling)",
        "used_by": ["aide"],
    },
    # openai/guided-diffusion `256x256_diffusion_uncond.pt` with the MODEL_FLAGS of DIRE's compute_dire.sh
    # (channel_mult: script_util's default for 256 px; attention at 32, 16, 8 px = downsampling 8, 16, 32).
    "openai/256x256_diffusion_uncond": {
        "guided_diffusion": {"image_size": 256, "num_channels": 256, "num_res_blocks": 2,
                             "channel_mult": [1, 1, 2, 2, 4, 4], "attention_resolutions": [32, 16, 8],
                             "num_head_channels": 64, "learn_sigma": True, "use_scale_shift_norm": True,
                             "resblock_updown": True},
        "diffusion": {"steps": 1000, "noise_schedule": "linear", "timestep_respacing": "ddim20",
                      "rescale_timesteps": False, "clip_denoised": True},
        "parameters": 552_814_086,
        "used_for": "eps prediction (first 3 of 6 output channels) for DDIM inversion and reconstruction",
        "used_by": ["dire"],
    },
    # CrossEfficientViT: cross-efficient-vit/configs/architecture.yaml `model:` (Coccomini et al.), on
    # efficientnet_pytorch's EfficientNet-B0 at 224 px (the small branch through its head conv, the large one
    # through block 2).
    "coccomini/cross_efficient_vit": {
        "architecture": {"image-size": 224, "num-classes": 1, "depth": 4, "sm-dim": 192, "sm-patch-size": 7,
                         "sm-enc-depth": 2, "sm-enc-dim-head": 64, "sm-enc-heads": 8, "sm-enc-mlp-dim": 2048,
                         "lg-dim": 384, "lg-patch-size": 56, "lg-enc-depth": 3, "lg-enc-dim-head": 64,
                         "lg-enc-heads": 8, "lg-enc-mlp-dim": 2048, "cross-attn-depth": 2,
                         "cross-attn-dim-head": 64, "cross-attn-heads": 8, "lg-channels": 24, "sm-channels": 1280},
        "efficientnet": "efficientnet-b0",
        "used_for": "sum of the two CLS heads' logits (1 each)",
        "used_by": ["cross_efficient_vit"],
    },
    # Localizers (detectors/localizer.py), from each release's code (named per entry).
    # proteus1991/PSCC-Net models/seg_hrnet_config.py (HRNet-W18-small-v2 widths, one module per stage) with
    # the stride-1 stem of models/seg_hrnet.py; utils/config.py crop_size.
    "proteus1991/PSCC-Net": {
        "channels": [18, 36, 72, 144], "blocks": 2, "layer1": 2, "modules": [1, 1, 1], "stem_stride": 1,
        "stem_width": 64, "crop_size": 256, "features": 128,
        "used_for": "four HRNet levels -> NLCDetection mask1 (map) and DetectionHead softmax[:, 1] (score)",
        "used_by": ["pscc_net"],
    },
    # SunnyHaze/IML-ViT iml_vit_model.py: ViTDet ViT-B/16 at 1024 px, windows 14 except blocks 2, 5, 8, 11.
    "SunnyHaze/IML-ViT": {
        "vision": {"image_size": 1024, "patch_size": 16, "width": 768, "layers": 12, "heads": 12, "mlp": 3072,
                   "act": "gelu", "layer_norm_eps": 1e-6, "window": 14, "global_blocks": [2, 5, 8, 11],
                   "pretrain_size": 224},
        "fpn_channels": 256, "head_dim": 256,
        "used_for": "simple feature pyramid (5 levels) -> predict head -> sigmoid map at 1024",
        "used_by": ["iml_vit"],
    },
    # dong03/MVSS-Net models/mvssnet.py: two ResNet-50s (RGB, Bayar noise) with a dilated layer4 (rates 1, 2, 4).
    "dong03/MVSS-Net": {
        "blocks": [3, 4, 6, 3], "width": 64, "features": 2048, "layer4_dilation": [1, 2, 4], "head_in": 4096,
        "input": 512,
        "used_for": "concatenated layer4 features -> dual attention head -> sigmoid map; score = map maximum",
        "used_by": ["mvss_net", "res_fcn (RGB view only, head_in 2048)"],
    },
    # grip-unina/TruFor test_docker/src/trufor.yaml + encoders/dual_segformer.py `mit_b2` + models/DnCNN.py.
    "grip-unina/TruFor": {
        "dims": [64, 128, 320, 512], "depths": [3, 4, 6, 3], "heads": [1, 2, 5, 8], "sr_ratios": [8, 4, 2, 1],
        "mlp_ratio": 4, "layer_norm_eps": 1e-6, "decoder_dim": 512, "np_layers": 17, "np_width": 64,
        "used_for": "fused MiT-B2 features -> localization map (softmax[1]), confidence -> integrity score",
        "used_by": ["trufor"],
    },
    # Mask2Former's ADE20K panoptic Swin-L config (maskformer2_swin_large_IN21k_384_bs16_160k.yaml): Swin-L
    # IN-21k at 384 px (window 12), 200 queries, 6 pixel-decoder layers, 9 + 1 decoder layers, 150 classes.
    "facebook/mask2former-swin-large-ade-panoptic": {
        "transformers": "Mask2FormerForUniversalSegmentation",
        "backbone": {"model_type": "swin", "image_size": 384, "patch_size": 4, "embed_dim": 192,
                     "depths": [2, 2, 18, 2], "heads": [6, 12, 24, 48], "window_size": 12},
        "hidden_dim": 256, "queries": 200, "encoder_layers": 6, "decoder_layers": 10, "heads": 8,
        "dim_feedforward": 2048, "labels": 150,
        "params_m": 216,  # Mask2Former paper, Table 1 (Swin-L, panoptic)
        "used_for": "panoptic segments (post_process_panoptic_segmentation)",
        "used_by": ["role:segmenter"],
    },
    # config.json of facebook/sam-vit-huge: ViT-H image encoder (global attention every 8th block).
    "facebook/sam-vit-huge": {
        "transformers": "SamModel",
        "vision": {"image_size": 1024, "patch_size": 16, "width": 1280, "layers": 32, "heads": 16, "mlp": 5120,
                   "window_size": 14, "global_attn": [7, 15, 23, 31], "output_channels": 256},
        "params_m": 641,  # SAM paper: 632 M image encoder + prompt encoder and mask decoder
        "used_for": "a mask per box prompt (pred_masks, iou_scores)",
        "used_by": ["role:refiner"],
    },
}


def published(model_id: str) -> dict[str, Any]:
    """The published configuration of `model_id` (a key of PUBLISHED); KeyError names the known ones."""
    try:
        return PUBLISHED[model_id]
    except KeyError:
        raise KeyError(f"no published configuration for {model_id!r} (known: {', '.join(PUBLISHED)})") from None


def open_clip_model_cfg(model_id: str) -> dict[str, Any]:
    """open_clip's model config (as open_clip_config.json's model_cfg) of a published OpenAI CLIP."""
    p = published(model_id)
    v, t = p["vision"], p["text"]
    return {
        "embed_dim": p["embed_dim"],
        "quick_gelu": v["act"] == "quick_gelu",
        "vision_cfg": {"image_size": v["image_size"], "layers": v["layers"], "width": v["width"],
                       "head_width": v["width"] // v["heads"], "patch_size": v["patch_size"],
                       "mlp_ratio": v["mlp"] / v["width"]},
        "text_cfg": {"context_length": t["context_length"], "vocab_size": t["vocab_size"], "width": t["width"],
                     "heads": t["heads"], "layers": t["layers"], "mlp_ratio": t["mlp"] / t["width"]},
    }


def hf_clip_config(model_id: str) -> dict[str, Any]:
    """transformers CLIPConfig fields (text_config, vision_config, projection_dim) of a published CLIP."""
    p = published(model_id)
    v, t = p["vision"], p["text"]
    return {
        "projection_dim": p["embed_dim"],
        "vision_config": {"hidden_size": v["width"], "intermediate_size": v["mlp"], "num_hidden_layers": v["layers"],
                          "num_attention_heads": v["heads"], "patch_size": v["patch_size"],
                          "image_size": v["image_size"], "hidden_act": v["act"],
                          "layer_norm_eps": v["layer_norm_eps"]},
        "text_config": {"hidden_size": t["width"], "intermediate_size": t["mlp"], "num_hidden_layers": t["layers"],
                        "num_attention_heads": t["heads"], "max_position_embeddings": t["context_length"],
                        "vocab_size": t["vocab_size"], "hidden_act": t["act"]},
    }


def mask2former_config(model_id: str) -> dict[str, Any]:
    """Mask2FormerConfig fields of a published Mask2Former (backbone_config as a SwinConfig's fields)."""
    p = published(model_id)
    b = p["backbone"]
    return {
        "backbone_config": {"model_type": "swin", "image_size": b["image_size"], "patch_size": b["patch_size"],
                            "embed_dim": b["embed_dim"], "depths": b["depths"], "num_heads": b["heads"],
                            "window_size": b["window_size"],
                            "out_features": ["stage1", "stage2", "stage3", "stage4"]},
        "hidden_dim": p["hidden_dim"], "num_queries": p["queries"], "encoder_layers": p["encoder_layers"],
        "decoder_layers": p["decoder_layers"], "num_attention_heads": p["heads"],
        "dim_feedforward": p["dim_feedforward"], "num_labels": p["labels"],
    }


def sam_vision_config(model_id: str) -> dict[str, Any]:
    """SamVisionConfig fields of a published SAM."""
    v = published(model_id)["vision"]
    return {"image_size": v["image_size"], "patch_size": v["patch_size"], "hidden_size": v["width"],
            "num_hidden_layers": v["layers"], "num_attention_heads": v["heads"], "mlp_dim": v["mlp"],
            "window_size": v["window_size"], "global_attn_indexes": v["global_attn"],
            "output_channels": v["output_channels"]}
