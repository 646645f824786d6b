"""Labelled masks from a panoptic segmenter (the `segmenter` role: Mask2Former or MaskFormer through
transformers), optionally refined by SAM (the `refiner` role), then filtered (`SegmentParams`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..label_sets import stuff_ids
from ..models.handle import LoadedModel
from ..sections import SegmentParams


@dataclass
class Segment:
    label: str
    label_id: int
    score: float  # the segmenter's class probability of the query
    is_thing: bool
    mask: np.ndarray  # bool, the image's size
    refined: bool = False
    refine_score: float | None = None  # SAM's predicted IoU


def segment(handle: LoadedModel, image: Image.Image, params: SegmentParams) -> list[Segment]:
    """Panoptic segments of one image (stuff classes fused per class, as the panoptic task defines them)."""
    model, processor = handle.model, handle.processor
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    stuff = stuff_ids(id2label, tuple(params.stuff_labels))
    inputs = processor(images=[image], return_tensors="pt").to(handle.device)
    inputs = {k: v.to(handle.dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.inference_mode():
        outputs = model(**inputs)
    result = processor.post_process_panoptic_segmentation(
        outputs, threshold=params.min_score, overlap_mask_area_threshold=params.min_mask_share,
        label_ids_to_fuse=set(stuff),
        target_sizes=[(image.height, image.width)])[0]
    labels = result["segmentation"].cpu().numpy()
    best: dict[int, dict] = {}  # a fused stuff segment is listed once per query that joined it
    for info in result["segments_info"]:
        if info["id"] not in best or info["score"] > best[info["id"]]["score"]:
            best[info["id"]] = info
    return [Segment(id2label[info["label_id"]], int(info["label_id"]), float(info["score"]),
                    info["label_id"] not in stuff, labels == info["id"])
            for info in best.values()]


def refine(handle: LoadedModel, image: Image.Image, segments: list[Segment]) -> list[Segment]:
    """Each mask replaced by SAM's mask for its bounding box (one box prompt per segment)."""
    if not segments:
        return segments
    boxes = []
    for seg in segments:
        ys, xs = np.nonzero(seg.mask)
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
    processor = handle.processor
    inputs = processor(images=[image], input_boxes=[boxes], return_tensors="pt").to(handle.device)
    pixel_values = inputs["pixel_values"].to(handle.dtype)
    with torch.inference_mode():
        out = handle.model(pixel_values=pixel_values, input_boxes=inputs["input_boxes"].to(handle.dtype),
                           multimask_output=False)
    masks = processor.image_processor.post_process_masks(
        out.pred_masks.float().cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu())[0]
    ious = out.iou_scores.float().cpu()[0, :, 0]
    refined = []
    for seg, mask, iou in zip(segments, masks[:, 0].numpy(), ious.tolist(), strict=True):
        keep = mask if mask.any() else seg.mask  # an empty SAM mask keeps the segmenter's
        refined.append(Segment(seg.label, seg.label_id, seg.score, seg.is_thing, keep.astype(bool), True, iou))
    return refined


def filter_segments(segments: list[Segment], params: SegmentParams) -> list[tuple[Segment, str | None]]:
    """Each segment with None (kept) or the filter that dropped it: class kind, score, area, overlap with a
    kept mask of higher score, then the per-image cap. Highest score first."""
    verdicts: list[tuple[Segment, str | None]] = []
    kept: list[np.ndarray] = []
    for seg in sorted(segments, key=lambda s: -s.score):
        area = float(seg.mask.mean())
        reason = None
        if params.classes != "both" and seg.is_thing != (params.classes == "things"):
            reason = f"classes: {'thing' if seg.is_thing else 'stuff'} class, segments.classes is {params.classes}"
        elif seg.score < params.min_score:
            reason = f"min_score: {seg.score:.3f} < {params.min_score}"
        elif area < params.min_area_ratio:
            reason = f"min_area_ratio: {area:.4f} < {params.min_area_ratio}"
        else:
            pixels = max(int(seg.mask.sum()), 1)
            overlap = max((int((seg.mask & other).sum()) / pixels for other in kept), default=0.0)
            if overlap > params.max_overlap:
                reason = f"max_overlap: {overlap:.3f} of its area under a kept mask > {params.max_overlap}"
            elif len(kept) >= params.max_masks:
                reason = f"max_masks: {params.max_masks} kept already"
        if reason is None:
            kept.append(seg.mask)
        verdicts.append((seg, reason))
    return verdicts
