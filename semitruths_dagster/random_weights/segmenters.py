"""Tiny random-weight segmenter (Mask2Former, the class of facebook/mask2former-swin-large-ade-panoptic) and
refiner (SAM, the class of facebook/sam-vit-huge), saved in the hub layout for the `segmenter` / `refiner`
roles. Labels are ADE20K's 150 panoptic classes, so masks carry real class names (drawn by random weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..label_sets import ADE20K_150

CONFIDENT = 30.0  # weight scale of the tiny segmenter's class and mask heads


def build_segmenter(out: Path) -> Any:
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    # The published Swin-L backbone (published_configs) scaled down: 4 stages of one block, width 16.
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                          window_size=4, out_features=["stage1", "stage2", "stage3", "stage4"])
    id2label = dict(enumerate(ADE20K_150))
    config = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                               encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
                               dim_feedforward=64, num_queries=16, id2label=id2label,
                               label2id={v: k for k, v in id2label.items()})
    model = Mask2FormerForUniversalSegmentation(config).eval()
    # A random init scores every class near 1/151 and draws masks near 0.5, and transformers' panoptic
    # post-processing (which weighs each mask by its score, then keeps pixels >= 0.5) would find no segment:
    # larger class and mask weights make confident random segments, so the pipeline's code paths run. The
    # "no object" class gets a low bias for the same reason. Still random weights (labelled as such).
    import torch

    with torch.no_grad():
        model.class_predictor.weight.mul_(CONFIDENT)
        model.class_predictor.bias[-1] = -10.0
        model.model.transformer_module.decoder.mask_predictor.mask_embedder.get_submodule("2.0").weight.mul_(CONFIDENT)
    processor = Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 128}, size_divisor=32,
                                          ignore_index=255, do_reduce_labels=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return model


def build_refiner(out: Path) -> Any:
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    # SAM's three parts at width 32; 64 px inputs (4 x 4 patches of 16 px) instead of 1024 px.
    vision = {"hidden_size": 32, "output_channels": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "mlp_dim": 64, "image_size": 64, "patch_size": 16, "window_size": 2, "global_attn_indexes": [1],
              "num_pos_feats": 16}
    prompt = {"hidden_size": 32, "image_size": 64, "patch_size": 16, "image_embedding_size": 4}
    decoder = {"hidden_size": 32, "mlp_dim": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
               "iou_head_hidden_dim": 32}
    model = SamModel(SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)).eval()
    images = SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    model.save_pretrained(out)
    SamProcessor(image_processor=images).save_pretrained(out)
    return model
