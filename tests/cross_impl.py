"""Weight-name conversions between two libraries' implementations of the same backbone (test helper).

open_clip CLIP <-> transformers CLIPModel, timm ViT / DINOv2 -> transformers ViTModel / Dinov2Model(WithRegisters).
Each conversion is a plain renaming (plus the split of a fused qkv projection and a transpose of CLIP's
projections), so a test can copy one set of random weights into both libraries and compare features.
"""

from __future__ import annotations

import torch


def _clip_pairs(n_vision: int, n_text: int | None) -> list[tuple[str, str, str]]:
    """(open_clip key, transformers key, how): how is '' (same tensor), 'T' (transpose) or 'qkv'."""
    pairs = [
        ("visual.class_embedding", "vision_model.embeddings.class_embedding", ""),
        ("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", ""),
        ("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", ""),
        ("visual.ln_pre", "vision_model.pre_layrnorm", "ln"),
        ("visual.ln_post", "vision_model.post_layernorm", "ln"),
        ("visual.proj", "visual_projection.weight", "T"),
    ]
    towers = [("visual.transformer", "vision_model", n_vision)]
    if n_text is not None:
        pairs += [
            ("token_embedding.weight", "text_model.embeddings.token_embedding.weight", ""),
            ("positional_embedding", "text_model.embeddings.position_embedding.weight", ""),
            ("ln_final", "text_model.final_layer_norm", "ln"),
            ("text_projection", "text_projection.weight", "T"),
            ("logit_scale", "logit_scale", ""),
        ]
        towers.append(("transformer", "text_model", n_text))
    for src, dst, n in towers:
        for i in range(n):
            s, d = f"{src}.resblocks.{i}", f"{dst}.encoder.layers.{i}"
            pairs += [
                (f"{s}.attn", f"{d}.self_attn", "qkv"),
                (f"{s}.attn.out_proj", f"{d}.self_attn.out_proj", "lin"),
                (f"{s}.ln_1", f"{d}.layer_norm1", "ln"),
                (f"{s}.ln_2", f"{d}.layer_norm2", "ln"),
                (f"{s}.mlp.c_fc", f"{d}.mlp.fc1", "lin"),
                (f"{s}.mlp.c_proj", f"{d}.mlp.fc2", "lin"),
            ]
    return pairs


def open_clip_to_hf_clip(oc: dict[str, torch.Tensor], n_vision: int, n_text: int | None) -> dict[str, torch.Tensor]:
    """An open_clip CLIP state dict as transformers CLIPModel keys (n_text None: the vision tower only)."""
    out: dict[str, torch.Tensor] = {}
    for src, dst, how in _clip_pairs(n_vision, n_text):
        if how in ("ln", "lin"):
            out[f"{dst}.weight"], out[f"{dst}.bias"] = oc[f"{src}.weight"], oc[f"{src}.bias"]
        elif how == "qkv":
            for name, w, b in zip("qkv", oc[f"{src}.in_proj_weight"].chunk(3), oc[f"{src}.in_proj_bias"].chunk(3), strict=True):
                out[f"{dst}.{name}_proj.weight"], out[f"{dst}.{name}_proj.bias"] = w, b
        else:
            out[dst] = oc[src].T.contiguous() if how == "T" else oc[src]
    return out


def hf_clip_to_open_clip(hf: dict[str, torch.Tensor], n_vision: int) -> dict[str, torch.Tensor]:
    """transformers CLIP vision-tower keys (vision_model.*, visual_projection) as open_clip `visual.*` keys."""
    out: dict[str, torch.Tensor] = {}
    for src, dst, how in _clip_pairs(n_vision, None):
        if how in ("ln", "lin"):
            out[f"{src}.weight"], out[f"{src}.bias"] = hf[f"{dst}.weight"], hf[f"{dst}.bias"]
        elif how == "qkv":
            out[f"{src}.in_proj_weight"] = torch.cat([hf[f"{dst}.{n}_proj.weight"] for n in "qkv"])
            out[f"{src}.in_proj_bias"] = torch.cat([hf[f"{dst}.{n}_proj.bias"] for n in "qkv"])
        else:
            out[src] = hf[dst].T.contiguous() if how == "T" else hf[dst]
    return out


