"""Attention controllers: record cross-attention maps, and replace the edited branch's maps with the
source's (Hertz et al.: AttentionStore, AttentionReplace, AttentionRefine, LocalBlend).

A controller sees the attention probabilities of the *conditional* half of the batch, shaped
(prompts, heads, queries, keys); prompt 0 is the source, 1.. the edits. The edit loop tells it the step.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F

from ...sections import SELF_MAX_TOKENS  # self-attention layers of at most this many queries are injected


def step_window(bounds: float | tuple[float, float], num_steps: int) -> tuple[int, int]:
    """Steps [start, end) covered by a fraction (0..f) or a (start, end) pair of fractions."""
    lo, hi = (0.0, bounds) if isinstance(bounds, int | float) else bounds
    return int(lo * num_steps), int(hi * num_steps)


def cross_replace_alpha(
    num_steps: int, bounds: float | tuple[float, float], n_edits: int = 1, max_len: int = 77
) -> torch.Tensor:
    """(num_steps + 1, n_edits, 1, 1, max_len): 1 where the source's cross-attention replaces the edit's."""
    alpha = torch.zeros(num_steps + 1, n_edits, 1, 1, max_len)
    start, end = step_window(bounds, num_steps + 1)
    alpha[start:end] = 1.0
    return alpha


class AttentionStore:
    """Sums cross-attention maps over steps, per (place, side) (for LocalBlend); with `record`, also keeps
    each step's maps as the edited branch actually used them (for inspection and tests)."""

    def __init__(self, record: bool = False) -> None:
        self.step = 0
        self.record = record
        self.summed: dict[tuple[str, int], list[torch.Tensor]] = defaultdict(list)
        self.recorded: dict[int, list[tuple[str, torch.Tensor]]] = defaultdict(list)
        self._layer = defaultdict(int)

    def set_step(self, step: int) -> None:
        self.step = step
        self._layer.clear()

    def store(self, probs: torch.Tensor, is_cross: bool, place: str) -> None:
        if not is_cross:
            return  # self-attention maps are large and LocalBlend does not use them
        side = int(math.isqrt(probs.shape[2]))
        key = (place, side)
        idx = self._layer[key]
        self._layer[key] += 1
        maps = self.summed[key]
        if idx < len(maps):
            maps[idx] = maps[idx] + probs.detach().float()
        else:
            maps.append(probs.detach().float().clone())

    def __call__(self, probs: torch.Tensor, is_cross: bool, place: str) -> torch.Tensor:
        self.store(probs, is_cross, place)
        self.keep(probs, is_cross, place)
        return probs

    def keep(self, probs: torch.Tensor, is_cross: bool, place: str) -> None:
        if self.record and is_cross:
            self.recorded[self.step].append((place, probs.detach().float().cpu().clone()))


class AttentionEdit(AttentionStore):
    """Base of the editing controllers: cross-attention of the edits is replaced (weighted by the per-step
    alpha) by the source's, mapped token to token; self-attention of the edits is replaced by the source's
    during the self-replace window, on layers with at most `self_max_tokens` queries (the null-text
    reference: 32x32 = 1024, i.e. every layer but the 64x64 ones at 512 px; the first prompt-to-prompt
    notebook used 16x16). The maps are stored for LocalBlend *after* replacement, as the reference (which
    replaces them in place after storing them)."""

    def __init__(
        self,
        num_steps: int,
        cross_replace: float | tuple[float, float],
        self_replace: float | tuple[float, float],
        self_max_tokens: int = SELF_MAX_TOKENS,
        n_edits: int = 1,
        record: bool = False,
    ) -> None:
        super().__init__(record)
        self.cross_alpha = cross_replace_alpha(num_steps, cross_replace, n_edits)
        self.self_window = step_window(self_replace, num_steps)
        self.self_max_tokens = self_max_tokens

    def replace_cross(self, base: torch.Tensor, edits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, probs: torch.Tensor, is_cross: bool, place: str) -> torch.Tensor:
        base, edits = probs[0], probs[1:]
        if is_cross:
            alpha = self.cross_alpha[self.step].to(probs.device, probs.dtype)
            new = self.replace_cross(base, edits) * alpha + (1 - alpha) * edits
            probs = torch.cat([probs[:1], new.to(probs.dtype)])
        elif (
            self.self_window[0] <= self.step < self.self_window[1] and probs.shape[2] <= self.self_max_tokens
        ):
            probs = torch.cat([probs[:1], base.unsqueeze(0).expand_as(edits)])
        self.store(probs, is_cross, place)
        self.keep(probs, is_cross, place)
        return probs


