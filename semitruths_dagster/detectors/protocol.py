"""The evaluation protocol: which input transform every detector's images go through (`detectors.protocol`).

`authors` (the default): each plugin's own transform, as its authors' evaluation code has it
(`Detector.build_preprocessing`). `paper`: the one transform the Semi-Truths evaluation code
(J-Kruk/SemiTruths `SemiTruths/stress_testing/run_1.py`, `trans`) put every detector through:
`Resize(256)` (shorter side to 256 px, the longer one truncated to int(256 * long / short), PIL bilinear
since its inputs are PIL images), `CenterCrop(224)` (offsets rounded), `ToTensor`, `Normalize` with the
ImageNet mean / std, then `torch.clamp(min=0, max=1)` of the normalised tensor. The mask-aware crop
moves the 224-px window inside the 256-px frame as it does for any detector (`cropping.py`).

The protocol is part of a score's cache key (`Detector.score_signature`) and of every prediction row.
"""

from __future__ import annotations

from ..sections import DETECTOR_PROTOCOLS
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

AUTHORS_PROTOCOL, PAPER_PROTOCOL = DETECTOR_PROTOCOLS
PAPER_PREPROCESSING = Preprocessing(
    resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation="bilinear", clamp=(0.0, 1.0)
)


def check_protocol(protocol: str, setting: str = "detectors.protocol") -> str:
    """The protocol's name, or a ValueError naming the setting and the names it takes."""
    if protocol not in DETECTOR_PROTOCOLS:
        raise ValueError(f"{setting}: expected one of {', '.join(DETECTOR_PROTOCOLS)}, got {protocol!r}")
    return protocol


def protocol_preprocessing(protocol: str, own: Preprocessing) -> Preprocessing:
    """The transform a detector applies under `protocol`: its own (`own`) or the paper's."""
    return own if check_protocol(protocol) == AUTHORS_PROTOCOL else PAPER_PREPROCESSING
