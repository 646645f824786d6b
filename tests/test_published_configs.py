"""Every backbone the project builds matches its published configuration (published_configs.py).

Full-size networks are built on the meta device (no memory, no weights) by the project's own builders (the
plugins' `build_*` functions, open_clip with the project's `open_clip_kwargs`), then their widths, depths,
heads, patch and image sizes, activations and output widths are compared with the table.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semitruths_dagster.published_configs import PUBLISHED, hf_clip_config, open_clip_model_cfg, published

OPENAI_CLIPS = ("openai/clip-vit-large-patch14", "openai/clip-vit-base-patch32")


def _on_meta(build):
    with torch.device("meta"):
        return build()


def _open_clip_from_ref(ref: str) -> nn.Module:
    """The architecture the project's loaders build for an `open_clip:<arch>/<tag>` ref (weights aside)."""
    import open_clip

    from semitruths_dagster.hub import open_clip_name
    from semitruths_dagster.load_checks import open_clip_kwargs

    name, tag = open_clip_name(ref, True)
    return _on_meta(lambda: open_clip.create_model(name, pretrained=None, device="meta",
                                                   **open_clip_kwargs(name, tag)))


def _check_open_clip_tower(tower: nn.Module, spec: dict, patch: bool) -> None:
    from open_clip.transformer import QuickGELU

    blocks = tower.transformer.resblocks if hasattr(tower, "transformer") else tower.resblocks
    block = blocks[0]
    act = block.mlp.gelu
    assert len(blocks) == spec["layers"]
    assert block.attn.embed_dim == spec["width"] and block.attn.num_heads == spec["heads"]
    assert block.mlp.c_fc.out_features == spec["mlp"]
    assert isinstance(act, QuickGELU) == (spec["act"] == "quick_gelu"), f"activation {act} vs published {spec['act']}"
    if patch:
        assert tower.conv1.kernel_size == (spec["patch_size"],) * 2
        assert tuple(tower.image_size) == (spec["image_size"],) * 2


@pytest.mark.parametrize("model_id", OPENAI_CLIPS)
def test_open_clip_tag_builds_the_published_clip(model_id: str) -> None:
    p = published(model_id)
    model = _open_clip_from_ref(p["open_clip"])
    _check_open_clip_tower(model.visual, p["vision"], patch=True)
    _check_open_clip_tower(model.transformer, p["text"], patch=False)
    assert model.visual.output_dim == p["embed_dim"] and model.text_projection.shape[1] == p["embed_dim"]
    assert model.context_length == p["text"]["context_length"] and model.vocab_size == p["text"]["vocab_size"]


@pytest.mark.parametrize("model_id", OPENAI_CLIPS)
def test_table_open_clip_config_is_open_clips_own(model_id: str) -> None:
    """The table's open_clip config (which tiny and full-size stand-ins use) builds what the tag builds."""
    import open_clip

    p = published(model_id)
    built = _on_meta(lambda: open_clip.CLIP(**open_clip_model_cfg(model_id)))
    _check_open_clip_tower(built.visual, p["vision"], patch=True)
    _check_open_clip_tower(built.transformer, p["text"], patch=False)
    tag_model = _open_clip_from_ref(p["open_clip"])
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in tag_model.state_dict().items()}


@pytest.mark.parametrize("model_id", OPENAI_CLIPS)
def test_transformers_config_from_table(model_id: str) -> None:
    from transformers import CLIPConfig, CLIPModel

    p = published(model_id)
    cfg = hf_clip_config(model_id)
    model = _on_meta(lambda: CLIPModel(CLIPConfig(**cfg)))
    vision = model.vision_model
    assert len(vision.encoder.layers) == p["vision"]["layers"]
    assert vision.config.hidden_act == p["vision"]["act"] == "quick_gelu"
    assert vision.embeddings.patch_embedding.kernel_size == (p["vision"]["patch_size"],) * 2
    assert model.visual_projection.out_features == p["embed_dim"]


def test_drct_clip_variant_is_the_published_vit_l14() -> None:
    from semitruths_dagster.detectors.plugins.drct import CLIP_FEATURES, build_drct

    p = published("openai/clip-vit-large-patch14")
    clip = _on_meta(lambda: build_drct("clip-ViT-L-14", {}, None)).model.model
    _check_open_clip_tower(clip.visual, p["vision"], patch=True)
    _check_open_clip_tower(clip.transformer, p["text"], patch=False)
    assert clip.visual.output_dim == p["embed_dim"] == CLIP_FEATURES


