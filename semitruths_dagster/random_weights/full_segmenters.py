"""Random-weight segmenter and refiner at the published architectures' full size (Mask2Former Swin-L ADE20K
panoptic, SAM ViT-H), for throughput benchmarks only (`benchmarks/gpu.py`). Built in memory from
`published_configs`; never saved."""

from __future__ import annotations

from typing import Any

from ..label_sets import ADE20K_150
from ..published_configs import mask2former_config, sam_vision_config

SEGMENTER_ID = "facebook/mask2former-swin-large-ade-panoptic"
REFINER_ID = "facebook/sam-vit-huge"


def full_segmenter() -> tuple[Any, Any]:
    """(Mask2FormerForUniversalSegmentation, its image processor) at full size, random weights."""
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    fields = mask2former_config(SEGMENTER_ID)
    backbone = SwinConfig(**{k: v for k, v in fields.pop("backbone_config").items() if k != "model_type"})
    fields.pop("num_labels")
    id2label = dict(enumerate(ADE20K_150))
    config = Mask2FormerConfig(backbone_config=backbone, id2label=id2label,
                               label2id={v: k for k, v in id2label.items()}, **fields)
    # ADE20K panoptic evaluates at 640 px on the short side (the authors' INPUT.MIN_SIZE_TEST).
    processor = Mask2FormerImageProcessor(size={"shortest_edge": 640, "longest_edge": 2560}, size_divisor=32,
                                          ignore_index=255, do_reduce_labels=False)
    return Mask2FormerForUniversalSegmentation(config).eval(), processor


def full_refiner() -> tuple[Any, Any]:
    """(SamModel, SamProcessor) at full size (ViT-H image encoder), random weights."""
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    model = SamModel(SamConfig(vision_config=sam_vision_config(REFINER_ID))).eval()
    return model, SamProcessor(image_processor=SamImageProcessor())
