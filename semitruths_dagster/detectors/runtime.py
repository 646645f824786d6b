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

from ..hub import ModelSource, resolve_device

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


def scoring_settings(source: ModelSource, batch_size: int = 16, setting: str = "detectors.dtype") -> ScoringSettings:
    """Device and precision of the detectors from a `hub.ModelSource`, the description of where models come
    from that every other loader takes. Its device is `models.device`; its dtype is the detectors' own
    precision (`detectors.dtype`: authors | float32 | float16 | bfloat16), where 'auto' (a source's default)
    is the authors'. Profile, overrides and tiny root do not apply: a detector's weights are its spec's."""
    dtype = AUTHORS if source.dtype == "auto" else source.dtype
    return ScoringSettings(resolve_device(source.device), detector_dtype(dtype, setting), batch_size, setting)
