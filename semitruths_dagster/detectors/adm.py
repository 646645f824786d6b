"""ADM (Dhariwal & Nichol 2021, openai/guided-diffusion): the UNet and the DDIM inversion / reconstruction
that DIRE computes its reconstruction error with.

Built from the published facts of guided-diffusion's `unet.py` / `script_util.py` / `gaussian_diffusion.py`
/ `respace.py` (names, shapes and arithmetic, not their code): the module tree gives the state-dict keys of
the released checkpoints (`256x256_diffusion_uncond.pt`: `time_embed.0.weight`, `input_blocks.1.0.in_layers.0
.weight`, `middle_block.1.qkv.weight`, `out.2.weight`, ...). Group norms compute in float32 (GroupNorm32);
attention is the 'legacy' order (heads split before q/k/v), as `use_new_attention_order=False` builds it.

DDIM (eta 0, so deterministic: no random numbers are drawn) over the respaced schedule `ddimN` (stride s with
len(range(0, T, s)) == N); the model sees the original timestep (timestep_map, rescale_timesteps False); x0
predictions are clipped to [-1, 1] (clip_denoised True) and eps re-derived from the clipped x0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class GroupNorm32(nn.GroupNorm):
    """GroupNorm(32, C) computed in float32 whatever the input precision (guided-diffusion's)."""

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight.float(), self.bias.float()  # whatever precision the module was cast to
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type(x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [cos | sin] of (possibly fractional) timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


class Resample(nn.Module):
    """2x nearest upsampling or 2x downsampling, with a 3x3 conv (`conv` / `op`) or without (avg-pool)."""

    def __init__(self, channels: int, up: bool, with_conv: bool) -> None:
        super().__init__()
        self.up = up
        if with_conv and up:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        elif with_conv:
            self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.with_conv = with_conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            return self.conv(x) if self.with_conv else x
        return self.op(x) if self.with_conv else F.avg_pool2d(x, kernel_size=2, stride=2)


class ResBlock(nn.Module):
    """Norm-SiLU-conv, timestep FiLM (scale-shift norm) or add, norm-SiLU-dropout-conv, plus the skip."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None,
                 scale_shift: bool = True, up: bool = False, down: bool = False) -> None:
        super().__init__()
        out = out_channels or channels
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, out, 3, padding=1))
        self.updown = up or down
        if self.updown:
            self.h_upd = Resample(channels, up, with_conv=False)
            self.x_upd = Resample(channels, up, with_conv=False)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out if scale_shift else out))
        self.out_layers = nn.Sequential(GroupNorm32(out), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(out, out, 3, padding=1))
        self.skip_connection = nn.Identity() if out == channels else nn.Conv2d(channels, out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.h_upd(self.in_layers[:-1](x))
            x = self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.scale_shift:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[1:](self.out_layers[0](h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over all positions, heads of `head_channels`, legacy q/k/v order."""

    def __init__(self, channels: int, head_channels: int) -> None:
        super().__init__()
        self.heads = channels // head_channels
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        length = qkv.shape[-1]
        ch = c // self.heads
        q, k, v = qkv.reshape(b * self.heads, 3 * ch, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))  # on q and k each: steadier in float16
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        h = torch.einsum("bts,bcs->bct", weight, v).reshape(b, c, length)
        return (x + self.proj_out(h)).reshape(b, c, *spatial)


class Step(nn.ModuleList):
    """One entry of input_blocks / output_blocks: layers applied in order, ResBlocks with the embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class ADMUNet(nn.Module):
    """guided-diffusion's UNetModel (2-D, unconditional, no gradient checkpointing)."""

    def __init__(self, image_size: int, num_channels: int, num_res_blocks: int, channel_mult: Sequence[float],
                 attention_resolutions: Sequence[int], num_head_channels: int, learn_sigma: bool = True,
                 use_scale_shift_norm: bool = True, resblock_updown: bool = True, **_ignored: Any) -> None:
        super().__init__()
        self.image_size = image_size
        self.model_channels = num_channels
        attention_ds = {image_size // int(r) for r in attention_resolutions}
        emb = num_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(num_channels, emb), nn.SiLU(), nn.Linear(emb, emb))
        ch = input_ch = int(channel_mult[0] * num_channels)
        self.input_blocks = nn.ModuleList([Step([nn.Conv2d(3, ch, 3, padding=1)])])
        chans, ds = [ch], 1

        def res(cin: int, cout: int | None = None, **kw: bool) -> ResBlock:
            return ResBlock(cin, emb, cout, use_scale_shift_norm, **kw)

        def resample(c: int, up: bool) -> nn.Module:
            return res(c, c, up=up, down=not up) if resblock_updown else Resample(c, up, with_conv=True)

        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res(ch, int(mult * num_channels))]
                ch = int(mult * num_channels)
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, num_head_channels))
                self.input_blocks.append(Step(layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(Step([resample(ch, up=False)]))
                chans.append(ch)
                ds *= 2
        self.middle_block = Step([res(ch), AttentionBlock(ch, num_head_channels), res(ch)])
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [res(ch + chans.pop(), int(num_channels * mult))]
                ch = int(num_channels * mult)
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, num_head_channels))
                if level and i == num_res_blocks:
                    layers.append(resample(ch, up=True))
                    ds //= 2
                self.output_blocks.append(Step(layers))
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(), nn.Conv2d(input_ch, 6 if learn_sigma else 3, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(self.time_embed[0].weight.dtype))
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


