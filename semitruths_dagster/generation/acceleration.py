"""Attention kernels, torch.compile and CPU offload for a loaded pipeline.

UNet2DConditionModel's attention goes through diffusers' attention processors (AttnProcessor2_0 = torch
SDPA by default). `set_attention_backend` only reaches processors built on diffusers' attention
dispatcher, which the SD / SDXL / Kandinsky UNets do not use yet; for them the SDPA kernel is chosen with
torch's `sdpa_kernel` context around each call instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

SDPA_KERNELS = {
    "sdpa-flash": "FLASH_ATTENTION",
    "sdpa-efficient": "EFFICIENT_ATTENTION",
    "sdpa-math": "MATH",
    "sdpa-cudnn": "CUDNN_ATTENTION",
}
ATTENTION_CHOICES = ("sdpa", "eager", "xformers", *SDPA_KERNELS, "backend:<name>")


def denoisers(pipe: Any) -> list[Any]:
    """The attention-heavy models of a pipeline (UNet or diffusion transformer; the prior transformer of a
    combined pipeline)."""
    names = ("unet", "transformer", "prior_prior")
    return [m for m in (getattr(pipe, n, None) for n in names) if m is not None]


def apply_attention(pipe: Any, attention: str) -> None:
    """Install the attention implementation named by `attention` on the pipeline's denoisers."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    if attention in ("sdpa", *SDPA_KERNELS):
        processor: Any = AttnProcessor2_0()
    elif attention == "eager":
        processor = AttnProcessor()
    elif attention == "xformers":
        pipe.enable_xformers_memory_efficient_attention()  # raises if xformers is not installed
        return
    elif attention.startswith("backend:"):
        for model in denoisers(pipe):
            model.set_attention_backend(attention.removeprefix("backend:"))
        return
    else:
        raise ValueError(f"unknown attention '{attention}' (choose from {', '.join(ATTENTION_CHOICES)})")
    for model in denoisers(pipe):
        # Kandinsky's UNet uses added-KV processors: only swap the plain ones, keep the others.
        procs = model.attn_processors
        if all(type(p).__name__ in ("AttnProcessor", "AttnProcessor2_0") for p in procs.values()):
            model.set_attn_processor(processor)


def attention_context(attention: str) -> contextlib.AbstractContextManager:
    """The context a pipeline call runs in: restricts SDPA to one kernel for 'sdpa-*', else nothing."""
    if attention in SDPA_KERNELS:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel(getattr(SDPBackend, SDPA_KERNELS[attention]))
    return contextlib.nullcontext()


def compile_denoiser(pipe: Any, mode: str | None) -> None:
    """torch.compile the UNet (or diffusion transformer) in place (compiles lazily, on the first call)."""
    name = "unet" if getattr(pipe, "unet", None) is not None else "transformer"
    setattr(pipe, name, torch.compile(getattr(pipe, name), mode=mode))


def place(pipe: Any, device: torch.device, cpu_offload: bool) -> None:
    """Move the pipeline to the device, or offload model by model (GPU only; ignored on the CPU)."""
    if cpu_offload and device.type == "cuda":
        pipe.enable_model_cpu_offload(device=device)
    elif pipe.device != device:  # a no-op move would only log diffusers' dtype warning
        pipe.to(device)


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """Measure peak accelerator memory (bytes) of a block; CPU: the process's peak RSS (ru_maxrss)."""
    out: dict = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    yield out
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        out["peak_bytes"] = torch.cuda.max_memory_allocated(device)
        out["kind"] = "cuda_max_allocated"
    else:
        import resource

        out["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["kind"] = "process_max_rss"


def gpu_peak_mb(measured: dict) -> float | None:
    """The GPU peak of a `peak_memory` block in MiB; None off the GPU (a process RSS is not that)."""
    return measured["peak_bytes"] / 2**20 if measured.get("kind") == "cuda_max_allocated" else None
