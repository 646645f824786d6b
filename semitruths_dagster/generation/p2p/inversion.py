"""DDIM inversion and null-text inversion (Mokady et al. 2022) on diffusers SD 1.x components.

DDIM inversion runs the deterministic DDIM update backwards with the conditional noise prediction only
(guidance 1), from the image latents x_0 to x_T. With classifier-free guidance (7.5) sampling back from
x_T drifts away from the image; null-text inversion fixes that by optimising, per step, the unconditional
("null") text embedding so that each guided step lands on the inversion's latent of the previous step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

StepHook = Callable[[int, torch.Tensor], torch.Tensor]


@dataclass
class Inversion:
    """latents: [x_0, x_1, ..., x_T] from DDIM inversion, each (items, C, h, w); nulls: per sampling step,
    the unconditional embeddings (items, L, D) (None for plain DDIM inversion); losses / inner_steps: per
    item, the last loss and the Adam steps used at each step."""

    latents: list[torch.Tensor]
    nulls: list[torch.Tensor] | None = None
    losses: list[list[float]] = field(default_factory=list)
    inner_steps: list[list[int]] = field(default_factory=list)


def alpha_bar(scheduler: Any, t: int) -> torch.Tensor:
    """alphas_cumprod at t; before the first step, the scheduler's final value (as DDIMScheduler.step)."""
    return scheduler.alphas_cumprod[t] if t >= 0 else scheduler.final_alpha_cumprod


def step_gap(scheduler: Any) -> int:
    return scheduler.config.num_train_timesteps // scheduler.num_inference_steps