def linear_alphas_cumprod(steps: int = 1000) -> np.ndarray:
    """alpha-bar of the 'linear' beta schedule (1e-4 .. 0.02 at 1000 steps), float64."""
    scale = 1000 / steps
    return np.cumprod(1.0 - np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64))


def ddim_timesteps(steps: int, ddim: int) -> list[int]:
    """The kept timesteps of respacing 'ddim<ddim>': range(0, steps, stride) with exactly `ddim` entries."""
    for stride in range(1, steps):
        if len(range(0, steps, stride)) == ddim:
            return list(range(0, steps, stride))
    raise ValueError(f"cannot take exactly {ddim} DDIM steps of {steps} with an integer stride")


class DDIM:
    """DDIM inversion and sampling (eta 0) on the respaced linear schedule, as DIRE runs them."""

    def __init__(self, ddim_steps: int, diffusion_steps: int = 1000, clip_denoised: bool = True) -> None:
        self.timestep_map = ddim_timesteps(diffusion_steps, ddim_steps)
        full = linear_alphas_cumprod(diffusion_steps)
        last, betas = 1.0, []
        for t in self.timestep_map:  # respaced betas, then their cumulative product (SpacedDiffusion's route)
            betas.append(1 - full[t] / last)
            last = full[t]
        self.alphas_cumprod = np.cumprod(1.0 - np.array(betas))
        self.clip = clip_denoised

    def _x0_eps(self, model: nn.Module, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.full((x.shape[0],), self.timestep_map[i], device=x.device, dtype=torch.long)
        eps_model = model(x, t)[:, : x.shape[1]]
        ac = self.alphas_cumprod[i]
        recip, recipm1 = float(np.sqrt(1.0 / ac)), float(np.sqrt(1.0 / ac - 1))
        x0 = recip * x - recipm1 * eps_model
        if self.clip:
            x0 = x0.clamp(-1, 1)
        return x0, (recip * x - x0) / recipm1

    @torch.no_grad()
    def invert(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """x0 -> x_T along the reverse ODE (ddim_reverse_sample_loop)."""
        n = len(self.alphas_cumprod)
        for i in range(n):
            x0, eps = self._x0_eps(model, x, i)
            nxt = self.alphas_cumprod[i + 1] if i + 1 < n else 0.0
            x = x0 * float(np.sqrt(nxt)) + float(np.sqrt(1 - nxt)) * eps
        return x

    @torch.no_grad()
    def sample(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """x_T -> x0 (ddim_sample_loop, eta 0)."""
        for i in reversed(range(len(self.alphas_cumprod))):
            x0, eps = self._x0_eps(model, x, i)
            prev = self.alphas_cumprod[i - 1] if i > 0 else 1.0
            x = x0 * float(np.sqrt(prev)) + float(np.sqrt(1 - prev)) * eps
        return x
