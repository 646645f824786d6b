"""Detectors of AI-generated images as plugins, their registry of YAML specs, and mask-aware cropping.

No Dagster here. Typical use:

    specs = load_registry("detectors")                 # validated DetectorSpecs by name
    det = build_detector(specs["ufd"])                 # loads weights (safe formats only by default)
    box = det.crop_box_for_mask(edit_mask)             # mask-aware crop (None if the detector does not crop)
    preds = det.predict([edited, real], [sha_e, sha_r], boxes=[box and box.box] * 2)  # real reuses its twin's box
"""

from .base import Detector, Prediction, RandomWeights
from .cache import file_sha256, prediction_cache_key
from .checkpoints import CheckpointError, load_pickled_module, read_tensors, resolve_weight_ref
from .cropping import CropChoice, binarize_mask, choose_crop_box, crop_box_for_mask, mask_share
from .digests import check_digests, weights_digest
from .plugins import DETECTOR_PLUGINS
from .preprocessing import CropBox, Preprocessing
from .registry import (
    add_spec,
    build_detector,
    load_registry,
    load_spec,
    random_spec,
    registry_fingerprints,
    validate_spec,
    write_random_detector,
)
from .spec import DetectorSpec, SpecError
from .verify import GoldenError, scan_registry, verify_spec

__all__ = [
    "DETECTOR_PLUGINS",
    "CheckpointError",
    "CropBox",
    "CropChoice",
    "GoldenError",
    "Detector",
    "DetectorSpec",
    "Prediction",
    "Preprocessing",
    "RandomWeights",
    "SpecError",
    "add_spec",
    "binarize_mask",
    "build_detector",
    "check_digests",
    "choose_crop_box",
    "crop_box_for_mask",
    "file_sha256",
    "load_pickled_module",
    "load_registry",
    "load_spec",
    "mask_share",
    "prediction_cache_key",
    "random_spec",
    "registry_fingerprints",
    "read_tensors",
    "resolve_weight_ref",
    "scan_registry",
    "validate_spec",
    "verify_spec",
    "weights_digest",
    "write_random_detector",
]
