"""Detector plugins: random weights in each real checkpoint format load through the real loading code."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import load_file, save_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import (  # noqa: E402
    CheckpointError,
    build_detector,
    prediction_cache_key,
    random_spec,
    read_tensors,
    validate_spec,
)
from semitruths_dagster.detectors.plugins.npr import NPRNet  # noqa: E402


def _image(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("random-weights")


@pytest.fixture(scope="module")
def specs(weights_dir):
    """One random-weight spec per plugin (weights written once for the module)."""
    plugins = ["universal_fake_detect", "cnnspot", "community_forensics", "npr", "defake"]
    return {p: random_spec(p, weights_dir / p) for p in plugins}


def _respec(spec, **changes):
    data = spec.to_dict() | changes
    return validate_spec(data, source="<test>")


def test_ufd_head_file_is_head_only_state_dict(specs):
    spec = specs["universal_fake_detect"]
    state = torch.load(spec.weights["head"], weights_only=True)
    assert set(state) == {"weight", "bias"}
    assert tuple(state["weight"].shape) == (1, 768) and tuple(state["bias"].shape) == (1,)
    det = build_detector(spec)
    assert torch.equal(det.model.fc.weight, state["weight"])
    scores = det.score([_image(256), _image(256, 1)])
    assert scores.shape == (2,) and ((scores > 0) & (scores < 1)).all()


def test_ufd_wrong_keys_give_clear_error(specs, tmp_path):
    spec = specs["universal_fake_detect"]
    state = torch.load(spec.weights["head"], weights_only=True)
    bad = tmp_path / "fc_weights.pth"
    torch.save({f"fc.{k}": v for k, v in state.items()}, bad)  # a wrapped model's keys, not the head's
    with pytest.raises(CheckpointError, match=r"fc_weights\.pth does not fit the model: 2 missing keys"):
        build_detector(_respec(spec, weights={**spec.weights, "head": str(bad)}))


def test_cnnspot_state_dict_under_model(specs, tmp_path):
    spec = specs["cnnspot"]
    ckpt = torch.load(spec.weights["model"], weights_only=True)
    assert "model" in ckpt and tuple(ckpt["model"]["fc.weight"].shape) == (1, 2048)
    det = build_detector(spec)
    assert det.score([_image(224)]).shape == (1,)
    # DataParallel checkpoints ('module.' prefix) load too.
    wrapped = tmp_path / "dp.pth"
    torch.save({"model": {f"module.{k}": v for k, v in ckpt["model"].items()}}, wrapped)
    build_detector(_respec(spec, weights={"model": str(wrapped)}))
    bare = tmp_path / "bare.pth"
    torch.save(ckpt["model"], bare)  # state dict not wrapped under 'model'
    with pytest.raises(CheckpointError, match=r"bare\.pth has no top-level key 'model'"):
        build_detector(_respec(spec, weights={"model": str(bare)}))


def test_commfor_safetensors_with_vit_prefix(specs, tmp_path):
    spec = specs["community_forensics"]
    state = load_file(os.path.join(spec.weights["model"], "model.safetensors"))
    assert all(k.startswith("vit.") for k in state)
    assert tuple(state["vit.head.weight"].shape) == (1, 384)
    det = build_detector(spec)
    assert torch.equal(det.model.head.weight, state["vit.head.weight"])
    assert det.score([_image(64)]).shape == (1,)  # resized to 440, cropped to 384
    renamed = tmp_path / "renamed.safetensors"
    save_file({k.replace("vit.", "backbone.", 1): v for k, v in state.items()}, str(renamed))
    with pytest.raises(CheckpointError, match="has no keys under 'vit.'"):
        build_detector(_respec(spec, weights={"model": str(renamed)}))


def test_commfor_hub_id_offline_is_clear(specs):
    spec = _respec(specs["community_forensics"], weights={"model": "OwensLab/commfor-model-384"})
    with pytest.raises(
        CheckpointError, match="cannot get model.safetensors of hub repo 'OwensLab/commfor-model-384'"
    ):
        build_detector(spec)


def test_npr_plain_state_dict(specs, tmp_path):
    spec = specs["npr"]
    state = torch.load(spec.weights["model"], weights_only=True)
    assert tuple(state["fc1.weight"].shape) == (1, 512)
    assert tuple(state["conv1.weight"].shape) == (64, 3, 3, 3)  # NPR's 3x3 stride-2 stem
    assert not any(k.startswith(("layer3", "layer4", "fc.")) for k in state)
    det = build_detector(spec)
    assert det.score([_image(64), _image(63)]).shape == (2,)  # odd sides are trimmed, not a crash
    state["fc.weight"] = state.pop("fc1.weight")
    bad = tmp_path / "NPR.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"missing keys \(e\.g\. \['fc1\.weight'\]\)"):
        build_detector(_respec(spec, weights={"model": str(bad)}))


def test_npr_residual_is_zero_on_2x2_blocks():
    blocks = torch.rand(1, 3, 8, 8).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.equal(NPRNet.npr(blocks), torch.zeros_like(blocks))


def test_defake_pickle_guard(specs):
    spec = specs["defake"]
    refused = _respec(spec, allow_pickle=False)
    with pytest.raises(CheckpointError, match="pickled whole module.*allow_pickle: true"):
        build_detector(refused)
    # The safe reader refuses the file too: it really is a pickled module, not a state dict.
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_tensors(spec.weights["head"], "head")


def test_defake_loads_when_allowed_and_maps_main(specs):
    spec = specs["defake"]
    with open(spec.weights["head"], "rb") as fh:
        assert b"__main__" in fh.read()  # saved like the original script's torch.save(model)
    det = build_detector(spec)
    assert [
        det.model.head.fc1.in_features,
        det.model.head.fc2.in_features,
        det.model.head.fc3.out_features,
    ] == [1024, 512, 2]
    images = [_image(96), _image(96, 1)]
    p1 = det.score(images, texts=["a photo of a cat", "a red car on a road"])
    p0 = build_detector(_respec(spec, options={"fake_index": 0})).score(
        images, texts=["a photo of a cat", "a red car on a road"]
    )
    np.testing.assert_allclose(p0 + p1, 1.0, atol=1e-6)  # softmax over 2 logits, fake index picked
    # Captions from the tiny BLIP captioner (short, greedy: the paper's 60-token beam search is slow on CPU).
    short = _respec(spec, options={"caption_max_length": 8, "caption_min_length": 2, "caption_num_beams": 1})
    assert build_detector(short).score(images).shape == (2,)


def test_predictions_carry_flag_and_cache_key(specs):
    det = build_detector(specs["universal_fake_detect"])
    box = det.preprocessing.center_box((256, 256))
    preds = det.predict([_image(256)], ["ab" * 32], boxes=[box])
    (p,) = preds
    assert p.random_weights is True and p.detector == det.name and p.crop_box == box.as_list()
    assert p.cache_key == prediction_cache_key(det.name, det.version, "ab" * 32, p.preprocessing)
    assert p.predicted_fake == (p.score > p.threshold)
    other = det.predict([_image(256)], ["ab" * 32])[0]
    assert other.cache_key != p.cache_key  # an explicit box is a different preprocessing


def test_ufd_preprocessing_matches_paper_transform(specs):
    det = build_detector(specs["universal_fake_detect"])
    paper = T.Compose(
        [
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
        ]
    )
    img = _image(300)
    assert torch.equal(det.preprocessing.apply(img), paper(img))


def test_commfor_preprocessing_matches_paper_transform(specs):
    det = build_detector(specs["community_forensics"])
    paper = T.Compose(
        [
            T.Resize(440),
            T.CenterCrop(384),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    img = _image(120)
    assert torch.equal(det.preprocessing.apply(img), paper(img))
    # The centre box equals the centre crop when given explicitly.
    box = det.preprocessing.center_box(det.preprocessing.frame_size(img.size))
    assert torch.equal(det.preprocessing.apply(img, box), paper(img))


def test_cache_key_changes_with_each_part():
    base = prediction_cache_key("ufd", "1", "a" * 64, "sig")
    assert base == prediction_cache_key("ufd", "1", "a" * 64, "sig")
    others = [
        ("ufd2", "1", "a" * 64, "sig"),
        ("ufd", "2", "a" * 64, "sig"),
        ("ufd", "1", "b" * 64, "sig"),
        ("ufd", "1", "a" * 64, "sig2"),
    ]
    assert len({prediction_cache_key(*o) for o in others} | {base}) == 5


def test_npr_paper_architecture_and_tiny_stand_in(tmp_path):
    """The default is the paper's network (layer1 x3, layer2 x4 bottlenecks, ~1.44 M parameters); the
    random stand-in keeps the key pattern with one bottleneck per stage."""
    from semitruths_dagster.detectors.plugins.npr import NPR

    full = NPRNet()
    assert (len(full.layer1), len(full.layer2)) == (3, 4)
    assert 1.40e6 < sum(p.numel() for p in full.parameters()) < 1.48e6
    tiny = NPR.save_random_weights(tmp_path / "tiny")
    assert tiny.options == {"layers": [1, 1]}
    tiny_keys = set(torch.load(tiny.weights["model"], weights_only=True))
    assert tiny_keys < set(full.state_dict())  # a strict subset: the same names, fewer blocks
    assert NPR.save_random_weights(tmp_path / "full", tiny=False).options == {"layers": [3, 4]}
