"""The two real published checkpoints in ../shared/data/checkpoints load through their plugins, every key used.

Their CLIP ViT-L/14 backbone cannot be downloaded here, so each test stands it in with an open_clip ViT of the
real output widths (UFD: 768-d image embedding; RINE: 24 blocks of 1024-d CLS tokens), random weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import build_detector, random_spec, validate_spec, weights_digest  # noqa: E402
from semitruths_dagster.detectors.backbones import save_open_clip_folder, tiny_clip_config  # noqa: E402

CHECKPOINTS = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "checkpoints").resolve()
UFD = CHECKPOINTS / "ufd_fc_weights.pth"
RINE = CHECKPOINTS / "rine_model_2class_trainable.pth"
# From the checkpoints' README (the authors' files as published).
DIGESTS = {UFD: "477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847",
           RINE: "680d301b6d191da85b9dabcebf42cd3df20c5c669fa8320c498f835d02bf5ccb"}

pytestmark = pytest.mark.skipif(not RINE.is_file() or not UFD.is_file(), reason=f"no real checkpoints in {CHECKPOINTS}")


def _image(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (256, 256, 3), dtype=np.uint8))


def test_ufd_real_head_loads_every_key(tmp_path):
    stand_in = random_spec("universal_fake_detect", tmp_path)  # tiny open_clip ViT with the real 768-d output
    spec = validate_spec(stand_in.to_dict() | {"name": "ufd-real-head", "random_weights": True,
                                               "weights": {**stand_in.weights, "head": str(UFD)},
                                               "sha256": {"head": DIGESTS[UFD]}}, source="<test>")
    det = build_detector(spec)  # digest checked, file saved from cuda:0 mapped to the CPU
    state = torch.load(UFD, map_location="cpu", weights_only=True)
    assert sorted(state) == ["bias", "weight"]
    assert torch.equal(det.model.fc.weight, state["weight"]) and torch.equal(det.model.fc.bias, state["bias"])
    assert det.score([_image()]).shape == (1,)


def test_rine_real_head_every_key_and_shape():
    """The file's shapes define the head (nproj 4, proj_dim 128, 24 blocks of 1024); strict load uses every key."""
    from semitruths_dagster.detectors.checkpoints import load_into
    from semitruths_dagster.detectors.plugins.rine import RINEHead, head_shape

    state = torch.load(RINE, map_location="cpu", weights_only=True)
    assert head_shape(state, RINE, "rine") == (24, 1024, 128, 4)
    head = RINEHead(24, 1024, 128, 4).eval()
    load_into(head, state, RINE, "rine head")  # strict: no missing, no unexpected, no shape mismatch
    assert set(head.state_dict()) == set(state)
    for k, v in head.state_dict().items():
        assert torch.equal(v, state[k])
    out = head(torch.randn(3, 24, 1024))
    assert out.shape == (3, 1)


def _standin_vit_l14_blocks(out: Path) -> Path:
    """An open_clip ViT with ViT-L/14's 24 blocks of width 1024 (thin MLPs, random weights)."""
    import open_clip

    cfg = tiny_clip_config(768, image_size=224, patch_size=32)
    cfg["vision_cfg"].update(layers=24, width=1024, head_width=512, mlp_ratio=0.0625)
    with torch.device("meta"):
        model = open_clip.CLIP(**cfg)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # fast random init (the default one is slow at this size)
        for name, p in model.named_parameters():
            if p.dim() >= 2 or "embedding" in name:
                p.normal_(0.0, 0.02, generator=gen)
            else:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
    return save_open_clip_folder(model, cfg, out)


@pytest.mark.slow
def test_rine_real_checkpoint_through_the_plugin(tmp_path):
    backbone = _standin_vit_l14_blocks(tmp_path / "vit-l14-blocks")
    spec = validate_spec({"name": "rine-real-head", "plugin": "rine", "version": "2class",
                          "weights": {"backbone": str(backbone), "head": str(RINE)},
                          "sha256": {"head": DIGESTS[RINE], "backbone": weights_digest(backbone)},
                          "random_weights": True}, source="<test>")
    det = build_detector(spec)
    state = torch.load(RINE, map_location="cpu", weights_only=True)
    assert set(det.model.head.state_dict()) == set(state)
    assert all(torch.equal(v, state[k]) for k, v in det.model.head.state_dict().items())
    scores = det.score([_image(), _image(1)])
    assert scores.shape == (2,) and np.isfinite(scores).all()
