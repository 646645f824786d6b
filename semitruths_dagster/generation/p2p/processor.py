"""A diffusers attention processor that hands the attention probabilities to a controller.

It computes attention like diffusers' AttnProcessor (explicit softmax: the maps must exist to be edited),
passes the conditional half of the batch to the controller, and uses what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Controller = Callable[[torch.Tensor, bool, str], torch.Tensor]


class P2PAttnProcessor:
    """Attention with recorded / replaced maps; `place` is 'down', 'mid' or 'up' (as in the original)."""

    def __init__(self, controller: Controller, place: str) -> None:
        self.controller = controller
        self.place = place

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        is_cross = encoder_hidden_states is not None
        batch, seq, _ = hidden_states.shape if not is_cross else encoder_hidden_states.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, seq, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        context = hidden_states if not is_cross else encoder_hidden_states
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        query, key, value = (attn.head_to_batch_dim(t) for t in (query, key, value))
        probs = attn.get_attention_scores(query, key, attention_mask)  # (batch * heads, Q, K)
        n = hidden_states.shape[0]
        probs4 = probs.view(n, attn.heads, *probs.shape[1:])
        half = n // 2  # [unconditional..., conditional...]: only the conditional half is controlled
        probs4 = torch.cat([probs4[:half], self.controller(probs4[half:], is_cross, self.place)])
        out = torch.bmm(probs4.reshape_as(probs), value)
        out = attn.batch_to_head_dim(out)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install(unet: Any, controller: Controller) -> dict[str, Any]:
    """Route every attention layer of the UNet through the controller; returns the old processors."""
    old = dict(unet.attn_processors)
    procs = {}
    for name in old:
        place = "mid" if name.startswith("mid_block") else name.split("_", 1)[0]  # down_blocks -> down
        procs[name] = P2PAttnProcessor(controller, place)
    unet.set_attn_processor(procs)
    return old


def restore(unet: Any, old: dict[str, Any]) -> None:
    """Put back the processors `install` replaced."""
    unet.set_attn_processor(old)