def test_c2p_clip_tower_is_the_published_vit_l14() -> None:
    from semitruths_dagster.detectors.plugins.c2p_clip import VIT_L14

    cfg = hf_clip_config("openai/clip-vit-large-patch14")
    assert {**cfg["vision_config"], "projection_dim": cfg["projection_dim"]} == VIT_L14


def test_cospy_siglip_architecture() -> None:
    p = published("timm/ViT-SO400M-14-SigLIP-384")
    model = _open_clip_from_ref(p["open_clip"])
    trunk, v = model.visual.trunk, p["vision"]
    assert (len(trunk.blocks), trunk.embed_dim, trunk.blocks[0].attn.num_heads) == (v["layers"], v["width"], v["heads"])
    assert trunk.blocks[0].mlp.fc1.out_features == v["mlp"] and trunk.patch_embed.patch_size == (v["patch_size"],) * 2
    assert type(trunk.blocks[0].mlp.act) is nn.GELU and trunk.blocks[0].mlp.act.approximate == "none"
    assert trunk.global_pool == v["pool"] and model.visual.trunk.patch_embed.img_size == (v["image_size"],) * 2


def _check_timm_vit(vit: nn.Module, v: dict) -> None:
    from timm.layers import LayerScale

    block = vit.blocks[0]
    assert len(vit.blocks) == v["layers"] and vit.embed_dim == v["width"]
    assert block.attn.num_heads == v["heads"] and block.mlp.fc1.out_features == v["mlp"]
    assert type(block.mlp.act) is nn.GELU and block.mlp.act.approximate == "none"  # published: exact GELU
    assert vit.patch_embed.patch_size == (v["patch_size"],) * 2
    assert vit.num_reg_tokens == v["registers"]
    assert isinstance(block.ls1, LayerScale) == v["layerscale"]
    assert vit.norm.eps == v["layer_norm_eps"]


def test_bfree_vit() -> None:
    from semitruths_dagster.detectors.plugins.bfree import ARCH, build_vit, parse_arch

    crop, name = parse_arch(ARCH)
    p = published(f"timm/{name}")
    vit = _on_meta(lambda: build_vit(name, crop, {}))
    _check_timm_vit(vit, p["vision"])
    assert vit.head.out_features == 1 and vit.global_pool == "token"


def test_community_forensics_vit() -> None:
    from semitruths_dagster.detectors.plugins.commfor import TIMM_384, build_vit

    p = published(f"timm/{TIMM_384}")
    vit = _on_meta(lambda: build_vit(TIMM_384, {}))
    _check_timm_vit(vit, p["vision"])
    assert vit.patch_embed.img_size == (p["vision"]["image_size"],) * 2 and vit.global_pool == "token"


def test_linear_probe_dinov2() -> None:
    from semitruths_dagster.detectors.plugins.linear_probe import DINOV2, build_dinov2

    p = published(f"timm/{DINOV2}")
    vit = _on_meta(lambda: build_dinov2(DINOV2, {}))
    _check_timm_vit(vit, p["vision"])
    assert vit.patch_embed.img_size == (p["vision"]["image_size"],) * 2 and vit.global_pool == "token"


def _check_convnext(net: nn.Module, p: dict) -> None:
    assert [len(stage.blocks) for stage in net.stages] == p["depths"]
    assert [stage.blocks[0].conv_dw.out_channels for stage in net.stages] == p["dims"]
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and {m.eps for m in norms} == {p["layer_norm_eps"]}


def test_drct_convnext() -> None:
    from semitruths_dagster.detectors.plugins.drct import EMBEDDING, ConvNeXtEmbedding

    net = _on_meta(lambda: ConvNeXtEmbedding({}))
    _check_convnext(net.model, published("timm/convnext_base"))
    assert net.model.head.fc.out_features == EMBEDDING


def test_aide_convnext_xxlarge() -> None:
    from semitruths_dagster.detectors.plugins.aide import build_trunk

    _check_convnext(_on_meta(lambda: build_trunk({})), published("timm/convnext_xxlarge"))


