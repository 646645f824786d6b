"""Where and how generation runs: device, dtype, batch size, attention kernel, torch.compile, CPU offload.

A plain dataclass (the Dagster resource wraps it). `cache_key()` is the part of the settings that changes
what a loaded pipeline *is*, so two settings that differ only in batch size share one loaded pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..hub import resolve_device

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class DeviceSettings:
    """Device settings of the generation stage.

    device: 'auto' (first CUDA device if any, else CPU), 'cpu', 'cuda', 'cuda:1', ...
    dtype: 'auto' (float16 on a GPU, the dtype SD checkpoints are published in; float32 on the CPU, where
        half precision is slow or unsupported), or float32 / float16 / bfloat16 (fp32 / fp16 / bf16).
    batch_size: items per pipeline call: inpainting, and prompt-to-prompt (null-text inversion and editing
        of several images per UNet call, each with its own null embeddings and optimizer).
    attention: 'sdpa' (diffusers' default AttnProcessor2_0), 'eager' (AttnProcessor: plain matmul +
        softmax), 'xformers', 'sdpa-flash' / 'sdpa-efficient' / 'sdpa-math' / 'sdpa-cudnn' (SDPA restricted
        to one torch kernel), or 'backend:<name>' (diffusers' `set_attention_backend`, for models whose
        processors support the dispatcher).
    compile_unet: wrap the denoiser in torch.compile (inpainting only; prompt-to-prompt swaps attention
        processors per edit, which would recompile).
    compile_mode: torch.compile mode (None, 'reduce-overhead', 'max-autotune').
    cpu_offload: `enable_model_cpu_offload` (GPU only): each component moves to the GPU while it runs.
    """

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 1
    attention: str = "sdpa"
    compile_unet: bool = False
    compile_mode: str | None = None
    cpu_offload: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def torch_device(self) -> torch.device:
        """The device 'auto' stands for on this machine."""
        return resolve_device(self.device)

    def torch_dtype(self) -> torch.dtype:
        """The dtype 'auto' stands for on the resolved device."""
        name = DTYPE_ALIASES.get(self.dtype, self.dtype)
        if name == "auto":
            return torch.float16 if self.torch_device().type == "cuda" else torch.float32
        if name not in DTYPES:
            raise ValueError(f"unknown dtype '{self.dtype}' (use auto, float32, float16 or bfloat16)")
        return DTYPES[name]

    def cache_key(self) -> tuple:
        """What identifies a loaded pipeline besides generator and ref (batch size is not part of it)."""
        return (
            str(self.torch_device()),
            str(self.torch_dtype()),
            self.attention,
            self.compile_unet,
            self.compile_mode,
            self.cpu_offload,
        )
