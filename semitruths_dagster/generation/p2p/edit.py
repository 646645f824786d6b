"""Prompt-to-prompt editing of real images: null-text inversion of (image, source caption), then guided
DDIM sampling of [source, target] captions with the source's attention maps injected into the target's.

Several items run through the UNet together (`edit_batch`): each keeps its own null embeddings, Adam state,
early stop, controller and LocalBlend, so a batch gives the results of one item at a time up to float
rounding. Inversion and null-text optimisation run in float32 whatever the pipeline's dtype.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...sections import P2PSettings
from ..loading import LoadedPipeline
from ..registry import P2P
from ..results import GenerationResult, as_size, is_black
from ..settings import DTYPES, DeviceSettings
from ..sizing import resample_record, to_original, to_working
from .align import choose_mode, refine_mapper, replace_mapper, word_token_indices
from .control import (
    AttentionEdit,
    AttentionRefine,
    AttentionReplace,
    BatchController,
    LocalBlend,
)
from .inversion import ddim_invert, null_text_invert, sample, unet_dtype
from .processor import install, restore


@dataclass(frozen=True)
class P2PParams(P2PSettings):
    """Every setting of one edit (all recorded on the result).

    steps / guidance: DDIM steps and classifier-free guidance (paper: 50, 7.5).
    null_inner_steps / null_early_stop / null_lr: null-text optimisation (reference: 10, 1e-5, 1e-2);
        null_inner_steps=0 gives plain DDIM inversion (null embedding = embedding of "").
    inversion_dtype: dtype of DDIM inversion and null-text optimisation ('float32', as the reference;
        'pipeline': the pipeline's dtype, e.g. float16 on a GPU, where the ~1e-6 gradients underflow).
        Editing then samples in the pipeline's dtype.
    mode: 'auto' (word swap when the captions have the same word count, else refinement), 'replace'
        or 'refine'.
    cross_replace_steps / self_replace_steps: fraction of steps (or (start, end) fractions) during which the
        source's cross- / self-attention replaces the edit's (reference notebook: 0.8 / 0.5).
    self_replace_max_tokens: only self-attention layers with at most this many queries are replaced
        (null-text reference: 32x32 = 1024, every layer but the 64x64 ones at 512 px).
    blend_words: (source word, target word) for LocalBlend, or None; blend_start / blend_threshold as the
        reference (0.2 of the steps, 0.3).
    size: working size (int side or (width, height)); the output is resized back to the original's.
    record_maps: keep each step's cross-attention maps (as used) in result.artifacts['attention_maps'].

    Fields, types, ranges and defaults are `sections.P2PSettings`' (the `generation.p2p` keys, checked when
    the configuration is read and whenever P2PParams is made).
    """


@dataclass
class EditItem:
    """One prompt-based edit: the real image, its caption, the perturbed caption, a seed."""

    key: str
    image: Image.Image
    source_caption: str
    target_caption: str
    seed: int
    params: P2PParams | None = None


@dataclass
class Edited:
    """One item's outcome of `edit_batch`: the edit and the source reconstruction at the working size, the
    recorded details (mode, null-text losses, reconstruction errors, dtypes, ...), artifacts, and the final
    latents of [source reconstruction, edit] (2, C, h, w)."""

    edited: Image.Image
    reconstruction: Image.Image
    details: dict[str, Any]
    artifacts: dict[str, Any]
    latents: torch.Tensor


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


def encode_images(pipe: Any, images: list[Image.Image], size: tuple[int, int]) -> torch.Tensor:
    """Latents of images at the working size: the VAE posterior's mean, scaled (as the reference)."""
    arr = np.stack([np.asarray(to_working(im, size), dtype=np.float32) for im in images])
    x = torch.from_numpy(arr / 127.5 - 1.0).permute(0, 3, 1, 2).to(pipe.vae.device, pipe.vae.dtype)
    with torch.no_grad():
        return pipe.vae.encode(x).latent_dist.mean.float() * pipe.vae.config.scaling_factor


