"""`semitruths detector convert`: a spec's weights rewritten once as safetensors with normalised keys.

A user who chose to trust a checkpoint converts it once; the new spec points at safetensors files (no
pickle can run again) with their digests, so every later load is safe and verified. Per weight role: a
local non-safetensors file is read with the safe loader, unwrapped from the plugin's `state_key` entry
(CNNSpot, SAFE: 'model'), stripped of DataParallel's 'module.' prefix and saved as `<role>.safetensors`;
safetensors files and folders are kept where they are; hub refs are kept as refs. The converted spec is
loaded and must give the same scores as the original on a test image before it is written.
Plugins whose checkpoint is a pickled whole module (DE-FAKE) have no state-dict format and are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from .checkpoints import read_tensors, resolve_weight_ref, select_state_dict, strip_prefix
from .digests import weights_digest
from .spec import DetectorSpec


def _probe_image(size: int = 320) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def convert_spec(spec: DetectorSpec, out_dir: str | Path, name: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the converted weights and spec under `out_dir/<name>/`; returns (spec path, spec data)."""
    from .registry import build_detector, validate_spec

    detector = build_detector(spec)  # digests checked; proves the original loads
    if spec.allow_pickle:
        raise ValueError(f"detector '{spec.name}' ({spec.source}): plugin {spec.plugin} loads a pickled whole "
                         "module, which has no state-dict format to convert to")
    name = name or f"{spec.name}-safetensors"
    out = Path(out_dir).resolve() / name
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    weights, digests = {}, {}
    for role, ref in spec.weights.items():
        kind, path = resolve_weight_ref(ref, spec.base_dir)
        if kind == "hub":
            weights[role] = ref
            continue
        if Path(path).is_dir() or Path(path).suffix == ".safetensors":
            weights[role], digests[role] = path, weights_digest(path)
            continue
        what = f"detector '{spec.name}' ({spec.source}) weights.{role}"
        obj = read_tensors(path, what)
        key = detector.options.get("state_key")
        if key and isinstance(obj, Mapping) and key in obj:
            obj = obj[key]
        state = strip_prefix(select_state_dict(obj, None, path, what), "module.")
        target = out / f"{role}.safetensors"
        save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(target),
                  metadata={"converted_from": str(path), "detector": spec.name})
        weights[role], digests[role] = str(target), weights_digest(target)
    data = spec.to_dict() | {"name": name, "weights": weights, "sha256": digests, "allow_pickle": False,
                             "description": (spec.description + " " if spec.description else "")
                             + f"(converted to safetensors from spec {spec.source})"}
    converted = validate_spec(data, source=out / f"{name}.yaml", base_dir=out)
    image = _probe_image()
    before, after = detector.score([image]), build_detector(converted).score([image])
    if not np.allclose(before, after, atol=1e-6):
        raise ValueError(f"converted '{name}' scores {after[0]:.6f} where '{spec.name}' scores {before[0]:.6f}")
    target = out / f"{name}.yaml"
    target.write_text(yaml.safe_dump(converted.to_dict(), sort_keys=False))
    return target, converted.to_dict()
