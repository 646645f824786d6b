"""Prompt-to-prompt editing of a real image: null-text inversion of (image, source caption), then guided
DDIM sampling of [source, target] captions with the source's attention maps injected into the target's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..loading import LoadedPipeline
from ..registry import P2P
from ..results import RESAMPLE, GenerationResult, as_size, is_black
from ..settings import DeviceSettings
from .align import choose_mode, refine_mapper, replace_mapper, word_token_indices
from .control import AttentionEdit, AttentionRefine, AttentionReplace, LocalBlend
from .inversion import ddim_invert, null_text_invert, sample
from .processor import install, restore


@dataclass(frozen=True)
class P2PParams:
    """Every setting of one edit (all recorded on the result).

    steps / guidance: DDIM steps and classifier-free guidance (paper: 50, 7.5).
    null_inner_steps / null_early_stop / null_lr: null-text optimisation (original: 10, 1e-5, 1e-2);
        null_inner_steps=0 gives plain DDIM inversion (null embedding = embedding of "").
    mode: 'auto' (word swap when the captions have the same token count, else refinement), 'replace'
        or 'refine'.
    cross_replace_steps / self_replace_steps: fraction of steps (or (start, end) fractions) during which the
        source's cross- / self-attention replaces the edit's (original notebook: 0.8 / 0.5).
    self_replace_max_tokens: only self-attention layers with at most this many queries are replaced
        (None: (latent side / 4)^2, the original's 16x16 at 512 px).
    blend_words: (source word, target word) for LocalBlend, or None; blend_start / blend_threshold as the
        original (0.2 of the steps, 0.3).
    size: working size (int side or (width, height)); the output is resized back to the original's.
    record_maps: keep each step's cross-attention maps (as used) in result.artifacts['attention_maps'].
    """

    steps: int = 50
    guidance: float = 7.5
    null_inner_steps: int = 10
    null_early_stop: float = 1e-5
    null_lr: float = 1e-2
    mode: str = "auto"
    cross_replace_steps: float | tuple[float, float] = 0.8
    self_replace_steps: float | tuple[float, float] = 0.5
    self_replace_max_tokens: int | None = None
    blend_words: tuple[str, str] | None = None
    blend_start: float = 0.2
    blend_threshold: float = 0.3
    size: int | tuple[int, int] = 512
    record_maps: bool = False


@dataclass
class EditItem:
    """One prompt-based edit: the real image, its caption, the perturbed caption, a seed."""

    key: str
    image: Image.Image
    source_caption: str
    target_caption: str
    seed: int
    params: P2PParams | None = None


def embed_texts(pipe: Any, texts: list[str]) -> torch.Tensor:
    """CLIP text-encoder hidden states (float32) of prompts padded to the tokenizer length."""
    tok = pipe.tokenizer(
        texts,
        padding="max_length",
        max_length=pipe.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return pipe.text_encoder(tok.input_ids.to(pipe.text_encoder.device))[0].float()


def encode_image(pipe: Any, image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """Latents of an image at the working size: the VAE posterior's mean, scaled (as the original)."""
    arr = np.asarray(image.convert("RGB").resize(size, RESAMPLE), dtype=np.float32) / 127.5 - 1.0
    x = torch.from_numpy(arr).permute(2, 0, 1)[None].to(pipe.vae.device, pipe.vae.dtype)
    with torch.no_grad():
        return pipe.vae.encode(x).latent_dist.mean.float() * pipe.vae.config.scaling_factor


def decode_latents(pipe: Any, latents: torch.Tensor) -> list[Image.Image]:
    """RGB images of latents."""
    with torch.no_grad():
        x = pipe.vae.decode((latents / pipe.vae.config.scaling_factor).to(pipe.vae.dtype)).sample
    arr = ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in arr]


