"""Two libraries, one set of random weights, the same features: the project's loaders build the published model.

For every backbone two installed libraries implement (open_clip vs transformers CLIP, torchvision vs timm
ResNet-50, timm vs transformers DINOv2 / DINOv2-with-registers / ViT), weights are drawn once, written in
the layout the project's loader reads, loaded through that loader (a model role or a detector plugin), copied
into the other library (tests/cross_impl.py renames them) and both must give the same features in float32.
Networks are the real architectures with fewer and narrower layers; the other library is configured from
the published configuration (published_configs.py), e.g. transformers' `hidden_act: quick_gelu` for OpenAI's
CLIPs. The open_clip tag path (`open_clip:ViT-L-14/openai`) is exercised offline by pointing the tag at a
local file of the narrowed architecture (the tag's own flags, quick_gelu included, are kept).
"""

from __future__ import annotations

import copy
import os
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.published_configs import hf_clip_config, published  # noqa: E402
from tests.cross_impl import (  # noqa: E402
    hf_clip_to_open_clip,
    open_clip_to_hf_clip,
    timm_convnext_to_hf,
    timm_siglip_to_hf,
    timm_vit_to_hf,
)

ATOL = 1e-5
# Fewer, narrower layers; everything else (patch, image size, activation, norms, pooling, projection) real.
NARROW_VISION = {"layers": 2, "width": 64, "heads": 4}
NARROW_TEXT = {"layers": 2, "width": 32, "heads": 2}
ARCHES = {"ViT-L-14": "openai/clip-vit-large-patch14", "ViT-B-32": "openai/clip-vit-base-patch32"}


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    diff = (a.float() - b.float()).abs().max().item()
    assert diff <= ATOL * max(1.0, b.abs().max().item()), f"max |difference| {diff:.2e}"


