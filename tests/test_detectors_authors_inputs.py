"""Detector inputs as the authors' code builds them, where random weights would hide a difference:
AIDE's un-antialiased resize, DE-FAKE's BLIP captions (224 px, prompt stripped), C2P-CLIP's two key layouts."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import build_detector, random_spec, validate_spec  # noqa: E402
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