def test_cnnspot_and_aide_resnet50() -> None:
    from torchvision.models.resnet import Bottleneck

    from semitruths_dagster.detectors.plugins.aide import SRMResNet
    from semitruths_dagster.detectors.plugins.cnnspot import CNNSpot, build_resnet

    p = published("torchvision/resnet50")
    default_layers = CNNSpot.OPTIONS["layers"][1]
    for net in (_on_meta(lambda: build_resnet(default_layers)), _on_meta(lambda: SRMResNet([3, 4, 6, 3]))):
        stages = [net.layer1, net.layer2, net.layer3, net.layer4]
        assert [len(s) for s in stages] == p["blocks"]
        assert all(isinstance(b, Bottleneck) for s in stages for b in s)
        assert net.layer4[-1].conv3.out_channels == p["features"] and net.conv1.out_channels == p["width"]


def test_every_entry_names_its_users() -> None:
    for model_id, entry in PUBLISHED.items():
        assert entry["used_by"] and entry["used_for"], model_id


def test_tiny_clip_roles_use_the_published_activation(tmp_path) -> None:
    """The tiny `clip` (open_clip) and `saliency` (transformers) stand-ins load with OpenAI's QuickGELU."""
    from open_clip.transformer import QuickGELU

    from semitruths_dagster.hub import ModelSource
    from semitruths_dagster.models.loader import clear_model_cache, load_model
    from semitruths_dagster.models.profiles import resolve_model

    clear_model_cache()
    try:
        clip = load_model(resolve_model("clip", ModelSource("tiny", {}, tmp_path)), "cpu", "float32").model
        saliency = load_model(resolve_model("saliency", ModelSource("tiny", {}, tmp_path)), "cpu", "float32").model
    finally:
        clear_model_cache()
    assert isinstance(clip.visual.transformer.resblocks[0].mlp.gelu, QuickGELU)
    assert isinstance(clip.transformer.resblocks[0].mlp.gelu, QuickGELU)
    act = published("openai/clip-vit-base-patch32")["vision"]["act"]
    assert saliency.config.vision_config.hidden_act == saliency.config.text_config.hidden_act == act


