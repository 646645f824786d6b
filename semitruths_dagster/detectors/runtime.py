"""Where and in what precision detectors score: device (`models.device`), precision (`detectors.dtype`, separate
from generation's) and batch size.

`authors` (the default) is each plugin's authors' precision (`Detector.AUTHORS_PRECISION`): float32 for
all but RINE, whose CLIP runs in float16 with a float32 head on CUDA as `clip.load` gives it. float16 and
bfloat16 are opt-in and cast the whole network. Half precision on the CPU is refused, not silently
changed: PyTorch's CPU float16 kernels are missing for some layers and slow for the rest, and a score
computed in another precision than the one asked for would be recorded under the wrong provenance.
bfloat16 runs on the CPU. Every prediction row records the precision, and a precision other than float32
is part of the score's cache key (see `Detector.score_signature`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AUTHORS = "authors"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def dtype_name(dtype: torch.dtype) -> str:
    """'float32', 'bfloat16', ...: how rows and keys name a dtype."""
    return str(dtype).removeprefix("torch.")


def detector_dtype(value: str | torch.dtype, setting: str = "detectors.dtype") -> torch.dtype | str:
    """`authors` or a torch dtype, from a setting's value (float32 | float16 | bfloat16 | authors)."""
    if isinstance(value, torch.dtype) or value == AUTHORS:
        return value
    if value not in _DTYPES:
        raise ValueError(f"{setting}: expected one of {AUTHORS}, {', '.join(_DTYPES)}, got {value!r}")
    return _DTYPES[value]


@dataclass(frozen=True)
class ScoringSettings:
    """The resolved device, precision and batch size of one prediction run; `setting` names where the
    precision came from, for errors (e.g. 'detectors.dtype')."""

    device: torch.device
    dtype: torch.dtype | str = AUTHORS  # a torch dtype (the whole network cast) or 'authors'
    batch_size: int = 16
    setting: str = "detectors.dtype"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"detector batch size must be >= 1, got {self.batch_size}")
        if self.dtype != AUTHORS and self.dtype not in _DTYPES.values():
            raise ValueError(f"{self.setting}: detectors score in {AUTHORS}, float32, float16 or bfloat16, "
                             f"not {self.dtype}")
        if torch.device(self.device).type == "cpu" and self.dtype == torch.float16:
            raise ValueError(f"{self.setting}: float16 on the CPU is refused for detectors (CPU half-precision "
                             "kernels are missing or slow); set it to authors or float32, or bfloat16 to score in "
                             "reduced precision on the CPU")