def ddim_scheduler(pipe: Any, steps: int) -> Any:
    """A fresh DDIM scheduler from the pipeline's config (the cached pipeline's own is left alone)."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(pipe.scheduler.config, clip_sample=False, set_alpha_to_one=False)
    sched.set_timesteps(steps)
    return sched


def _controller(
    pipe: Any, source: str, target: str, p: P2PParams, latent_hw: tuple[int, int]
) -> tuple[str, AttentionEdit]:
    mode = choose_mode(pipe.tokenizer, source, target, p.mode)
    max_tokens = p.self_replace_max_tokens or (latent_hw[0] // 4) * (latent_hw[1] // 4)
    common = {
        "num_steps": p.steps,
        "cross_replace": p.cross_replace_steps,
        "self_replace": p.self_replace_steps,
        "self_max_tokens": max_tokens,
        "record": p.record_maps,
    }
    if mode == "replace":
        return mode, AttentionReplace(replace_mapper(pipe.tokenizer, source, target), **common)
    mapper, alphas = refine_mapper(pipe.tokenizer, source, target)
    return mode, AttentionRefine(mapper, alphas, **common)


def _local_blend(pipe: Any, source: str, target: str, p: P2PParams) -> LocalBlend | None:
    if not p.blend_words:
        return None
    alpha = torch.zeros(2, pipe.tokenizer.model_max_length)
    for row, (text, word) in enumerate(zip((source, target), p.blend_words, strict=True)):
        idx = word_token_indices(pipe.tokenizer, text, word)
        if not idx:
            raise ValueError(f"blend word {word!r} is not a word of {text!r}")
        alpha[row, idx] = 1.0
    return LocalBlend(alpha, start_step=int(p.blend_start * p.steps), threshold=p.blend_threshold)


def edit_one(
    pipe: Any, image: Image.Image, source: str, target: str, params: P2PParams, seed: int = 0
) -> tuple[Image.Image, Image.Image, dict[str, Any], dict[str, Any]]:
    """Edit one image. Returns (edited, source reconstruction) at the working size, the recorded details
    (mode, null-text losses, reconstruction error, ...) and artifacts (attention maps when recorded)."""
    size = as_size(params.size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # nothing here is random (DDIM, eta 0); seeded so it stays that way
        sched = ddim_scheduler(pipe, params.steps)
        x0 = encode_image(pipe, image, size)
        src_emb, tgt_emb, null_emb = embed_texts(pipe, [source, target, ""]).split(1)
        inverted = ddim_invert(pipe.unet, sched, x0, src_emb)
        inverted = null_text_invert(
            pipe.unet,
            sched,
            inverted,
            src_emb,
            null_emb,
            params.guidance,
            params.null_inner_steps,
            params.null_early_stop,
            params.null_lr,
        )
        latent_hw = tuple(x0.shape[2:])
        mode, controller = _controller(pipe, source, target, params, latent_hw)
        blend = _local_blend(pipe, source, target, params)
        old = install(pipe.unet, controller)
        try:
            latents = sample(
                pipe.unet,
                sched,
                inverted.latents[-1].expand(2, -1, -1, -1),
                torch.cat([src_emb, tgt_emb]),
                inverted.nulls or null_emb,
                params.guidance,
                on_step=lambda i, x: controller.set_step(i),
                after_step=(lambda i, x: blend(x, controller, i)) if blend else None,
            )
        finally:
            restore(pipe.unet, old)
        recon, edited = decode_latents(pipe, latents)
    original = np.asarray(image.convert("RGB").resize(size, RESAMPLE), dtype=np.float64)
    details = {
        "mode": mode,
        "source_caption": source,
        "target_caption": target,
        "null_text_losses": [round(v, 8) for v in inverted.losses],
        "null_text_inner_steps_used": int(sum(inverted.inner_steps)),
        "reconstruction_latent_mse": float(torch.mean((latents[:1] - x0) ** 2)),
        "reconstruction_pixel_mse": float(np.mean((np.asarray(recon, np.float64) - original) ** 2) / 255**2),
    }
    artifacts = {"attention_maps": dict(controller.recorded)} if params.record_maps else {}
    return edited, recon, details, artifacts


def edit(
    loaded: LoadedPipeline,
    items: Iterable[EditItem],
    settings: DeviceSettings | None = None,
    params: P2PParams | None = None,
) -> Iterator[GenerationResult]:
    """Edit every item (one at a time: null-text inversion is an optimisation per image).

    params: defaults for items without their own. settings are accepted for symmetry with `inpaint`;
    batch_size does not apply (recorded as 1).
    """
    if loaded.method != P2P:
        raise ValueError(f"pipeline was loaded for '{loaded.method}', not p2p")
    base = params or P2PParams()
    for item in items:
        p = item.params or base
        start = time.perf_counter()
        edited, _, details, artifacts = edit_one(
            loaded.pipe, item.image, item.source_caption, item.target_caption, p, item.seed
        )
        out = edited.resize(item.image.size, RESAMPLE) if edited.size != item.image.size else edited
        recorded = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(replace(p)).items()}
        yield GenerationResult(
            key=item.key,
            image=out,
            generator=loaded.generator,
            method=P2P,
            ref=loaded.ref.ref,
            hub_id=loaded.ref.hub_id,
            random_weights=loaded.random_weights,
            prompt=item.target_caption,
            negative_prompt=None,
            seed=int(item.seed),
            steps=p.steps,
            guidance=float(p.guidance),
            scheduler="DDIMScheduler",
            pipeline=f"{loaded.pipeline_class}+p2p-null-text",
            working_size=as_size(p.size),
            output_size=out.size,
            black=is_black(edited),
            nsfw_flagged=None,
            safety_checker=False,
            device=str(loaded.device),
            dtype=str(loaded.dtype).removeprefix("torch."),
            batch_size=1,
            elapsed_s=time.perf_counter() - start,
            params={**recorded, **details},
            artifacts=artifacts,
        )
