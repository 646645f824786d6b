"""Face crops as CrossEfficientViT's preprocessing makes them (davide-coccomini/Combining-EfficientNet-and-
Vision-Transformers-for-Video-Deepfake-Detection `preprocessing/face_detector.py`, `detect_faces.py`,
`extract_crops.py`, `cross-efficient-vit/test.py`, `transforms/albu.py`; facts, not their code).

Detection: facenet-pytorch's MTCNN (margin 0, thresholds [0.85, 0.95, 0.95], its other defaults; the
P-/R-/O-Net weights ship inside the package, MIT) on the frame resized to half its size (PIL, bicubic);
boxes are scaled back by `int(b * 2)`. Crop: the box padded on its shorter side to a square
(`int((long - short) / 2)` each side), cut from the full-size frame and clipped to it. Model input:
IsotropicResize(224) (longer side to 224, `int` of the other; cv2 INTER_AREA down, INTER_CUBIC up), then
PadIfNeeded(224, 224) with zeros, centred (top/left get the floor of half).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image

MTCNN_THRESHOLDS = (0.85, 0.95, 0.95)


class FacesUnavailableError(RuntimeError):
    """facenet-pytorch (the authors' face detector) is not installed."""


def mtcnn(device: Any = "cpu") -> Any:
    """The authors' MTCNN (facenet-pytorch), on `device`."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise FacesUnavailableError(
            "CrossEfficientViT's face step needs facenet-pytorch (the authors' MTCNN): "
            "pip install --no-deps facenet-pytorch==2.6.0 (scripts/install.sh does), or set the spec option "
            "`faces: none` for images that are already face crops") from exc
    return MTCNN(margin=0, thresholds=list(MTCNN_THRESHOLDS), device=device)


def detect_boxes(detector: Any, image: Image.Image) -> list[tuple[int, int, int, int]]:
    """(xmin, ymin, xmax, ymax) of each face found on the half-size frame, in full-size pixels."""
    frame = image.convert("RGB")
    half = frame.resize([s // 2 for s in frame.size], resample=Image.BICUBIC)
    boxes, _ = detector.detect(half, landmarks=False)
    if boxes is None:
        return []
    return [tuple(int(b * 2) for b in box) for box in np.asarray(boxes, dtype=np.float64).tolist()]


def square_crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The face box padded to a square on its shorter side, cut from the frame (clipped at its edges)."""
    xmin, ymin, xmax, ymax = box
    w, h = xmax - xmin, ymax - ymin
    p_w = int((h - w) / 2) if h > w else 0
    p_h = int((w - h) / 2) if w > h else 0
    arr = np.asarray(image.convert("RGB"))
    return Image.fromarray(arr[max(ymin - p_h, 0): max(ymax + p_h, 0), max(xmin - p_w, 0): max(xmax + p_w, 0)])


def isotropic_fit(image: Image.Image, size: int) -> Image.Image:
    """IsotropicResize(size) then PadIfNeeded(size, size) with zeros, as the authors' test transform."""
    arr = np.asarray(image.convert("RGB"))
    h, w = arr.shape[:2]
    if max(w, h) != size:
        scale = size / max(w, h)
        nw, nh = (size, h * scale) if w > h else (w * scale, size)
        interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        arr = cv2.resize(arr, (int(nw), int(nh)), interpolation=interp)
    h, w = arr.shape[:2]
    top, left = max(size - h, 0) // 2, max(size - w, 0) // 2
    out = np.zeros((max(size, h), max(size, w), 3), dtype=np.uint8)
    out[top: top + h, left: left + w] = arr
    return Image.fromarray(out)


def video_round(preds: list[float], above: float = 0.55) -> float:
    """The authors' per-video score over its faces (`custom_video_round`): the first above 0.55, else the mean."""
    for p in preds:
        if p > above:
            return float(p)
    return float(np.mean(preds))
