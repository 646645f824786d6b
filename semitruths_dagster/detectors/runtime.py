"""Where and in what precision detectors score: device, dtype and batch size, as the `gpu` resource sets them.

Half precision on the CPU is refused, not silently changed: PyTorch's CPU float16 kernels are missing
for some layers and slow for the rest, and a score computed in another precision than the one asked for
would be recorded under the wrong provenance. bfloat16 runs on the CPU (and is what the test of reduced
precision uses). The dtype a score was computed in is part of its cache key (see `Detector.cache_key`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def dtype_name(dtype: torch.dtype) -> str:
    """'float32', 'bfloat16', ...: how rows and keys name a dtype."""
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class ScoringSettings:
    """The resolved device, dtype and batch size of one prediction run; `setting` names where they came
    from, for errors (e.g. 'gpu.dtype')."""

    device: torch.device
    dtype: torch.dtype = torch.float32
    batch_size: int = 16
    setting: str = "dtype"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"detector batch size must be >= 1, got {self.batch_size}")
        if self.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"{self.setting}: detectors score in float32, float16 or bfloat16, not {self.dtype}")
        if torch.device(self.device).type == "cpu" and self.dtype == torch.float16:
            raise ValueError(f"{self.setting}: float16 on the CPU is refused for detectors (CPU half-precision "
                             "kernels are missing or slow); set it to auto or float32, or bfloat16 to score in "
                             "reduced precision on the CPU")

    @property
    def dtype_name(self) -> str:
        return dtype_name(self.dtype)
