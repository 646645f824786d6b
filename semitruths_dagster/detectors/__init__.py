"""Detectors of AI-generated images as plugins, their registry of YAML specs, and mask-aware cropping.

No Dagster here. Typical use:

    specs = load_registry("detectors")                 # validated DetectorSpecs by name
    det = build_detector(specs["ufd"])                 # loads weights (safe formats only by default)
    box = det.crop_box_for_mask(edit_mask)             # mask-aware crop (None if the detector does not crop)
    preds = det.predict([edited, real], [sha_e, sha_r], boxes=[box and box.box] * 2)  # real reuses its twin's box
"""

from ..common import lazy_exports

# submodule -> the names this package gives; imported on first use (`common.lazy_exports`), so that
# loading a light module of the package does not import the heavy ones.
_EXPORTS = {
    ".base": ("Detector", "Prediction", "RandomWeights"),
    ".cache": ("file_sha256", "prediction_cache_key"),
    ".checkpoints": ("CheckpointError", "load_pickled_module", "read_tensors", "resolve_weight_ref"),
    ".cropping": ("CropChoice", "binarize_mask", "choose_crop_box", "crop_box_for_mask", "mask_share"),
    ".digests": ("check_digests", "weights_digest"),
    ".plugins": ("DETECTOR_PLUGINS",),
    ".preprocessing": ("CropBox", "Preprocessing"),
    ".registry": (
        "add_spec", "build_detector", "load_registry", "load_spec", "random_spec", "registry_fingerprints",
        "validate_spec", "write_random_detector",
    ),
    ".spec": ("DetectorSpec", "SpecError"),
    ".verify": ("GoldenError", "scan_registry", "verify_spec"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
