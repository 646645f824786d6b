"""The 2025 detector plugins (B-Free, SPAI, CO-SPY, AIDE, DRCT): real checkpoint formats, paper preprocessing.

Random weights are written in each release's format and read back through the same loading code a real file
takes; strict loading means every key in the file is used. Preprocessing is checked numerically on
hand-made images against the paper code's rules (sizes, crop boxes, padding, normalisation).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import yaml
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import (  # noqa: E402
    CheckpointError,
    build_detector,
    load_spec,
    random_spec,
    validate_spec,
)
from semitruths_dagster.detectors.plugins.aide import PatchSelection  # noqa: E402
from semitruths_dagster.detectors.plugins.bfree import PATCH, parse_arch  # noqa: E402
from semitruths_dagster.detectors.plugins.drct import DRCT  # noqa: E402
from semitruths_dagster.detectors.plugins.spai import REAL_ARCH, PatchBasedMFViT, circular_mask  # noqa: E402
from semitruths_dagster.detectors.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

PLUGINS_2025 = ["bfree", "spai", "cospy", "aide", "drct"]
MEAN, STD = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)


def _ramp(w: int, h: int) -> Image.Image:
    """A hand-made image whose pixel (y, x) encodes its position (no two nearby pixels alike)."""
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(
        np.stack([x % 256, y % 256, (x // 256 + 7 * (y // 256) + x + y) % 256], -1).astype(np.uint8)
    )


def _normalized(arr: np.ndarray, mean=MEAN, std=STD) -> torch.Tensor:
    """ToTensor + Normalize, computed by hand from uint8 (h, w, 3)."""
    return torch.tensor(((arr / 255.0 - mean) / std).transpose(2, 0, 1), dtype=torch.float32)


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    root = tmp_path_factory.mktemp("random-2025")
    return {p: random_spec(p, root / p) for p in PLUGINS_2025}


def _respec(spec, **changes):
    return validate_spec(spec.to_dict() | changes, source="<test>")


@pytest.fixture(scope="module")
def detectors(specs):
    return {p: build_detector(s) for p, s in specs.items()}


# --- every plugin: P(fake) in [0, 1], deterministic ------------------------------------------------------


@pytest.mark.parametrize("plugin", PLUGINS_2025)
def test_scores_are_probabilities_and_deterministic(specs, detectors, plugin):
    image = _ramp(240, 230)
    first = detectors[plugin].score([image])
    again = build_detector(specs[plugin]).score([image])  # a second load of the same files
    assert first.shape == (1,) and 0.0 <= first[0] <= 1.0
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("plugin", PLUGINS_2025)
def test_truncated_checkpoint_is_one_clear_error(specs, tmp_path, plugin):
    spec = specs[plugin]
    role = {"cospy": "artifact"}.get(plugin, "model")
    src = spec.weights[role]
    if os.path.isdir(src):  # B-Free: the release folder (config.yaml + .pth)
        dst = tmp_path / os.path.basename(src)
        dst.mkdir()
        for name in os.listdir(src):
            (dst / name).write_bytes(Path(src, name).read_bytes())
        target = dst / "model_epoch_best.pth"
    else:
        dst = target = tmp_path / os.path.basename(src)
    data = Path(src, "model_epoch_best.pth" if os.path.isdir(src) else "").read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError, match=rf"weights\.{role}: .*not a readable torch checkpoint \(truncated"
    ):
        build_detector(_respec(spec, weights={**spec.weights, role: str(dst)}))


# --- B-Free ------------------------------------------------------------------------------------------------


def test_bfree_release_folder_format(specs, detectors):
    folder = specs["bfree"].weights["model"]
    config = yaml.safe_load(Path(folder, "config.yaml").read_text())
    assert (
        config["arch"] == "timm_c5i504_vit_base_patch14_reg4_dinov2.lvd142m"
        and config["norm_type"] == "resnet"
    )
    ckpt = torch.load(os.path.join(folder, config["weights_file"]), weights_only=True)
    state = ckpt["model"]  # plain timm keys: no wrapper prefix
    assert {"cls_token", "reg_token", "pos_embed", "patch_embed.proj.weight", "head.weight"} <= set(state)
    assert tuple(state["reg_token"].shape)[:2] == (1, 4) and tuple(state["head.weight"].shape)[0] == 1
    assert state["pos_embed"].shape[1] == (504 // 14) ** 2  # no class-token position (DINOv2 reg)
    assert torch.equal(detectors["bfree"].model.head.weight, state["head.weight"])
    assert parse_arch(config["arch"]) == (504, "vit_base_patch14_reg4_dinov2.lvd142m")


def test_bfree_full_size_key_layout_matches_the_release():
    """The real model_epoch_best.pth holds 177 tensors, 86,526,721 values (a third-party audit of the file)."""
    from semitruths_dagster.detectors.plugins.bfree import build_vit

    state = build_vit("vit_base_patch14_reg4_dinov2.lvd142m", 504, {}).state_dict()
    assert len(state) == 177 and sum(v.numel() for v in state.values()) == 86_526_721


def test_bfree_bare_pth_and_errors(specs, tmp_path):
    spec = specs["bfree"]
    folder = spec.weights["model"]
    state = torch.load(os.path.join(folder, "model_epoch_best.pth"), weights_only=True)["model"]
    bare = tmp_path / "bfree.pth"
    torch.save({"model": state}, bare)
    build_detector(_respec(spec, weights={"model": str(bare)}))  # options stand in for config.yaml
    extra = tmp_path / "extra.pth"
    torch.save({"model": {**state, "fc.weight": torch.zeros(1)}}, extra)
    with pytest.raises(CheckpointError, match=r"extra\.pth does not fit the model: 1 unexpected keys"):
        build_detector(_respec(spec, weights={"model": str(extra)}))
    missing = tmp_path / "missing.pth"
    torch.save({"model": {k: v for k, v in state.items() if k != "head.bias"}}, missing)
    with pytest.raises(CheckpointError, match=r"1 missing keys \(e\.g\. \['head\.bias'\]\)"):
        build_detector(_respec(spec, weights={"model": str(missing)}))
    # A checkpoint of another detector (CNNSpot's, also under 'model') names the file and the mismatch.
    other = random_spec("cnnspot", tmp_path / "cnnspot").weights["model"]
    with pytest.raises(
        CheckpointError, match=r"blur_jpg_prob0\.5\.pth does not fit the model: \d+ missing keys"
    ):
        build_detector(_respec(spec, weights={"model": other}))


def test_bfree_five_crops_on_the_patch_grid(detectors):
    pre = detectors["bfree"].preprocessing
    img = _ramp(600, 530)  # trimmed to 588 x 518 (42 x 37 tokens of 14 px)
    frame = pre.frame(img)
    assert frame.size == (588, 518)
    boxes = [(b.left, b.top) for b in pre.crop_boxes(frame.size)]
    # centre at ((42 - 36) // 2, (37 - 36) // 2) tokens, then top-left, bottom-left, bottom-right, top-right
    assert boxes == [(3 * 14, 0), (0, 0), (0, 14), (84, 14), (84, 0)]
    out = pre.apply(img)
    assert tuple(out.shape) == (5, 3, 504, 504)
    arr = np.asarray(img)
    for k, (left, top) in enumerate(boxes):
        torch.testing.assert_close(out[k], _normalized(arr[top : top + 504, left : left + 504]))


def test_bfree_pixel_crops_equal_the_authors_token_crops(detectors):
    """The wrapper crops the patch embedding of the whole image; the pixel crops give the same tokens."""
    model, pre = detectors["bfree"].model, detectors["bfree"].preprocessing
    proj = model.patch_embed.proj
    for size in [(600, 530), (300, 700)]:  # plain, and a side under 36 tokens (periodic tiling)
        img = _ramp(*size)
        with torch.no_grad():
            grid = proj(_normalized(np.asarray(img))[None])  # (1, D, H // 14, W // 14)
            gh, gw = grid.shape[-2:]
            if gh < 36 or gw < 36:  # tile the token grid and keep its first 36 x 36 (both sides)
                grid = grid.repeat(1, 1, max(-(-36 // gh), 1), max(-(-36 // gw), 1))[..., :36, :36]
            gh, gw = grid.shape[-2:]
            ch, cw = max((gh - 36) // 2, 0), max((gw - 36) // 2, 0)
            starts = [(ch, cw), (0, 0), (gh - 36, 0), (gh - 36, gw - 36), (0, gw - 36)]
            expected = torch.cat([grid[..., r : r + 36, c : c + 36] for r, c in starts])
            ours = proj(pre.apply(img))
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    assert PATCH == 14


def test_bfree_averages_the_five_logits(detectors):
    det = detectors["bfree"]
    img = _ramp(600, 530)
    with torch.no_grad():
        logits = det.model(det.preprocessing.apply(img))  # (5, 1)
    assert det.score([img])[0] == pytest.approx(torch.sigmoid(logits.mean()).item(), abs=1e-6)
    assert det.crop_box_for_mask(np.ones((530, 600), bool)) is None  # the paper's crops are fixed


# --- SPAI --------------------------------------------------------------------------------------------------


def test_spai_checkpoint_layout(specs, detectors):
    ckpt = torch.load(specs["spai"].weights["model"], weights_only=True)
    assert {"model", "optimizer", "lr_scheduler", "max_accuracy", "epoch"} <= set(ckpt)
    state = ckpt["model"]
    for key in [
        "mfvit.vit.patch_embed.proj.weight",
        "mfvit.vit.blocks.0.attn.q_bias",
        "mfvit.vit.cls_blocks.0.mlp.fc2.bias",
        "mfvit.vit.intermediate_fc_norm.1.weight",
        "mfvit.frequencies_mask",
        "mfvit.features_processor.patch_projector.projectors.1.projector.4.weight",
        "mfvit.features_processor.original_features_processor.alpha",
        "patch_aggregator",
        "to_out.0.weight",
        "cls_head.head.6.weight",
    ]:
        assert key in state, key
    assert tuple(state["cls_head.head.6.weight"].shape)[0] == 1
    assert torch.equal(detectors["spai"].model.to_kv.weight, state["to_kv.weight"])


def test_spai_full_size_shapes():
    state = PatchBasedMFViT(REAL_ARCH).state_dict()
    # 6 statistics x 12 layers + 1024-d projection = 1096 per patch; MLP ratio 3; 1536-d attention, 12 heads.
    assert tuple(state["norm.weight"].shape) == (1096,)
    assert tuple(state["cls_head.head.0.weight"].shape) == (3288, 1096)
    assert tuple(state["to_kv.weight"].shape) == (3072, 1096)
    assert tuple(state["patch_aggregator"].shape) == (12, 1, 128)
    assert tuple(state["mfvit.vit.head.weight"].shape) == (2, 768 * 12)
    assert tuple(state["mfvit.vit.pos_embed"].shape) == (1, 197, 768)


def test_spai_pickled_config_needs_allow_pickle(specs, tmp_path):
    spec = specs["spai"]
    ckpt = torch.load(spec.weights["model"], weights_only=True)
    pickled = tmp_path / "spai.pth"
    torch.save({**ckpt, "config": argparse.Namespace(MODEL="vit")}, pickled)  # the real file pickles a config
    with pytest.raises(CheckpointError, match="holds pickled Python objects"):
        build_detector(_respec(spec, weights={"model": str(pickled)}))
    build_detector(_respec(spec, weights={"model": str(pickled)}, allow_pickle=True))


def test_spai_any_resolution_padding_and_patches(detectors):
    pre = detectors["spai"].preprocessing
    img = _ramp(300, 150)  # height under 224: reflect-101 padding, 37 rows above, 37 below
    out = pre.apply(img)
    assert tuple(out.shape) == (3, 224, 300)
    expected = np.pad(np.asarray(img), ((37, 37), (0, 0), (0, 0)), mode="reflect")
    torch.testing.assert_close(out, _normalized(expected, 0.0, 1.0))
    assert out[0, 36, 5].item() == pytest.approx(out[0, 38, 5].item())  # mirrored about row 37, not repeated
    big = pre.apply(_ramp(470, 460))  # no padding, no resize
    assert tuple(big.shape) == (3, 460, 470)
    assert PatchBasedMFViT.patches(big).shape[0] == 4  # 2 x 2 patches of 224, remainder dropped
    small = PatchBasedMFViT.patches(pre.apply(_ramp(250, 300)))
    assert small.shape[0] == 5  # fewer than 4 patches: torchvision's five crops
    torch.testing.assert_close(small[4], pre.apply(_ramp(250, 300))[:, 38:262, 13:237])  # the centre crop


def test_spai_frequency_mask():
    mask = circular_mask(224, 16)
    assert mask[112, 112] == 1 and mask[111, 111] == 1  # the two centre rows/cols are both distance 0
    assert mask[112, 112 + 16] == 0 and mask[112, 112 + 15] == 1
    half = np.arange(112)
    coords = np.concatenate([half[::-1], half])
    assert int(mask.sum()) == int((np.hypot(coords[None, :], coords[:, None]) < 16).sum())


# --- CO-SPY ------------------------------------------------------------------------------------------------


def test_cospy_release_files(specs, detectors):
    w = specs["cospy"].weights
    sem = torch.load(w["semantic"], weights_only=True)
    assert set(sem) == {"fc.weight", "fc.bias"} and tuple(sem["fc.weight"].shape) == (1, 1152)
    fusion = torch.load(w["fusion"], weights_only=True)
    assert set(fusion) == {"fc.weight", "fc.bias"} and tuple(fusion["fc.weight"].shape) == (1, 2)
    art = torch.load(w["artifact"], weights_only=True)
    assert tuple(art["fc.weight"].shape) == (1, 512)
    assert "artifact_encoder.conv1.weight" in art and any(k.startswith("artifact_encoder.vae.") for k in art)
    model = detectors["cospy"].model
    assert torch.equal(model.fc.weight, fusion["fc.weight"]) and torch.equal(
        model.sem_fc.weight, sem["fc.weight"]
    )
    vae_key = next(k for k in art if k.startswith("artifact_encoder.vae."))
    assert torch.equal(model.art.state_dict()[vae_key], art[vae_key])  # the file's VAE keys were loaded


def test_cospy_artifact_file_without_vae_and_swapped_files(specs, tmp_path):
    spec = specs["cospy"]
    art = torch.load(spec.weights["artifact"], weights_only=True)
    heads_only = tmp_path / "artifact_weights.pth"
    torch.save({k: v for k, v in art.items() if not k.startswith("artifact_encoder.vae.")}, heads_only)
    build_detector(
        _respec(spec, weights={**spec.weights, "artifact": str(heads_only)})
    )  # VAE from weights.vae
    with pytest.raises(
        CheckpointError, match=r"weights\.semantic: .*fusion_weights\.pth does not fit.*shape mismatch"
    ):
        build_detector(_respec(spec, weights={**spec.weights, "semantic": spec.weights["fusion"]}))


def test_cospy_preprocessing_is_resize_crop_384(detectors):
    pre = detectors["cospy"].preprocessing
    img = _ramp(500, 400)
    paper = T.Compose([T.Resize(384), T.CenterCrop(384), T.ToTensor()])
    assert torch.equal(pre.apply(img), paper(img))
    assert pre.frame_size(img.size) == (480, 384) and pre.center_box((480, 384)).left == 48


# --- AIDE --------------------------------------------------------------------------------------------------


def test_aide_checkpoint_holds_the_whole_model(specs, detectors, tmp_path):
    spec = specs["aide"]
    ckpt = torch.load(spec.weights["model"], weights_only=False)
    assert isinstance(ckpt["args"], argparse.Namespace)  # loaded safely: Namespace is plain data
    state = ckpt["model"]
    assert tuple(state["hpf.hpf.weight"].shape) == (30, 3, 5, 5)
    assert tuple(state["model_min.conv1.weight"].shape) == (64, 30, 7, 7)
    assert tuple(state["model_max.fc.weight"].shape) == (1000, 2048)
    assert tuple(state["convnext_proj.0.weight"].shape) == (256, 3072)
    assert tuple(state["fc.fc1.weight"].shape) == (1024, 2304) and tuple(state["fc.fc2.weight"].shape) == (
        2,
        1024,
    )
    assert any(k.startswith("openclip_convnext_xxl.stages.") for k in state)
    assert torch.equal(detectors["aide"].model.convnext_proj[0].weight, state["convnext_proj.0.weight"])
    no_trunk = tmp_path / "no_trunk.pth"
    torch.save(
        {"model": {k: v for k, v in state.items() if not k.startswith("openclip_convnext_xxl.")}}, no_trunk
    )
    with pytest.raises(
        CheckpointError, match=r"no 'openclip_convnext_xxl\.\*' keys .*give weights\.convnext"
    ):
        build_detector(_respec(spec, weights={"model": str(no_trunk)}))


def test_aide_patch_selection_picks_flat_and_busy_windows():
    sel = PatchSelection()
    dct = sel.dct_matrix()
    torch.testing.assert_close(dct @ dct.T, torch.eye(32), atol=1e-5, rtol=0)  # orthonormal DCT-II
    bands = sel.band_filters()
    assert tuple(bands.shape) == (6, 32, 32)
    torch.testing.assert_close(bands.sum(dim=(1, 2)), torch.ones(6))  # each band is averaged
    rng = np.random.default_rng(0)
    arr = np.full((96, 96, 3), 128, np.uint8) + rng.integers(0, 3, (96, 96, 3), dtype=np.uint8)  # near-flat
    arr[:32, 64:96] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)  # one busy window, top-right
    arr[48:80, 16:48] = 100  # one perfectly flat window (stride 16 reaches it)
    image = torch.tensor(arr.transpose(2, 0, 1) / 255.0, dtype=torch.float32)
    views = sel.select(image)
    assert tuple(views.shape) == (5, 3, 256, 256)
    resize = T.Resize([256, 256], antialias=False)  # the authors' torchvision default for tensors
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(views[0], norm(resize(image[:, 48:80, 16:48])), atol=1e-4, rtol=0)  # min
    torch.testing.assert_close(views[1], norm(resize(image[:, 0:32, 64:96])), atol=1e-4, rtol=0)  # max
    torch.testing.assert_close(views[4], norm(resize(image)))  # the whole image


def test_aide_input_is_the_image_at_its_size(detectors):
    pre = detectors["aide"].preprocessing
    img = _ramp(130, 90)
    torch.testing.assert_close(pre.apply(img), _normalized(np.asarray(img), 0.0, 1.0))


# --- DRCT --------------------------------------------------------------------------------------------------


def test_drct_convnext_state_dict(specs, detectors):
    state = torch.load(specs["drct"].weights["model"], weights_only=True)
    assert tuple(state["model.head.fc.weight"].shape) == (1024, 1024) and tuple(state["fc.weight"].shape) == (
        2,
        1024,
    )
    assert "model.stem.0.weight" in state and not any(k.startswith("module.") for k in state)
    assert torch.equal(detectors["drct"].model.fc.weight, state["fc.weight"])


def test_drct_clip_variant(tmp_path):
    saved = DRCT.save_random_clip(tmp_path)
    state = torch.load(saved.weights["model"], weights_only=True)
    assert tuple(state["model.fc.weight"].shape) == (1024, 768) and tuple(state["fc.weight"].shape) == (
        2,
        1024,
    )
    assert "model.model.visual.conv1.weight" in state and "model.model.token_embedding.weight" in state
    spec = validate_spec(
        {
            "name": "drct-clip",
            "plugin": "drct",
            "version": "1",
            "weights": saved.weights,
            "options": saved.options,
        }
    )
    p = build_detector(spec).score([_ramp(240, 230)])
    assert 0.0 <= p[0] <= 1.0


def test_drct_pad_and_floor_centre_crop(detectors):
    pre = detectors["drct"].preprocessing
    img = _ramp(227, 300)  # width gap 3: albumentations floors the offset to 1 (torchvision would take 2)
    box = pre.center_box(img.size)
    assert (box.left, box.top) == (1, 38)
    arr = np.asarray(img)
    torch.testing.assert_close(pre.apply(img), _normalized(arr[38:262, 1:225]))
    small = _ramp(200, 101)  # PadIfNeeded(224, zeros): 12 columns left, 61 rows above
    out = pre.apply(small)
    padded = np.zeros((224, 224, 3), np.uint8)
    padded[61 : 61 + 101, 12 : 12 + 200] = np.asarray(small)
    torch.testing.assert_close(out, _normalized(padded))
    assert pre.movable_crop  # the mask-aware crop may move DRCT's window


# --- the CLI ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", PLUGINS_2025)
def test_cli_add_random(plugin, tmp_path, monkeypatch, capsys):
    from semitruths_dagster import cli

    config = tmp_path / "semitruths.yaml"
    sources = {"sample": {"adapter": "embedded"}}
    config.write_text(yaml.safe_dump({"storage": {"root": str(tmp_path / "storage")}, "sources": sources}))
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(config))
    cli.main(["detector", "add-random", plugin])
    path = tmp_path / "var" / "detectors" / f"{plugin}-random.yaml"
    assert f"registered {path}" in capsys.readouterr().out
    spec = load_spec(path)
    assert spec.random_weights and spec.plugin == plugin
    assert build_detector(spec).random_weights


# --- checkpoints saved on a GPU --------------------------------------------------------------------------------


@contextlib.contextmanager
def _tagged_as_cuda():
    """torch.save records every storage as living on 'cuda:0', as a checkpoint saved from a GPU does."""
    entry = (0, lambda storage: "cuda:0", lambda storage, location: None)
    torch.serialization._package_registry.insert(0, entry)
    try:
        yield
    finally:
        torch.serialization._package_registry.remove(entry)


@pytest.mark.parametrize("plugin", PLUGINS_2025)
def test_checkpoint_saved_on_a_gpu_loads_on_cpu(specs, tmp_path, plugin):
    spec = specs[plugin]
    role = {"cospy": "artifact"}.get(plugin, "model")
    src = Path(spec.weights[role])
    if src.is_dir():  # B-Free's release folder
        dst = tmp_path / src.name
        dst.mkdir()
        (dst / "config.yaml").write_bytes((src / "config.yaml").read_bytes())
        file, out = src / "model_epoch_best.pth", dst / "model_epoch_best.pth"
    else:
        file = out = dst = tmp_path / src.name
    obj = torch.load(src if not src.is_dir() else file, weights_only=False)  # our own test file
    with _tagged_as_cuda():
        torch.save(obj, out)
    if not torch.cuda.is_available():  # the file really asks for a GPU: a plain torch.load refuses it
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(out, weights_only=False)
    det = build_detector(_respec(spec, weights={**spec.weights, role: str(dst)}))
    assert next(det.model.parameters()).device.type == "cpu"