class AttentionReplace(AttentionEdit):
    """Word swap: mapper (n_edits, L, L) sends source token k's map to target token l."""

    def __init__(self, mapper: torch.Tensor, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mapper = mapper if mapper.ndim == 3 else mapper.unsqueeze(0)

    def replace_cross(self, base: torch.Tensor, edits: torch.Tensor) -> torch.Tensor:
        mapper = self.mapper.to(base.device, base.dtype)
        return torch.einsum("hqk,bkl->bhql", base, mapper)


class AttentionRefine(AttentionEdit):
    """Refinement: aligned target tokens take the source's maps (alphas 1), new tokens keep theirs."""

    def __init__(self, mapper: torch.Tensor, alphas: torch.Tensor, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mapper = mapper if mapper.ndim == 2 else mapper.unsqueeze(0)  # (n_edits, L)
        self.alphas = (alphas if alphas.ndim == 2 else alphas.unsqueeze(0))[:, None, None, :]

    def replace_cross(self, base: torch.Tensor, edits: torch.Tensor) -> torch.Tensor:
        picked = base[:, :, self.mapper.to(base.device)].permute(2, 0, 1, 3)  # (n_edits, H, Q, L)
        alphas = self.alphas.to(base.device, base.dtype)
        return picked * alphas + edits * (1 - alphas)


class LocalBlend:
    """Keep the edit inside the region the blend words attend to: outside it, the edited latents are
    reset to the source's after each step (from `start_step` on).

    word_alpha: (prompts, L) with 1 at the blend words' tokens in each prompt. The region is the
    thresholded, max-pooled mean of the summed cross maps at `side` (the original: 16x16 maps at 512 px),
    united over source and edit.
    """

    def __init__(self, word_alpha: torch.Tensor, start_step: int, threshold: float = 0.3) -> None:
        self.word_alpha = word_alpha
        self.start_step = start_step
        self.threshold = threshold

    @staticmethod
    def pick_side(sides: list[int], latent_side: int) -> int:
        """The map resolution closest above a quarter of the latent side (16 for 64-px latents)."""
        target = max(1, latent_side // 4)
        above = [s for s in sides if s >= target]
        return min(above) if above else max(sides)

    def mask(self, store: AttentionStore, latent_hw: tuple[int, int]) -> torch.Tensor:
        sides = sorted({side for _, side in store.summed})
        side = self.pick_side(sides, latent_hw[0])
        maps = [m for (_, s), ms in store.summed.items() if s == side for m in ms]
        stacked = torch.cat([m.reshape(m.shape[0], -1, side, side, m.shape[-1]) for m in maps], dim=1)
        alpha = self.word_alpha.to(stacked.device, stacked.dtype)[:, None, None, None, :]
        region = (stacked * alpha).sum(-1).mean(1, keepdim=True)  # (prompts, 1, side, side)
        region = F.max_pool2d(region, 3, stride=1, padding=1)
        region = F.interpolate(region, size=latent_hw)
        region = region / region.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)
        mask = region.gt(self.threshold)
        return (mask[:1] | mask).float()

    def __call__(self, latents: torch.Tensor, store: AttentionStore, step: int) -> torch.Tensor:
        if step < self.start_step or not store.summed:
            return latents
        mask = self.mask(store, tuple(latents.shape[2:])).to(latents.dtype)
        return latents[:1] + mask * (latents - latents[:1])


class BatchController:
    """Several edits in one UNet call: the conditional half holds [source_1, edit_1, source_2, edit_2, ...];
    each (source, edit) pair goes to its own controller (their own mappers, windows and stores)."""

    def __init__(self, controllers: list[AttentionStore]) -> None:
        self.controllers = controllers

    def set_step(self, step: int) -> None:
        for c in self.controllers:
            c.set_step(step)

    def __call__(self, probs: torch.Tensor, is_cross: bool, place: str) -> torch.Tensor:
        n = probs.shape[0] // len(self.controllers)
        parts = probs.split(n)
        return torch.cat([c(part, is_cross, place) for c, part in zip(self.controllers, parts, strict=True)])