def _pixels(size: int, n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _hf_clip(model_id: str, state: dict[str, torch.Tensor] | None = None):
    """transformers CLIPModel as the published config says, narrowed like the open_clip side."""
    from transformers import CLIPConfig, CLIPModel

    cfg = copy.deepcopy(hf_clip_config(model_id))
    for part, narrow in (("vision_config", NARROW_VISION), ("text_config", NARROW_TEXT)):
        cfg[part].update(num_hidden_layers=narrow["layers"], hidden_size=narrow["width"],
                         num_attention_heads=narrow["heads"], intermediate_size=4 * narrow["width"])
    model = CLIPModel(CLIPConfig(**cfg)).eval()
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model


def _image_features(hf, x: torch.Tensor) -> torch.Tensor:
    out = hf.get_image_features(pixel_values=x)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _text_features(hf, tokens: torch.Tensor) -> torch.Tensor:
    out = hf.get_text_features(input_ids=tokens)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@pytest.fixture
def openai_tag(monkeypatch, tmp_path):
    """`open_clip:<arch>/openai` served offline: open_clip's own config of <arch> with fewer, narrower
    layers, and the tag's real pretrained entry (quick_gelu: True) pointing at a local weights file."""
    import open_clip
    from safetensors.torch import save_file

    def serve(arch: str) -> dict[str, torch.Tensor]:
        cfg = open_clip.get_model_config(arch)
        assert "quick_gelu" not in cfg, "the architecture's own config must leave the activation to the tag"
        v, t = NARROW_VISION, NARROW_TEXT
        cfg["vision_cfg"].update(layers=v["layers"], width=v["width"], head_width=v["width"] // v["heads"])
        cfg["text_cfg"].update(layers=t["layers"], width=t["width"], heads=t["heads"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = open_clip.CLIP(**cfg)
            for p in model.parameters():  # larger than the init, so an activation change shows
                torch.nn.init.normal_(p, std=0.2)
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        path = tmp_path / f"{arch}-openai.safetensors"
        save_file(state, str(path))
        tag = open_clip.get_pretrained_cfg(arch, "openai")
        assert tag.get("quick_gelu") is True
        monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, arch, cfg)
        monkeypatch.setitem(open_clip.pretrained._PRETRAINED[arch], "openai", {**tag, "file": str(path)})
        return state

    return serve


def _role(role: str, override: str | None = None):
    from semitruths_dagster.hub import ModelSource
    from semitruths_dagster.models.loader import clear_model_cache, load_model
    from semitruths_dagster.models.profiles import resolve_model

    clear_model_cache()
    try:
        return load_model(resolve_model(role, ModelSource("paper", {role: override} if override else {})), "cpu", "float32")
    finally:
        clear_model_cache()


@pytest.mark.parametrize("arch", list(ARCHES))
def test_openai_clip_role_matches_transformers_quick_gelu(openai_tag, arch: str) -> None:
    """Role `clip` (and the B/32 the DE-FAKE / saliency models are) = transformers' openai CLIP config.
    Fails where open_clip builds exact GELU for OpenAI's QuickGELU weights."""
    import open_clip

    state = openai_tag(arch)
    hf = _hf_clip(ARCHES[arch], open_clip_to_hf_clip(state, NARROW_VISION["layers"], NARROW_TEXT["layers"]))
    loaded = _role("clip", None if arch == "ViT-L-14" else f"open_clip:{arch}/openai")
    x = _pixels(224)
    tokens = open_clip.tokenize(["a photo of a cat", "an edited photograph of a street"])
    with torch.no_grad():
        _close(loaded.model.encode_image(x), _image_features(hf, x))
        _close(loaded.model.encode_text(tokens), _text_features(hf, tokens))


def test_detector_backbone_loader_matches_transformers(openai_tag) -> None:
    """UFD, RINE and the CLIP probe load `open_clip:ViT-L-14/openai` through backbones.load_open_clip."""
    from semitruths_dagster.detectors.backbones import load_open_clip

    state = openai_tag("ViT-L-14")
    hf = _hf_clip(ARCHES["ViT-L-14"], open_clip_to_hf_clip(state, NARROW_VISION["layers"], NARROW_TEXT["layers"]))
    clip = load_open_clip("hub", "open_clip:ViT-L-14/openai", "detector 'ufd' weight 'backbone'")
    x = _pixels(224, seed=1)
    with torch.no_grad():
        _close(clip.encode_image(x), _image_features(hf, x))


def test_saliency_role_transformers_matches_open_clip(openai_tag, tmp_path) -> None:
    """Role `saliency` (transformers CLIPModel, openai/clip-vit-base-patch32) from a saved folder = open_clip's
    ViT-B-32/openai through role `clip`, with the same weights."""
    import open_clip
    from transformers import CLIPImageProcessor, CLIPProcessor

    from semitruths_dagster.hub import CLIP_MEAN, CLIP_STD
    from semitruths_dagster.random_weights.clip_tokenizer import clip_tokenizer

    state = openai_tag("ViT-B-32")
    hf = _hf_clip(ARCHES["ViT-B-32"], open_clip_to_hf_clip(state, NARROW_VISION["layers"], NARROW_TEXT["layers"]))
    folder = tmp_path / "clip-vit-base-patch32"
    hf.save_pretrained(folder)
    CLIPProcessor(image_processor=CLIPImageProcessor(image_mean=CLIP_MEAN, image_std=CLIP_STD),
                  tokenizer=clip_tokenizer()).save_pretrained(folder)
    saliency = _role("saliency", str(folder))
    clip = _role("clip", "open_clip:ViT-B-32/openai")
    assert saliency.model.config.vision_config.hidden_act == published(ARCHES["ViT-B-32"])["vision"]["act"]
    x = _pixels(224, seed=2)
    tokens = open_clip.tokenize(["a red car", "a dog on a beach"])
    with torch.no_grad():
        _close(_image_features(saliency.model, x), clip.model.encode_image(x))
        _close(_text_features(saliency.model, tokens), clip.model.encode_text(tokens))


def _detector(plugin: str, tmp_path, **options):
    from semitruths_dagster.detectors import build_detector, random_spec, validate_spec

    spec = random_spec(plugin, tmp_path / plugin)
    if options:
        spec = validate_spec(spec.to_dict() | {"options": {**spec.options, **options}}, source="<test>")
    return build_detector(spec, device="cpu", dtype=torch.float32)


def test_c2p_clip_transformers_tower_matches_open_clip(tmp_path) -> None:
    """C2P-CLIP's transformers vision tower (its checkpoint) = open_clip's ViT with the same weights."""
    import open_clip

    det = _detector("c2p_clip", tmp_path)
    vc = det.options["vision_config"]
    assert vc["hidden_act"] == "quick_gelu"
    hf_state = {k.removeprefix("model.").replace("vision_model.vision_model.", "vision_model."): v
                for k, v in det.model.state_dict().items() if not k.startswith("model.fc.")}
    oc = open_clip.CLIP(embed_dim=vc["projection_dim"], quick_gelu=True, vision_cfg={
        "image_size": vc["image_size"], "patch_size": vc["patch_size"], "width": vc["hidden_size"],
        "layers": vc["num_hidden_layers"], "head_width": vc["hidden_size"] // vc["num_attention_heads"],
        "mlp_ratio": vc["intermediate_size"] / vc["hidden_size"]}, text_cfg={"layers": 1, "width": 32, "heads": 2})
    missing, unexpected = oc.load_state_dict(hf_clip_to_open_clip(hf_state, vc["num_hidden_layers"]), strict=False)
    assert not unexpected and all(not k.startswith("visual.") for k in missing)
    x = _pixels(vc["image_size"], seed=3)
    with torch.no_grad():
        inner = det.model.model
        ours = inner.visual_projection(inner.vision_model(pixel_values=x).pooler_output)
        _close(ours, oc.eval().encode_image(x))


def test_cnnspot_torchvision_resnet50_matches_timm(tmp_path) -> None:
    import timm

    det = _detector("cnnspot", tmp_path)
    layers = det.options["layers"]
    ref = timm.create_model("resnet50", pretrained=False, num_classes=1, layers=layers).eval()
    ref.load_state_dict(det.model.state_dict(), strict=True)  # the same key names in both libraries
    x = _pixels(224, seed=4)
    with torch.no_grad():
        _close(det.model(x), ref(x))


def test_aide_srm_resnet_matches_timm(tmp_path) -> None:
    """AIDE's torchvision ResNet-50 with a 30-channel stem = timm's resnet50(in_chans=30), pooled features."""
    import timm

    det = _detector("aide", tmp_path)
    srm = det.model.model_min
    layers = [len(srm.layer1), len(srm.layer2), len(srm.layer3), len(srm.layer4)]
    ref = timm.create_model("resnet50", pretrained=False, num_classes=0, in_chans=30, layers=layers).eval()
    ref.load_state_dict({k: v for k, v in srm.state_dict().items() if not k.startswith("fc.")}, strict=True)
    x = _pixels(64, seed=9).repeat(1, 10, 1, 1)  # 30 channels: the SRM filter outputs
    with torch.no_grad():
        _close(srm(x), ref(x))


def _hf_convnext(trunk):
    from transformers import ConvNextConfig, ConvNextModel

    depths = [len(s.blocks) for s in trunk.stages]
    dims = [trunk.stem[0].out_channels] + [s.downsample[1].out_channels for s in list(trunk.stages)[1:]]
    eps = trunk.stem[1].eps
    hf = ConvNextModel(ConvNextConfig(depths=depths, hidden_sizes=dims, hidden_act="gelu", layer_norm_eps=eps))
    # transformers fixes its inner LayerNorms at eps 1e-6; open_clip's ConvNeXt-XXL (timm) uses 1e-5 throughout,
    # which no ConvNextConfig can say, so the reference gets timm's eps set directly.
    for module in hf.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.eps = eps
    hf.load_state_dict(timm_convnext_to_hf(trunk.state_dict(), depths), strict=True)
    return hf.eval()


def test_drct_timm_convnext_matches_transformers(tmp_path) -> None:
    """DRCT's timm ConvNeXt (its checkpoint) = transformers ConvNextModel: pooled, normed -> head.fc."""
    det = _detector("drct", tmp_path)
    net = det.model.model
    hf = _hf_convnext(net)
    x = _pixels(224, seed=10)
    with torch.no_grad():
        _close(net(x), net.head.fc(hf(pixel_values=x).pooler_output))


def test_aide_convnext_trunk_matches_transformers(tmp_path) -> None:
    """AIDE's ConvNeXt-XXL trunk (timm, unpooled, head norm kept) = transformers' ConvNeXt feature map."""
    det = _detector("aide", tmp_path)
    trunk = det.model.openclip_convnext_xxl
    assert any(len(s.blocks) == 0 for s in trunk.stages)  # the stand-in's empty last stage converts too
    hf = _hf_convnext(trunk)
    x = _pixels(64, seed=11)
    with torch.no_grad():
        last = hf(pixel_values=x).last_hidden_state
        _close(trunk(x), hf.layernorm(last.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def test_cospy_siglip_timm_trunk_matches_transformers() -> None:
    """CO-SPY's SigLIP: open_clip builds timm's `vit_so400m_patch14_siglip_384` (global_pool 'map', no head,
    its config's timm_pool / timm_proj), narrowed here = transformers' SiglipVisionModel with the activation
    open_clip builds (exact GELU; the published big_vision model used tanh-GELU: see published_configs.py)."""
    import open_clip
    import timm
    from transformers import SiglipVisionConfig, SiglipVisionModel

    p = published("timm/ViT-SO400M-14-SigLIP-384")
    vision_cfg = open_clip.get_model_config(p["open_clip"].split(":")[1].split("/")[0])["vision_cfg"]
    assert (vision_cfg["timm_model_name"], vision_cfg["timm_pool"], vision_cfg["timm_proj"]) == (p["timm"], "map", "none")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12)
        trunk = timm.create_model(p["timm"], pretrained=False, num_classes=0, global_pool="map",
                                  depth=2, embed_dim=64, num_heads=4).eval()
        for param in trunk.parameters():
            torch.nn.init.normal_(param, std=0.2)
    v = p["vision"]
    hf = SiglipVisionModel(SiglipVisionConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=trunk.blocks[0].mlp.fc1.out_features,
        patch_size=v["patch_size"], image_size=v["image_size"], hidden_act=v["act"], layer_norm_eps=trunk.norm.eps)).eval()
    hf.load_state_dict(timm_siglip_to_hf(trunk.state_dict(), 2), strict=True)
    x = _pixels(v["image_size"], n=1, seed=13)
    with torch.no_grad():
        _close(trunk(x), hf(pixel_values=x).pooler_output)


def _hf_vit(cls_name: str, config_name: str, vit, **extra):
    import transformers

    config = getattr(transformers, config_name)(
        hidden_size=vit.embed_dim, num_hidden_layers=len(vit.blocks), num_attention_heads=vit.blocks[0].attn.num_heads,
        intermediate_size=vit.blocks[0].mlp.fc1.out_features, patch_size=vit.patch_embed.patch_size[0],
        image_size=vit.patch_embed.img_size[0], hidden_act="gelu", layer_norm_eps=vit.norm.eps, **extra)
    model = getattr(transformers, cls_name)(config, **({"add_pooling_layer": False} if cls_name == "ViTModel" else {}))
    keys = set(model.state_dict())
    model.load_state_dict(timm_vit_to_hf(vit.state_dict(), keys, len(vit.blocks)), strict=True)
    return model.eval()


def test_bfree_timm_dinov2_reg4_matches_transformers(tmp_path) -> None:
    det = _detector("bfree", tmp_path)
    vit = det.model
    p = published("timm/vit_base_patch14_reg4_dinov2.lvd142m")["vision"]
    assert vit.num_reg_tokens == p["registers"]
    hf = _hf_vit("Dinov2WithRegistersModel", "Dinov2WithRegistersConfig", vit, num_register_tokens=vit.num_reg_tokens)
    x = _pixels(vit.patch_embed.img_size[0], n=1, seed=5)
    with torch.no_grad():
        _close(vit(x), vit.head(hf(pixel_values=x).pooler_output))


def test_community_forensics_timm_vit_matches_transformers(tmp_path) -> None:
    det = _detector("community_forensics", tmp_path)
    vit = det.model
    hf = _hf_vit("ViTModel", "ViTConfig", vit, qkv_bias=True)
    x = _pixels(vit.patch_embed.img_size[0], n=1, seed=6)
    with torch.no_grad():
        _close(vit(x), vit.head(hf(pixel_values=x).last_hidden_state[:, 0]))


@pytest.mark.parametrize("size", [518])
def test_linear_probe_timm_dinov2_matches_transformers(tmp_path, size: int) -> None:
    """The probe's DINOv2 backbone from a local model.safetensors (timm keys) = transformers Dinov2Model."""
    from safetensors.torch import save_file

    from semitruths_dagster.detectors.plugins.linear_probe import DINOV2, build_dinov2, load_backbone

    options = {"timm_model": DINOV2, "timm_kwargs": {"depth": 2, "embed_dim": 32, "num_heads": 2}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        source = build_dinov2(DINOV2, options["timm_kwargs"])
        for name, p in source.named_parameters():
            if "ls" in name:  # DINOv2 initialises LayerScale at 1e-5: make the blocks matter
                torch.nn.init.normal_(p, std=0.5)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    vit = load_backbone("dinov2", "local", str(tmp_path), options, "detector 'probe' weight 'backbone'")
    hf = _hf_vit("Dinov2Model", "Dinov2Config", vit)
    x = _pixels(size, n=1, seed=8)
    with torch.no_grad():
        _close(vit(x), hf(pixel_values=x).pooler_output)


# --- loading warnings are errors --------------------------------------------------------------------


def test_open_clip_quick_gelu_mismatch_is_an_error(openai_tag) -> None:
    """Building OpenAI weights without QuickGELU (open_clip's default) raises, naming the model and the fix."""
    import open_clip

    from semitruths_dagster.load_checks import OPEN_CLIP_FIX, WeightMismatchError, strict_loading

    openai_tag("ViT-B-32")
    expected = r"(?s)model for role 'clip'.*QuickGELU mismatch.*Fix: OpenAI-tagged"
    with pytest.raises(WeightMismatchError, match=expected), strict_loading("model for role 'clip'", OPEN_CLIP_FIX):
        open_clip.create_model("ViT-B-32", pretrained="openai", weights_only=True)


def test_local_open_clip_folder_without_quick_gelu_is_an_error(tmp_path) -> None:
    """A local folder standing in for OpenAI's ViT-L/14 whose config says GELU is refused by role `clip`."""
    import open_clip

    from semitruths_dagster.hub import save_open_clip
    from semitruths_dagster.load_checks import WeightMismatchError

    cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                                           "patch_size": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    save_open_clip(open_clip.CLIP(**cfg), cfg, tmp_path / "clip")
    with pytest.raises(WeightMismatchError, match=r"model for role 'clip'.*quick_gelu"):
        _role("clip", str(tmp_path / "clip"))


def test_transformers_load_report_is_an_error(tmp_path) -> None:
    """A saliency folder whose config.json has one layer more than its weights: transformers only logs its
    LOAD REPORT (MISSING keys, random weights); the project raises, naming the role."""
    import json

    from semitruths_dagster.load_checks import WeightMismatchError
    from semitruths_dagster.random_weights.roles import ensure_tiny

    folder = ensure_tiny(tmp_path / "tiny", "saliency")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    config["vision_config"]["num_hidden_layers"] += 1
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightMismatchError, match=r"(?s)model for role 'saliency'.*MISSING.*Fix: the folder's config.json"):
        _role("saliency", str(broken))


def test_other_warnings_pass_through_unchanged() -> None:
    """A loading warning that is not about the weights is re-issued (console.py's filters then apply)."""
    from semitruths_dagster.load_checks import mismatch_reason, strict_loading

    with pytest.warns(FutureWarning, match="`torch_dtype` is deprecated"), strict_loading("model for role 'x'", "none"):
        warnings.warn("`torch_dtype` is deprecated! Use `dtype` instead!", FutureWarning, stacklevel=1)
    from semitruths_dagster.console import HARMLESS_LOG_RECORDS, HARMLESS_WARNINGS

    for message, *_ in list(HARMLESS_WARNINGS) + [(m, w) for _l, m, w in HARMLESS_LOG_RECORDS]:
        assert mismatch_reason(message) is None, message


def test_ufd_local_backbone_without_quick_gelu_is_an_error(tmp_path) -> None:
    """UFD's backbone folder stands for OpenAI's ViT-L/14: a config that would build exact GELU is refused."""
    import json

    from semitruths_dagster.detectors import build_detector, random_spec
    from semitruths_dagster.load_checks import WeightMismatchError

    spec = random_spec("universal_fake_detect", tmp_path / "ufd")
    config = tmp_path / "ufd" / "backbone" / "open_clip_config.json"
    data = json.loads(config.read_text())
    assert data["model_cfg"]["quick_gelu"] is True  # the stand-in says what OpenAI's weights need
    data["model_cfg"].pop("quick_gelu")
    config.write_text(json.dumps(data))
    with pytest.raises(WeightMismatchError, match=r"weights.backbone.*stands for 'open_clip:ViT-L-14/openai'"):
        build_detector(spec)


def test_other_log_records_are_not_silenced(capfd) -> None:
    """A library's warning log that is not about the weights still reaches stderr inside strict_loading."""
    import logging

    from semitruths_dagster.load_checks import strict_loading

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # as in a plain process: only logging's last resort prints
    try:
        with strict_loading("model for role 'x'", "none"):
            logging.getLogger("some.library").warning("Multiple checkpoints found; using the first")
    finally:
        root.handlers[:] = saved
    assert "Multiple checkpoints found" in capfd.readouterr().err
