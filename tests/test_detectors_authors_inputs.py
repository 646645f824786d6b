"""Detector inputs as the authors' code builds them, where random weights would hide a difference:
AIDE's un-antialiased resize, DE-FAKE's BLIP captions (224 px, prompt stripped), C2P-CLIP's two key layouts."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import (  # noqa: E402
    DETECTOR_PLUGINS,
    CheckpointError,
    SpecError,
    build_detector,
    random_spec,
    validate_spec,
)
from semitruths_dagster.detectors.plugins.aide import PatchSelection  # noqa: E402
from semitruths_dagster.detectors.plugins.c2p_clip import TINY  # noqa: E402
from semitruths_dagster.detectors.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


def _stripes(h: int, w: int) -> torch.Tensor:
    """A (3, h, w) [0, 1] image of 1-px stripes: fine detail that a downsizing resize aliases."""
    cols = (torch.arange(w) % 2).float()
    rows = (torch.arange(h) % 3 == 0).float()[:, None]
    return torch.stack([cols.expand(h, w), rows.expand(h, w), 0.5 * (cols + rows) % 1.0])


# --- AIDE --------------------------------------------------------------------------------------------------


def test_aide_resizes_without_antialiasing_as_the_authors_torchvision():
    image = _stripes(400, 300)  # larger than 256: the whole-image view is downsized
    views = PatchSelection().select(image)
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    # torchvision 0.12 / 0.15 `Resize([256, 256])` on a tensor = bilinear interpolation, no antialias
    plain = F.interpolate(image[None], size=(256, 256), mode="bilinear", align_corners=False, antialias=False)[0]
    torch.testing.assert_close(views[4], norm(plain), atol=1e-5, rtol=0)
    smoothed = F.interpolate(image[None], size=(256, 256), mode="bilinear", align_corners=False, antialias=True)[0]
    assert (views[4] - norm(smoothed)).abs().max() > 0.5  # the antialiased view is another input


# --- C2P-CLIP ----------------------------------------------------------------------------------------------


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (260, 300, 3), dtype=np.uint8))


def test_c2p_clip_loads_both_tower_layouts_with_the_same_outputs(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    spec = random_spec("c2p_clip", tmp_path / "w")
    authors = torch.load(spec.weights["model"], weights_only=True)
    # The authors' file is a CLIPModel's vision keys under `model.` (+ fc): check against a real CLIPModel.
    vision = {k: v for k, v in TINY.items() if k != "projection_dim"}
    clip = CLIPModel(CLIPConfig(vision_config=vision, projection_dim=TINY["projection_dim"]))
    clip_keys = {"model." + k for k in clip.state_dict() if k.startswith(("vision_model.", "visual_projection."))}
    assert set(authors) - {"model.fc.weight", "model.fc.bias"} == clip_keys
    # The same weights as a transformers-4 CLIPVisionModel inside the wrapper would save them.
    nested = {k.replace("model.vision_model.", "model.vision_model.vision_model.", 1): v for k, v in authors.items()}
    assert sum(k.startswith("model.vision_model.vision_model.") for k in nested) == len(clip_keys) - 1
    torch.save(nested, tmp_path / "nested.pth")
    nested_spec = validate_spec(spec.to_dict() | {"weights": {"model": str(tmp_path / "nested.pth")}}, source="<test>")
    images = [_image(0), _image(1)]
    a, b = build_detector(spec).score(images), build_detector(nested_spec).score(images)
    assert np.array_equal(a, b) and np.ptp(a) > 0
    # the conversion both ways is lossless
    from semitruths_dagster.detectors.plugins.c2p_clip import fit_tower_layout

    assert fit_tower_layout(fit_tower_layout(authors, nested=True), nested=False).keys() == authors.keys()
    assert fit_tower_layout(authors, nested=True).keys() == nested.keys()


# --- DE-FAKE -----------------------------------------------------------------------------------------------

PROMPT = "a picture of "  # BLIP_Decoder's default prompt (De-Fake blipmodels/blip.py)


@pytest.fixture(scope="module")
def defake_spec(tmp_path_factory):
    return random_spec("defake", tmp_path_factory.mktemp("defake"))


def _observed_blip_inputs(det, images):
    """Captions, with the pixels BLIP's vision embeddings and the first ids its decoder's word embeddings
    received (global forward pre-hooks: they see the inputs whatever the plugin's code looks like)."""
    from transformers.models.blip.modeling_blip import BlipVisionEmbeddings
    from transformers.models.blip.modeling_blip_text import BlipTextEmbeddings

    seen: dict[str, torch.Tensor] = {}
    words = set()

    def hook(module, args):
        if isinstance(module, BlipTextEmbeddings):
            words.add(module.word_embeddings)
        elif isinstance(module, BlipVisionEmbeddings):
            seen.setdefault("pixels", args[0].detach().clone())
        elif module in words:
            seen.setdefault("ids", args[0].detach().clone())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        captions = det.caption(images)
    finally:
        handle.remove()
    return captions, seen


def test_defake_captions_as_the_authors(defake_spec):
    """De-Fake test.py: BLIP gets Resize(224) + CenterCrop(224) + ToTensor (no normalisation), decodes from
    'a picture of ' by 3-beam search (5-60 tokens), and the prompt's characters are cut off the caption."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    det = build_detector(defake_spec)
    images = [_image(0), _image(1)]
    captions, seen = _observed_blip_inputs(det, images)
    authors = T.Compose([T.Resize(224), T.CenterCrop(224), T.ToTensor()])
    expected = torch.stack([authors(im) for im in images])
    assert seen["pixels"].shape == (2, 3, 224, 224)
    torch.testing.assert_close(seen["pixels"], expected, atol=0, rtol=0)
    ref = defake_spec.weights["captioner"]
    tok = BlipProcessor.from_pretrained(ref).tokenizer
    prompt_ids = tok(PROMPT).input_ids[:-1]  # [CLS] a picture of (its [SEP] dropped) ...
    prompt_ids[0] = tok.bos_token_id  # ... and [CLS] swapped for [DEC]
    assert seen["ids"][0].tolist() == prompt_ids
    # The same captions from transformers' BLIP called with the authors' settings, prompt then cut off.
    blip = BlipForConditionalGeneration.from_pretrained(ref).eval()
    out = blip.generate(pixel_values=expected, input_ids=tok([PROMPT] * 2, return_tensors="pt").input_ids,
                        interpolate_pos_encoding=True, num_beams=3, max_length=60, min_length=5)
    full = tok.batch_decode(out, skip_special_tokens=True)
    assert all(t.startswith(PROMPT.strip()) for t in full), full
    assert captions == [t[len(PROMPT):] for t in full]


def _as_blip_repo(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers BLIP captioner weights under the BLIP repo's names (models/vit.py, models/blip.py)."""
    names = [
        (r"^vision_model\.embeddings\.class_embedding$", "visual_encoder.cls_token"),
        (r"^vision_model\.embeddings\.position_embedding$", "visual_encoder.pos_embed"),
        (r"^vision_model\.embeddings\.patch_embedding\.", "visual_encoder.patch_embed.proj."),
        (r"^vision_model\.post_layernorm\.", "visual_encoder.norm."),
        (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"visual_encoder.blocks.\1.norm\2."),
        (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection\.", r"visual_encoder.blocks.\1.attn.proj."),
        (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.qkv\.", r"visual_encoder.blocks.\1.attn.qkv."),
        (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"visual_encoder.blocks.\1.mlp."),
    ]
    out = {}
    for key, value in state.items():
        for pattern, target in names:
            key = re.sub(pattern, target, key)
        out[key] = value.clone()
    assert not any(k.startswith("vision_model.") for k in out)
    return out


def test_defake_loads_the_authors_blip_file(defake_spec, tmp_path):
    """weights.captioner_original: BLIP's own model_base_capfilt_large.pth layout, its other heads and
    buffers ignored, loaded at the file's own positions (no interpolation)."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    # Every weight made distinct (fresh layer norms are all ones: a swapped name would not show).
    hub = BlipForConditionalGeneration.from_pretrained(defake_spec.weights["captioner"])
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in hub.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    hub.save_pretrained(tmp_path / "hub")
    BlipProcessor.from_pretrained(defake_spec.weights["captioner"]).save_pretrained(tmp_path / "hub")
    defake_spec = validate_spec(defake_spec.to_dict() | {
        "weights": {**defake_spec.weights, "captioner": str(tmp_path / "hub")}}, source="<test>")
    state = _as_blip_repo(hub.state_dict())
    extras = {"text_encoder.bert.embeddings.word_embeddings.weight": torch.zeros(4, 4),
              "visual_encoder_m.pos_embed": torch.zeros(1, 17, 32),
              "text_decoder.bert.embeddings.position_ids": torch.arange(64)[None]}
    torch.save({"model": state | extras, "epoch": 19, "config": {"image_size": 224}}, tmp_path / "same.pth")
    with_file = validate_spec(defake_spec.to_dict() | {
        "weights": {**defake_spec.weights, "captioner_original": str(tmp_path / "same.pth")}}, source="<test>")
    images = [_image(0), _image(1)]
    assert build_detector(with_file).caption(images) == build_detector(defake_spec).caption(images)
    # A file made at 224 px (28 x 28 patches of 8 px here): the model is built at 224, positions as in the file.
    state["visual_encoder.pos_embed"] = torch.randn(1, 28 * 28 + 1, 32, generator=torch.Generator().manual_seed(0))
    torch.save({"model": state}, tmp_path / "at224.pth")
    at224 = validate_spec(defake_spec.to_dict() | {
        "weights": {**defake_spec.weights, "captioner_original": str(tmp_path / "at224.pth")}}, source="<test>")
    det = build_detector(at224)
    captions, seen = _observed_blip_inputs(det, images)
    blip = det._captioner.model
    assert blip.config.vision_config.image_size == 224 and len(captions) == 2
    assert torch.equal(blip.vision_model.embeddings.position_embedding.detach(), state["visual_encoder.pos_embed"])
    # a file of another model is refused, naming the role
    torch.save({"model": {"visual_encoder.blocks.0.attn.qkv.weight": torch.zeros(3, 3)}}, tmp_path / "bad.pth")
    bad = validate_spec(defake_spec.to_dict() | {
        "weights": {**defake_spec.weights, "captioner_original": str(tmp_path / "bad.pth")}}, source="<test>")
    with pytest.raises(CheckpointError, match="weights.captioner_original.*no 'visual_encoder.pos_embed'"):
        build_detector(bad).caption(images)


# --- every plugin names what it was checked against ---------------------------------------------------------

AUTHORS_FILES = re.compile(r"[\w-]+/[\w.-]+ `[^`\s]+\.(py|sh|yaml|md|txt)`")


@pytest.mark.parametrize("plugin", sorted(DETECTOR_PLUGINS))
def test_plugin_docstring_names_the_authors_files(plugin):
    """Each plugin module's docstring names the authors' repository and the files read (`owner/repo
    \\`path\\``), or says that it could not be confirmed, or that it is a generic plugin (no authors)."""
    doc = sys.modules[DETECTOR_PLUGINS[plugin].__module__].__doc__ or ""
    assert AUTHORS_FILES.search(doc) or "not confirmed" in doc or "Generic plugin:" in doc, f"{plugin}: docstring names no authors' files"


def test_defake_caption_settings_are_checked(defake_spec):
    with pytest.raises(SpecError, match=r"options\.caption_pixels.*'clip' is not one of"):
        validate_spec(defake_spec.to_dict() | {"options": {"caption_pixels": "clip"}}, source="<test>")
    weights = {k: v for k, v in defake_spec.weights.items() if k != "captioner"} | {"captioner_original": "x.pth"}
    with pytest.raises(SpecError, match=r"weights\.captioner_original.*needs weights\.captioner"):
        validate_spec(defake_spec.to_dict() | {"weights": weights}, source="<test>")
