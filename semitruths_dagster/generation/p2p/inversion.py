"""DDIM inversion and null-text inversion (Mokady et al. 2022) on diffusers SD 1.x components.

DDIM inversion runs the deterministic DDIM update backwards with the conditional noise prediction only
(guidance 1), from the image latents x_0 to x_T. With classifier-free guidance (7.5) sampling back from
x_T drifts away from the image; null-text inversion fixes that by optimising, per step, the unconditional
("null") text embedding so that each guided step lands on the inversion's latent of the previous step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

StepHook = Callable[[int, torch.Tensor], torch.Tensor]


@dataclass
class Inversion:
    """latents: [x_0, x_1, ..., x_T] from DDIM inversion; nulls: one unconditional embedding per sampling
    step (None for plain DDIM inversion); losses / inner_steps: last loss and Adam steps used per step."""

    latents: list[torch.Tensor]
    nulls: list[torch.Tensor] | None = None
    losses: list[float] = field(default_factory=list)
    inner_steps: list[int] = field(default_factory=list)


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
    """Optimise one null embedding per step so guided DDIM sampling retraces the inversion's latents.

    As the original: Adam with lr * (1 - i / 100) at step i, at most `inner_steps` updates, stopping early
    once the loss is under epsilon + i * 2e-5. Optimised in float32 whatever the UNet's dtype.
    """
    nulls, losses, used = [], [], []
    x = inversion.latents[-1]
    null = uncond.detach().float()
    for i, t in enumerate(scheduler.timesteps.tolist()):
        target = inversion.latents[-i - 2]
        with torch.no_grad():
            e_c = _eps(unet, x, t, cond)
        null = null.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([null], lr=lr * (1.0 - i / 100.0))
        loss_value, j = float("nan"), 0
        for j in range(inner_steps):  # noqa: B007 - j is recorded after the loop
            with torch.enable_grad():
                e_u = _eps(unet, x, t, null)
                prev = ddim_step(scheduler, e_u + guidance * (e_c - e_u), t, x)
                loss = F.mse_loss(prev, target)
                opt.zero_grad()
                loss.backward()
                opt.step()
            loss_value = loss.item()
            if loss_value < epsilon + i * 2e-5:
                break
        used.append(j + 1 if inner_steps else 0)
        losses.append(loss_value)
        null = null.detach()
        nulls.append(null)
        with torch.no_grad():
            x = ddim_step(scheduler, guided_eps(unet, x, t, null, cond, guidance), t, x)
    return Inversion(latents=inversion.latents, nulls=nulls, losses=losses, inner_steps=used)


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
