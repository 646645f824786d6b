"""C2P-CLIP, RINE, SAFE and the linear probe: random weights in the real formats load through the same path as
a real file; preprocessing equals the authors' transform on a hand-made image; GPU-saved files load on CPU."""

from __future__ import annotations

import os

import numpy as np
import pytest
import pywt
import torch
import torchvision.transforms as T
from PIL import Image
from safetensors import safe_open

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import CheckpointError, build_detector, random_spec, validate_spec  # noqa: E402
from semitruths_dagster.detectors.plugins.safe import dwt_highpass_diagonal  # noqa: E402

CLIP_NORM = T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def _image(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    root = tmp_path_factory.mktemp("random-weights-b")
    return {p: random_spec(p, root / p) for p in ("c2p_clip", "rine", "safe", "linear_probe")}


def _respec(spec, **changes):
    return validate_spec(spec.to_dict() | changes, source="<test>")


def test_c2p_clip_checkpoint_keys_are_the_authors(specs, tmp_path):
    spec = specs["c2p_clip"]
    state = torch.load(spec.weights["model"], weights_only=True)
    assert all(k.startswith(("model.vision_model.", "model.visual_projection.", "model.fc.")) for k in state)
    assert tuple(state["model.fc.weight"].shape) == (1, 768)  # the real head on the real 768-d projection
    assert "model.visual_projection.weight" in state and not any("text" in k for k in state)
    det = build_detector(spec)
    scores = det.score([_image(300, 260), _image(224, 224, 1)])
    assert scores.shape == (2,) and ((scores > 0) & (scores < 1)).all()
    # the authors' transform: Resize(224) (bilinear), CenterCrop(224), ToTensor, CLIP mean/std
    paper = T.Compose([T.Resize(224), T.CenterCrop(224), T.ToTensor(), CLIP_NORM])
    img = _image(300, 260)
    assert torch.equal(det.preprocessing.apply(img), paper(img))
    # a checkpoint of another detector (RINE's head) is refused, naming the file and the keys
    with pytest.raises(CheckpointError, match=r"does not fit the model: .*missing keys"):
        build_detector(_respec(spec, weights={"model": specs["rine"].weights["head"]}))


def test_rine_head_shapes_read_from_the_file(specs):
    spec = specs["rine"]
    state = torch.load(spec.weights["head"], weights_only=True)
    assert sorted(state) == sorted(
        ["alpha"] + [f"{p}.{i}.{w}" for p in ("proj1", "proj2") for i in (1, 4, 7, 10) for w in ("weight", "bias")]
        + [f"head.{i}.{w}" for i in (0, 3, 6) for w in ("weight", "bias")])
    det = build_detector(spec)
    assert torch.equal(det.model.head.alpha, state["alpha"])
    assert det.score([_image(256, 256)]).shape == (1,)
    paper = T.Compose([T.CenterCrop(224), T.ToTensor(), CLIP_NORM])  # no resize
    img = _image(260, 300)
    assert torch.equal(det.preprocessing.apply(img), paper(img))


def test_rine_backbone_of_the_wrong_depth_is_named(specs, tmp_path):
    spec = specs["rine"]
    state = torch.load(spec.weights["head"], weights_only=True)
    state["alpha"] = torch.zeros(1, 24, state["alpha"].shape[2])  # a head trained on 24 blocks
    bad = tmp_path / "head24.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"has 2 blocks of width 32, but the head .* 24 blocks of width 32"):
        build_detector(_respec(spec, weights={**spec.weights, "head": str(bad)}))


def test_rine_head_uses_softmax_over_blocks():
    from semitruths_dagster.detectors.plugins.rine import RINEHead

    head = RINEHead(blocks=3, width=4, proj_dim=2, nproj=1).eval()
    with torch.no_grad():
        head.alpha.copy_(torch.tensor([[[0.0, 0.0], [100.0, 100.0], [0.0, 0.0]]]))  # all weight on block 1
    tokens = torch.randn(2, 3, 4)
    only_block1 = tokens.clone()
    only_block1[:, [0, 2]] = torch.randn(2, 2, 4)  # other blocks do not matter any more
    torch.testing.assert_close(head(tokens), head(only_block1))


def test_safe_dwt_equals_pywt_and_preprocessing_crops(specs):
    x = torch.rand(1, 3, 37, 50, dtype=torch.float64)
    expected = pywt.dwt2(x.numpy(), "bior1.3", mode="symmetric", axes=(-2, -1))[1][2]  # HH (diagonal)
    np.testing.assert_allclose(dwt_highpass_diagonal(x).numpy(), expected, atol=1e-12)
    spec = specs["safe"]
    ckpt = torch.load(spec.weights["model"], weights_only=True)
    assert tuple(ckpt["model"]["fc1.weight"].shape) == (2, 512)
    det = build_detector(spec)
    big, small = _image(400, 300), _image(200, 180)
    paper = T.Compose([T.CenterCrop([256, 256]), T.ToTensor()])  # crop, never resize, no normalisation
    assert torch.equal(det.preprocessing.apply(big), paper(big))
    assert torch.equal(det.preprocessing.apply(small), paper(small))  # zero-padded, not upscaled
    p1 = det.score([big, small])
    p0 = build_detector(_respec(spec, options={**spec.options, "fake_index": 0})).score([big, small])
    np.testing.assert_allclose(p0 + p1, 1.0, atol=1e-6)  # softmax over 2 logits


def _as_if_saved_on_cuda(src, dst) -> None:
    """Rewrite a torch checkpoint's storage locations 'cpu' -> 'cuda:0' (what a GPU-trained file records)."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                moved = payload.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
                assert moved != payload
                payload = moved
            zout.writestr(item, payload)


def test_gpu_saved_checkpoint_loads_on_cpu(specs, tmp_path):
    spec = specs["safe"]
    path = tmp_path / "cuda0.pth"
    _as_if_saved_on_cuda(spec.weights["model"], path)
    if not torch.cuda.is_available():  # the file really needs a map_location here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    det = build_detector(_respec(spec, weights={"model": str(path)}))
    assert str(next(det.model.parameters()).device) == "cpu"
    assert det.score([_image(256, 256)]).shape == (1,)


def test_linear_probe_head_is_safetensors_with_its_split(specs):
    spec = specs["linear_probe"]
    with safe_open(spec.weights["head"], framework="pt") as f:
        meta = f.metadata()
        assert sorted(f.keys()) == ["bias", "weight"]
    assert meta["features"] == "clip" and "split" in meta
    det = build_detector(spec)
    paper = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                       CLIP_NORM])
    img = _image(300, 240)
    assert torch.equal(det.preprocessing.apply(img), paper(img))
    assert det.score([img]).shape == (1,)
    assert not det.trained_on("sample", "anything")  # a random head has no training split


def test_hub_ids_offline_fail_clearly(specs):
    for plugin, role in (("c2p_clip", "model"), ("safe", "model"), ("rine", "head")):
        spec = specs[plugin]
        with pytest.raises(CheckpointError, match=f"weights.{role}: cannot get .* of hub repo 'someone/{plugin}'"):
            build_detector(_respec(spec, weights={**spec.weights, role: f"someone/{plugin}"}))