def test_localizers_build_their_published_configs() -> None:
    """The localizer plugins' default options build the releases' networks (full size, on the meta device)."""
    from semitruths_dagster.detectors.plugins.iml_vit import IMLViT, IMLViTNet
    from semitruths_dagster.detectors.plugins.mvss import MVSSNet, MVSSNetModel, ResFCNModel
    from semitruths_dagster.detectors.plugins.pscc import PSCC, PSCCNet

    p = published("proteus1991/PSCC-Net")
    o = {k: d for k, (_t, d, _doc) in PSCC.OPTIONS.items()}
    net = _on_meta(lambda: PSCCNet(o["blocks"], o["layer1"], o["crop_size"]))
    assert (o["blocks"], o["layer1"], o["crop_size"]) == (p["blocks"], p["layer1"], p["crop_size"])
    assert net.fenet.conv1.stride == (p["stem_stride"],) * 2 and net.fenet.conv1.out_channels == p["stem_width"]
    assert [len(m.branches[0]) for m in net.fenet.stage4] == [p["blocks"]] * p["modules"][2]
    assert [b[0].conv1.out_channels for b in net.fenet.stage4[0].branches] == p["channels"]
    assert net.clsnet.final_layer[0].out_channels == p["features"]

    p = published("SunnyHaze/IML-ViT")
    v = p["vision"]
    o = {k: d for k, (_t, d, _doc) in IMLViT.OPTIONS.items() if k != "state_key"}
    vit = _on_meta(lambda: IMLViTNet(**o)).encoder_net
    assert o["input_size"] == v["image_size"] and len(vit.blocks) == v["layers"]
    assert vit.patch_embed.proj.kernel_size == (v["patch_size"],) * 2 and vit.patch_embed.proj.out_channels == v["width"]
    assert [i for i, b in enumerate(vit.blocks) if b.window_size == 0] == v["global_blocks"]
    assert {b.window_size for b in vit.blocks} == {0, v["window"]}
    assert vit.blocks[0].attn.num_heads == v["heads"] and vit.blocks[0].mlp.fc1.out_features == v["mlp"]
    assert vit.blocks[0].norm1.eps == v["layer_norm_eps"]
    assert vit.pos_embed.shape[1] == (v["pretrain_size"] // v["patch_size"]) ** 2 + 1

    p = published("dong03/MVSS-Net")
    layers = MVSSNet.OPTIONS["layers"][1]
    assert MVSSNet.OPTIONS["resize"][1] == p["input"]
    for net in (_on_meta(lambda: MVSSNetModel(layers)), _on_meta(lambda: ResFCNModel(layers))):
        stages = [net.model.layer1, net.model.layer2, net.model.layer3, net.model.layer4]
        assert [len(s) for s in stages] == p["blocks"] and net.model.conv1.out_channels == p["width"]
        assert [b.conv2.dilation[0] for b in net.model.layer4] == p["layer4_dilation"]
        assert net.model.layer4[-1].conv3.out_channels == p["features"]
    assert _on_meta(lambda: MVSSNetModel(layers)).head.conv_p1[0].in_channels == p["head_in"]


def test_trufor_builds_its_published_config() -> None:
    from semitruths_dagster.detectors.plugins.trufor import TruFor, TruForNet

    p = published("grip-unina/TruFor")
    o = {k: d for k, (_t, d, _doc) in TruFor.OPTIONS.items() if k != "state_key"}
    net = _on_meta(lambda: TruForNet(**o))
    bb = net.backbone
    assert [len(getattr(bb, f"block{i}")) for i in range(1, 5)] == p["depths"] == o["depths"]
    assert [len(getattr(bb, f"extra_block{i}")) for i in range(1, 5)] == p["depths"]
    assert [getattr(bb, f"norm{i}").normalized_shape[0] for i in range(1, 5)] == p["dims"]
    assert [getattr(bb, f"block{i}")[0].attn.heads for i in range(1, 5)] == p["heads"]
    assert [getattr(bb, f"block{i}")[0].attn.sr_ratio for i in range(1, 5)] == p["sr_ratios"]
    assert bb.block1[0].mlp.fc1.out_features == p["mlp_ratio"] * p["dims"][0] and bb.norm1.eps == p["layer_norm_eps"]
    assert net.decode_head.linear_fuse[0].out_channels == p["decoder_dim"] == o["decoder_dim"]
    convs = [m for m in net.dncnn if isinstance(m, nn.Conv2d)]
    assert len(convs) == p["np_layers"] and convs[0].out_channels == p["np_width"]


def test_segmenter_and_refiner_full_builds_are_the_published_models() -> None:
    """The full-size random builds (benchmarks) are the paper-profile models' architectures and sizes; the
    tiny builds are the same classes."""
    from transformers import Mask2FormerForUniversalSegmentation, SamModel

    from semitruths_dagster.random_weights.full_segmenters import (
        REFINER_ID,
        SEGMENTER_ID,
        full_refiner,
        full_segmenter,
    )
    from semitruths_dagster.random_weights.roles import BUILDERS

    seg, sam = _on_meta(full_segmenter)[0], _on_meta(full_refiner)[0]
    p, v = published(SEGMENTER_ID), published(REFINER_ID)["vision"]
    backbone = seg.config.backbone_config
    assert (backbone.embed_dim, backbone.depths, backbone.num_heads, backbone.window_size) == (
        p["backbone"]["embed_dim"], p["backbone"]["depths"], p["backbone"]["heads"], p["backbone"]["window_size"])
    assert (seg.config.num_queries, seg.config.num_labels, seg.config.decoder_layers) == (
        p["queries"], p["labels"], p["decoder_layers"])
    assert seg.class_predictor.out_features == p["labels"] + 1  # + "no object"
    vision = sam.vision_encoder
    assert (len(vision.layers), vision.config.hidden_size, vision.config.global_attn_indexes) == (
        v["layers"], v["width"], v["global_attn"])
    assert vision.layers[0].mlp.lin1.out_features == v["mlp"]
    for model, entry in ((seg, published(SEGMENTER_ID)), (sam, published(REFINER_ID))):
        assert abs(sum(t.numel() for t in model.parameters()) / 1e6 - entry["params_m"]) < 2
    assert BUILDERS["segmenter"].__module__ == BUILDERS["refiner"].__module__  # tiny: random_weights/segmenters.py
    from semitruths_dagster.models.profiles import PAPER_MODELS

    assert (PAPER_MODELS["segmenter"], PAPER_MODELS["refiner"]) == (SEGMENTER_ID, REFINER_ID)
    assert isinstance(seg, Mask2FormerForUniversalSegmentation) and isinstance(sam, SamModel)