def timm_vit_to_hf(t: dict[str, torch.Tensor], hf_keys: set[str], depth: int) -> dict[str, torch.Tensor]:
    """A timm ViT / DINOv2 state dict as transformers ViTModel / Dinov2Model(WithRegisters) keys.

    `hf_keys` (the target model's own keys) picks the layer prefix of the installed transformers; timm's
    DINOv2-with-registers has no class-token position (no_embed_class), so a zero one is prepended.
    """
    out = {
        "embeddings.cls_token": t["cls_token"],
        "embeddings.patch_embeddings.projection.weight": t["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": t["patch_embed.proj.bias"],
        "layernorm.weight": t["norm.weight"],
        "layernorm.bias": t["norm.bias"],
    }
    pos = t["pos_embed"]
    if "reg_token" in t:
        out["embeddings.register_tokens"] = t["reg_token"]
        pos = torch.cat([torch.zeros_like(pos[:, :1]), pos], dim=1)
    out["embeddings.position_embeddings"] = pos
    if "embeddings.mask_token" in hf_keys:  # unused without a mask; timm has none
        out["embeddings.mask_token"] = torch.zeros(1, t["cls_token"].shape[-1])
    layer = "encoder.layer" if "encoder.layer.0.norm1.weight" in hf_keys or "encoder.layer.0.layernorm_before.weight" in hf_keys else "layers"
    dinov2 = f"{layer}.0.norm1.weight" in hf_keys
    for i in range(depth):
        s, d = f"blocks.{i}", f"{layer}.{i}"
        for name, w, b in zip("qkv", t[f"{s}.attn.qkv.weight"].chunk(3), t[f"{s}.attn.qkv.bias"].chunk(3), strict=True):
            out[f"{d}.attention.{name}_proj.weight"], out[f"{d}.attention.{name}_proj.bias"] = w, b
        renames = {"attn.proj": "attention.o_proj", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
                   "norm1": "norm1" if dinov2 else "layernorm_before", "norm2": "norm2" if dinov2 else "layernorm_after"}
        for a, b in renames.items():
            out[f"{d}.{b}.weight"], out[f"{d}.{b}.bias"] = t[f"{s}.{a}.weight"], t[f"{s}.{a}.bias"]
        if dinov2:
            out[f"{d}.layer_scale1.lambda1"], out[f"{d}.layer_scale2.lambda1"] = t[f"{s}.ls1.gamma"], t[f"{s}.ls2.gamma"]
    return out


def timm_convnext_to_hf(t: dict[str, torch.Tensor], depths: list[int]) -> dict[str, torch.Tensor]:
    """A timm ConvNeXt trunk state dict as transformers ConvNextModel keys (final norm: timm's head.norm)."""
    out = {"embeddings.patch_embeddings.weight": t["stem.0.weight"], "embeddings.patch_embeddings.bias": t["stem.0.bias"],
           "embeddings.layernorm.weight": t["stem.1.weight"], "embeddings.layernorm.bias": t["stem.1.bias"],
           "layernorm.weight": t["head.norm.weight"], "layernorm.bias": t["head.norm.bias"]}
    for i, depth in enumerate(depths):
        s, d = f"stages.{i}", f"encoder.stages.{i}"
        if i > 0:
            for j in (0, 1):
                for p in ("weight", "bias"):
                    out[f"{d}.downsampling_layer.{j}.{p}"] = t[f"{s}.downsample.{j}.{p}"]
        for b in range(depth):
            sb, db = f"{s}.blocks.{b}", f"{d}.layers.{b}"
            out[f"{db}.layer_scale_parameter"] = t[f"{sb}.gamma"]
            for a, c in (("conv_dw", "dwconv"), ("norm", "layernorm"), ("mlp.fc1", "pwconv1"), ("mlp.fc2", "pwconv2")):
                out[f"{db}.{c}.weight"], out[f"{db}.{c}.bias"] = t[f"{sb}.{a}.weight"], t[f"{sb}.{a}.bias"]
    return out


def timm_siglip_to_hf(t: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    """A timm SigLIP ViT (global_pool 'map') state dict as transformers SiglipVisionModel keys."""
    out = {"embeddings.patch_embedding.weight": t["patch_embed.proj.weight"],
           "embeddings.patch_embedding.bias": t["patch_embed.proj.bias"],
           "embeddings.position_embedding.weight": t["pos_embed"][0],
           "post_layernorm.weight": t["norm.weight"], "post_layernorm.bias": t["norm.bias"],
           "head.probe": t["attn_pool.latent"],
           "head.attention.in_proj_weight": torch.cat([t["attn_pool.q.weight"], t["attn_pool.kv.weight"]]),
           "head.attention.in_proj_bias": torch.cat([t["attn_pool.q.bias"], t["attn_pool.kv.bias"]])}
    for a, b in (("attn_pool.proj", "head.attention.out_proj"), ("attn_pool.norm", "head.layernorm"),
                 ("attn_pool.mlp.fc1", "head.mlp.fc1"), ("attn_pool.mlp.fc2", "head.mlp.fc2")):
        out[f"{b}.weight"], out[f"{b}.bias"] = t[f"{a}.weight"], t[f"{a}.bias"]
    for i in range(depth):
        s, d = f"blocks.{i}", f"encoder.layers.{i}"
        for name, w, b in zip("qkv", t[f"{s}.attn.qkv.weight"].chunk(3), t[f"{s}.attn.qkv.bias"].chunk(3), strict=True):
            out[f"{d}.self_attn.{name}_proj.weight"], out[f"{d}.self_attn.{name}_proj.bias"] = w, b
        for a, b in (("attn.proj", "self_attn.out_proj"), ("norm1", "layer_norm1"), ("norm2", "layer_norm2"),
                     ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            out[f"{d}.{b}.weight"], out[f"{d}.{b}.bias"] = t[f"{s}.{a}.weight"], t[f"{s}.{a}.bias"]
    return out