def encode_image(pipe: Any, image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """`encode_images` of one image: (1, C, h, w)."""
    return encode_images(pipe, [image], size)


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


def _controller(pipe: Any, source: str, target: str, p: P2PParams) -> tuple[str, AttentionEdit]:
    mode = choose_mode(pipe.tokenizer, source, target, p.mode)
    common = {
        "num_steps": p.steps,
        "cross_replace": p.cross_replace_steps,
        "self_replace": p.self_replace_steps,
        "self_max_tokens": p.self_replace_max_tokens,
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


def inversion_dtype(pipe: Any, params: P2PParams) -> torch.dtype:
    """The dtype inversion and null-text optimisation run in."""
    return pipe.unet.dtype if params.inversion_dtype == "pipeline" else DTYPES[params.inversion_dtype]


def edit_batch(
    pipe: Any,
    images: list[Image.Image],
    sources: list[str],
    targets: list[str],
    params: P2PParams,
    seed: int = 0,
) -> list[Edited]:
    """Edit several images with the same settings, every UNet call covering the whole batch."""
    n, size = len(images), as_size(params.size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # nothing here is random (DDIM, eta 0); seeded so it stays that way
        sched = ddim_scheduler(pipe, params.steps)
        x0 = encode_images(pipe, images, size)
        src_emb, tgt_emb, null_emb = embed_texts(pipe, [*sources, *targets, ""]).split([n, n, 1])
        inv_dtype = inversion_dtype(pipe, params)
        with unet_dtype(pipe.unet, inv_dtype):
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
        made = [_controller(pipe, s, t, params) for s, t in zip(sources, targets, strict=True)]
        controller = BatchController([c for _, c in made])
        blends = [_local_blend(pipe, s, t, params) for s, t in zip(sources, targets, strict=True)]

        def blend_all(i: int, x: torch.Tensor) -> torch.Tensor:
            pairs = x.split(2)  # [source_b, edit_b] per item
            return torch.cat(
                [
                    b(pair, c, i) if b else pair
                    for b, c, pair in zip(blends, controller.controllers, pairs, strict=True)
                ]
            )

        cond = torch.stack([src_emb, tgt_emb], dim=1).flatten(0, 1)  # [src_1, tgt_1, src_2, tgt_2, ...]
        nulls = [u.repeat_interleave(2, dim=0) for u in inverted.nulls] if inverted.nulls else null_emb
        old = install(pipe.unet, controller)
        try:
            latents = sample(
                pipe.unet,
                sched,
                inverted.latents[-1].repeat_interleave(2, dim=0),
                cond,
                nulls,
                params.guidance,
                on_step=lambda i, x: controller.set_step(i),
                after_step=blend_all if any(blends) else None,
            )
        finally:
            restore(pipe.unet, old)
        decoded = decode_latents(pipe, latents)
    out = []
    for b in range(n):
        recon, edited = decoded[2 * b], decoded[2 * b + 1]
        original = np.asarray(to_working(images[b], size), dtype=np.float64)
        details = {
            "mode": made[b][0],
            "source_caption": sources[b],
            "target_caption": targets[b],
            "inversion_dtype": str(inv_dtype).removeprefix("torch."),
            "edit_dtype": str(pipe.unet.dtype).removeprefix("torch."),
            "null_text_losses": [round(v, 8) for v in inverted.losses[b]],
            "null_text_inner_steps_used": int(sum(inverted.inner_steps[b])),
            # The source branch sampled back from the inverted noise with the optimised nulls, against the
            # image's latents x_0 where the inversion started.
            "reconstruction_latent_mse": float(torch.mean((latents[2 * b] - x0[b]) ** 2)),
            "reconstruction_pixel_mse": float(
                np.mean((np.asarray(recon, np.float64) - original) ** 2) / 255**2
            ),
        }
        artifacts = {"attention_maps": dict(made[b][1].recorded)} if params.record_maps else {}
        out.append(Edited(edited, recon, details, artifacts, latents[2 * b : 2 * b + 2]))
    return out


def edit_one(
    pipe: Any, image: Image.Image, source: str, target: str, params: P2PParams, seed: int = 0
) -> tuple[Image.Image, Image.Image, dict[str, Any], dict[str, Any]]:
    """Edit one image. Returns (edited, source reconstruction) at the working size, the recorded details
    and artifacts (attention maps when recorded)."""
    [one] = edit_batch(pipe, [image], [source], [target], params, seed)
    return one.edited, one.reconstruction, one.details, one.artifacts


def _batches(
    items: Iterable[EditItem], base: P2PParams, batch_size: int
) -> Iterator[tuple[P2PParams, list[EditItem]]]:
    """Consecutive items with the same settings, at most batch_size at a time."""
    batch: list[EditItem] = []
    params: P2PParams | None = None
    for item in items:
        p = item.params or base
        if batch and (p != params or len(batch) >= batch_size):
            yield params, batch  # type: ignore[misc]
            batch = []
        params = p
        batch.append(item)
    if batch:
        yield params, batch  # type: ignore[misc]


def edit(
    loaded: LoadedPipeline,
    items: Iterable[EditItem],
    settings: DeviceSettings | None = None,
    params: P2PParams | None = None,
) -> Iterator[GenerationResult]:
    """Edit every item (lazily, batch by batch) and yield one result per item, in order.

    params: defaults for items without their own. settings: for the batch size (defaults to the settings
    the pipeline was loaded with); consecutive items with the same settings share UNet calls.
    """
    if loaded.method != P2P:
        raise ValueError(f"pipeline was loaded for '{loaded.method}', not p2p")
    settings = settings or loaded.settings
    for p, batch in _batches(items, params or P2PParams(), settings.batch_size):
        start = time.perf_counter()
        done = edit_batch(
            loaded.pipe,
            [it.image for it in batch],
            [it.source_caption for it in batch],
            [it.target_caption for it in batch],
            p,
            batch[0].seed,
        )
        elapsed = (time.perf_counter() - start) / len(batch)
        recorded = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(p).items()}
        for item, one in zip(batch, done, strict=True):
            out = to_original(one.edited, item.image.size)
            resampled, resample_filter = resample_record(item.image.size, as_size(p.size), one.edited.size)
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
                resampled=resampled,
                resample_filter=resample_filter,
                black=is_black(one.edited),
                nsfw_flagged=None,
                safety_checker=False,
                device=str(loaded.device),
                dtype=str(loaded.dtype).removeprefix("torch."),
                batch_size=len(batch),
                elapsed_s=elapsed,
                params={**recorded, **one.details},
                artifacts=one.artifacts,
            )