def ddim_step(scheduler: Any, eps: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
    """x_t -> x_{t-gap}, deterministic DDIM (eta 0)."""
    a_t, a_prev = alpha_bar(scheduler, t), alpha_bar(scheduler, t - step_gap(scheduler))
    x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
    return a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def ddim_reverse_step(scheduler: Any, eps: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
    """x_{t-gap} -> x_t: the DDIM update run backwards (eps is predicted at the less noisy latent)."""
    a_prev, a_t = alpha_bar(scheduler, t - step_gap(scheduler)), alpha_bar(scheduler, t)
    x0 = (x - (1 - a_prev) ** 0.5 * eps) / a_prev**0.5
    return a_t**0.5 * x0 + (1 - a_t) ** 0.5 * eps


@contextmanager
def unet_dtype(unet: Any, dtype: torch.dtype) -> Iterator[Any]:
    """Run the UNet's floating-point weights in `dtype` inside the block, then give each tensor back its
    own dtype. Inversion and null-text optimisation need float32: in float16 the null-text gradients
    (~1e-6) underflow. Casting fp16 / bf16 to float32 and back is exact: the pipeline is unchanged after."""
    saved = [(t, t.dtype) for t in (*unet.parameters(), *unet.buffers()) if t.is_floating_point()]
    if all(d == dtype for _, d in saved):
        yield unet
        return
    for t, _ in saved:  # tensor by tensor: ModelMixin.to() would warn about (and skip) fp32-kept modules
        t.data = t.data.to(dtype)
    try:
        yield unet
    finally:
        for t, d in saved:
            t.data = t.data.to(d)


def _eps(unet: Any, x: torch.Tensor, t: int, context: torch.Tensor) -> torch.Tensor:
    return unet(x.to(unet.dtype), t, encoder_hidden_states=context.to(unet.dtype)).sample.float()


def guided_eps(
    unet: Any, x: torch.Tensor, t: int, uncond: torch.Tensor, cond: torch.Tensor, g: float
) -> torch.Tensor:
    """Classifier-free guidance with one UNet call on [uncond..., cond...] (x holds one row per prompt)."""
    eps = _eps(unet, torch.cat([x, x]), t, torch.cat([uncond, cond]))
    e_u, e_c = eps.chunk(2)
    return e_u + g * (e_c - e_u)


@torch.no_grad()
def ddim_invert(unet: Any, scheduler: Any, x0: torch.Tensor, cond: torch.Tensor) -> Inversion:
    """DDIM inversion x_0 -> x_T with the conditional prediction (scheduler.set_timesteps already called)."""
    latents = [x0.float()]
    x = x0.float()
    for t in reversed(scheduler.timesteps.tolist()):
        x = ddim_reverse_step(scheduler, _eps(unet, x, t, cond), t, x)
        latents.append(x)
    return Inversion(latents=latents)


def null_text_invert(
    unet: Any,
    scheduler: Any,
    inversion: Inversion,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    guidance: float,
    inner_steps: int = 10,
    epsilon: float = 1e-5,
    lr: float = 1e-2,
) -> Inversion:
    """Optimise one null embedding per step and per item so guided DDIM sampling retraces the inversion's
    latents. The rows of the inversion's latents / `cond` are independent items, run through the UNet
    together; `uncond` is one row (shared start) or one per item.

    As the reference: Adam with lr * (1 - i / 100) at step i, at most `inner_steps` updates, stopping early
    once the loss is under epsilon + i * 2e-5. Each item has its own Adam state and its own early stop
    (a converged item leaves the batch for the rest of that step), and the summed loss gives each item the
    gradient of its own loss: a batch gives the results of one item at a time up to float rounding.
    Optimised in float32 (run the UNet in float32 too: see `unet_dtype`).
    """
    x = inversion.latents[-1]
    n = x.shape[0]
    nulls = list(uncond.detach().float().expand(n, *uncond.shape[1:]).split(1))
    per_step, losses, used = [], [[] for _ in range(n)], [[] for _ in range(n)]
    for i, t in enumerate(scheduler.timesteps.tolist()):
        target = inversion.latents[-i - 2]
        with torch.no_grad():
            e_c = _eps(unet, x, t, cond)
        nulls = [null.detach().clone().requires_grad_(True) for null in nulls]
        opts = [torch.optim.Adam([null], lr=lr * (1.0 - i / 100.0)) for null in nulls]
        last, steps_used, active = [float("nan")] * n, [0] * n, list(range(n))
        for j in range(inner_steps):
            if not active:
                break
            rows = torch.tensor(active, device=x.device)
            with torch.enable_grad():
                e_u = _eps(unet, x[rows], t, torch.cat([nulls[b] for b in active]))
                prev = ddim_step(scheduler, e_u + guidance * (e_c[rows] - e_u), t, x[rows])
                item_loss = ((prev - target[rows]) ** 2).flatten(1).mean(1)
                for b in active:
                    opts[b].zero_grad()
                item_loss.sum().backward()
                for b in active:
                    opts[b].step()
            still = []
            for b, value in zip(active, item_loss.detach().tolist(), strict=True):
                last[b], steps_used[b] = value, j + 1
                if not value < epsilon + i * 2e-5:
                    still.append(b)
            active = still
        nulls = [null.detach() for null in nulls]
        step_nulls = torch.cat(nulls)
        per_step.append(step_nulls)
        for b in range(n):
            losses[b].append(last[b])
            used[b].append(steps_used[b])
        with torch.no_grad():
            x = ddim_step(scheduler, guided_eps(unet, x, t, step_nulls, cond, guidance), t, x)
    return Inversion(latents=inversion.latents, nulls=per_step, losses=losses, inner_steps=used)


@torch.no_grad()
def sample(
    unet: Any,
    scheduler: Any,
    x_t: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | list[torch.Tensor],
    guidance: float,
    on_step: StepHook | None = None,
    after_step: StepHook | None = None,
) -> torch.Tensor:
    """Guided DDIM sampling from x_T for every row of x_t / cond. `uncond` is one embedding (per row) or a
    list of per-step null embeddings (expanded to every row). on_step(i, x) runs before the UNet call
    (e.g. to tell a controller the step); after_step(i, x) may change the latents (LocalBlend)."""
    x = x_t.float()
    for i, t in enumerate(scheduler.timesteps.tolist()):
        if on_step is not None:
            on_step(i, x)
        u = uncond[i] if isinstance(uncond, list) else uncond
        u = u.expand(x.shape[0], *u.shape[1:]) if u.shape[0] == 1 else u
        x = ddim_step(scheduler, guided_eps(unet, x, t, u, cond, guidance), t, x)
        if after_step is not None:
            x = after_step(i, x)
    return x
