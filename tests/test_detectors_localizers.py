"""Map-output detectors (detectors/localizer.py and the localizer plugins): random weights written in each
release's checkpoint format load through the real loaders, the full-size networks have the authors' key
layout (facts read from their code and, for PSCC-Net, from its two released head files), and `localize`
keeps the contract the localization assets rely on."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import (  # noqa: E402
    CheckpointError,
    build_detector,
    random_spec,
    validate_spec,
    verify_spec,
    weights_digest,
)
from semitruths_dagster.detectors.base import Detector  # noqa: E402
from semitruths_dagster.detectors.localizer import Localizer  # noqa: E402
from semitruths_dagster.detectors.plugins import DETECTOR_PLUGINS  # noqa: E402

LOCALIZERS = ["pscc_net", "iml_vit", "mvss_net", "res_fcn", "trufor"]


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    root = tmp_path_factory.mktemp("localizers")
    return {p: random_spec(p, root / p, seed=3) for p in LOCALIZERS}


@pytest.fixture(scope="module")
def detectors(specs):
    return {p: build_detector(s) for p, s in specs.items()}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)),
            Image.fromarray(rng.integers(0, 256, (56, 40, 3), dtype=np.uint8)),
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))]


def _meta_keys(build) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


def test_registered_localizers_declare_maps():
    assert Detector.PRODUCES_MAPS is False
    found = sorted(n for n, cls in DETECTOR_PLUGINS.items() if getattr(cls, "PRODUCES_MAPS", False))
    assert found == sorted(LOCALIZERS)
    for name in LOCALIZERS:
        cls = DETECTOR_PLUGINS[name]
        assert issubclass(cls, Localizer) and cls.LICENCE and cls.SCORE_FROM in ("detection_head", "map_max")


@pytest.mark.parametrize("plugin", LOCALIZERS)
def test_localize_contract(plugin, detectors, images):
    """One float32 map in [0, 1] per image, of the image's own (H, W); scores float64 in [0, 1]; `score`
    gives the same image-level scores (batched otherwise); map-max plugins score exactly the map's maximum."""
    detector = detectors[plugin]
    scores, maps = detector.localize(images, batch_size=2)
    assert scores.dtype == np.float64 and scores.shape == (3,)
    assert [m.shape for m in maps] == [(im.height, im.width) for im in images]
    assert all(m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1 for m in maps)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert np.array_equal(detector.score(images, batch_size=3), scores)
    if detector.SCORE_FROM == "map_max":
        assert scores.tolist() == [float(m.max()) for m in maps]
    rows = detector.predict(images[1:2], ["ab" * 32])
    assert rows[0].random_weights and rows[0].score == pytest.approx(scores[1])


def test_pscc_score_is_its_detection_head(detectors, images):
    detector = detectors["pscc_net"]
    scores, maps = detector.localize(images[:1])
    pixels = detector.preprocessing.apply(images[0])[None]
    with torch.inference_mode():
        logits = detector.model.clsnet(detector.model.fenet(pixels))
    assert scores[0] == pytest.approx(float(torch.softmax(logits, 1)[0, 1]), abs=1e-6)
    assert scores[0] != pytest.approx(float(maps[0].max()), abs=1e-4)


def test_iml_vit_pads_with_black_and_cuts_the_map_back(detectors, images):
    """The image zero-padded at the bottom/right (as PadIfNeeded top_left) gives the same input as the
    image pasted on a black canvas of the input size: the small image's map is the canvas map's corner."""
    detector = detectors["iml_vit"]
    side = detector.options["input_size"]
    canvas = Image.new("RGB", (side, side))
    canvas.paste(images[0], (0, 0))
    (s_small, s_canvas), (small, big) = detector.localize([images[0], canvas])
    assert big.shape == (side, side) and small.shape == (48, 64)
    assert np.allclose(small, big[:48, :64], atol=1e-5)


def test_pscc_release_layout_and_keys(specs):
    """Three DataParallel state dicts in the release's checkpoint/ folders; the full-size networks have
    the released heads' keys (64 in NLCDetection.pth, 128 in DetectionHead.pth, counted in the authors'
    files) and HRNet's reference key layout (timm's HighResolutionNet of the same configuration)."""
    from timm.models.hrnet import HighResolutionNet

    from semitruths_dagster.detectors.plugins.pscc import PSCCNet

    spec = specs["pscc_net"]
    for role, name in (("fenet", "HRNet.pth"), ("segnet", "NLCDetection.pth"), ("clsnet", "DetectionHead.pth")):
        path = spec.weights[role]
        assert path.endswith(f"checkpoint/{name.split('.')[0]}_checkpoint/{name}")
        assert all(k.startswith("module.") for k in torch.load(path, weights_only=True))
    full = _meta_keys(PSCCNet)
    seg = {k for k in full if k.startswith("segnet.")}
    cls = {k for k in full if k.startswith("clsnet.")}
    assert len(seg) == 64 and len(cls) == 128
    assert full["segnet.getmask1.g.weight"] == (288, 288, 1, 1)  # 18 channels x 4 x 4, a plain reshape
    assert full["clsnet.final_layer.0.weight"] == (128, 288, 1, 1)
    assert full["clsnet.classifier.2.weight"] == (2, 16)

    def stage(n, blocks, channels, kind):
        return dict(num_modules=1, num_branches=n, block_type=kind, num_blocks=blocks, num_channels=channels,
                    fuse_method="SUM")

    cfg = dict(stem_width=64, stage1=stage(1, (2,), (64,), "BOTTLENECK"),
               stage2=stage(2, (2, 2), (18, 36), "BASIC"), stage3=stage(3, (2,) * 3, (18, 36, 72), "BASIC"),
               stage4=stage(4, (2,) * 4, (18, 36, 72, 144), "BASIC"))
    reference = {k: v for k, v in _meta_keys(lambda: HighResolutionNet(cfg, head="incre")).items()
                 if not k.startswith(("incre_modules", "downsamp_modules", "final_layer", "classifier"))}
    assert {k.removeprefix("fenet."): v for k, v in full.items() if k.startswith("fenet.")} == reference


def test_iml_vit_full_size_keys():
    from semitruths_dagster.detectors.plugins.iml_vit import FULL, IMLViTNet

    keys = _meta_keys(lambda: IMLViTNet(**FULL))
    assert len(keys) == 212
    assert keys["encoder_net.pos_embed"] == (1, 197, 768)  # MAE's 224-px grid + class token
    assert keys["encoder_net.blocks.0.attn.rel_pos_h"] == (27, 64)  # 14-px windows
    assert keys["encoder_net.blocks.2.attn.rel_pos_h"] == (127, 64)  # global: the 64-token grid
    assert keys["featurePyramid_net.simfp_2.4.norm.weight"] == (256,)
    assert keys["featurePyramid_net.simfp_5.1.weight"] == (256, 768, 1, 1)
    assert keys["predict_head.linear_fuse.weight"] == (256, 1280, 1, 1)
    assert "predict_head.norm.running_var" in keys
    assert sum(np.prod(s) for s in keys.values()) == pytest.approx(91.78e6, rel=1e-3)


def test_mvss_full_size_keys():
    from torchvision.models import resnet50

    from semitruths_dagster.detectors.plugins.mvss import RESNET50, MVSSNetModel, ResFCNModel

    keys = _meta_keys(lambda: MVSSNetModel(RESNET50))
    resnet = _meta_keys(resnet50)
    for prefix in ("model.", "noise_extractor.model."):
        assert {k.removeprefix(prefix): v for k, v in keys.items() if k.startswith(prefix)} == resnet
    assert keys["constrain_conv.kernel"] == (1, 3, 24)
    assert keys["sobel_x4.0.weight"] == (1, 2048, 3, 3)
    assert keys["head.conv_p1.0.weight"] == (1024, 4096, 3, 3)
    assert keys["head.out.1.weight"] == (1, 1024, 1, 1)
    assert keys["erb_trans_3.conv3.weight"] == (1, 1, 3, 3)
    fcn = _meta_keys(lambda: ResFCNModel(RESNET50))
    assert set(fcn) == {k for k in keys if k.startswith(("model.", "head."))}  # the RGB view and the head
    assert fcn["head.conv_p1.0.weight"] == (512, 2048, 3, 3)


def test_mvss_dilation_and_bayar_constraint():
    from semitruths_dagster.detectors.plugins.mvss import BayarConv, dilated_resnet

    net = dilated_resnet([3, 4, 6, 3])
    assert [b.conv2.dilation[0] for b in net.layer4] == [1, 2, 4] and net.layer4[0].conv2.stride == (1, 1)
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    conv = BayarConv()
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0  # an impulse: the output is the (flipped) kernel, whose weights sum to 0
    out = conv(x)
    assert out.shape == (1, 3, 5, 5)
    assert torch.allclose(out.sum(dim=(2, 3)), torch.zeros(1, 3), atol=1e-6)
    assert torch.allclose(out[0, :, 2, 2], -torch.ones(3))


def test_trufor_full_size_keys_and_format(specs):
    """'state_dict' wrapper; dual MiT-B2 (CMX) keys; the Noiseprint++ DnCNN's 48 Sequential slots (the
    released noiseprint++.th, in the authors' repository, has keys 0..47 and loads into `dncnn` strictly)."""
    from semitruths_dagster.detectors.plugins.trufor import FULL, TruForNet

    saved = torch.load(specs["trufor"].weights["model"], weights_only=True)
    assert specs["trufor"].weights["model"].endswith("weights/trufor.pth.tar") and "state_dict" in saved
    keys = _meta_keys(lambda: TruForNet(**FULL))
    assert keys["backbone.patch_embed1.proj.weight"] == keys["backbone.extra_patch_embed1.proj.weight"] == (64, 3, 7, 7)
    assert keys["backbone.block3.5.attn.sr.weight"] == (320, 320, 2, 2) and "backbone.block4.2.attn.sr.weight" not in keys
    assert keys["backbone.extra_block2.3.mlp.dwconv.dwconv.weight"] == (512, 1, 3, 3)
    assert keys["backbone.FRMs.3.channel_weights.mlp.0.weight"] == (2048, 2048)
    assert keys["backbone.FFMs.2.cross.cross_attn.kv1.weight"] == (640, 320)
    assert keys["backbone.FFMs.0.channel_emb.channel_embed.4.running_var"] == (64,)
    assert keys["decode_head.linear_c4.proj.weight"] == (512, 512) and keys["decode_head.linear_pred.weight"][0] == 2
    assert keys["decode_head_conf.linear_pred.weight"][0] == 1 and keys["detection.3.weight"] == (1, 128)
    assert keys["dncnn.0.weight"] == (64, 3, 3, 3) and keys["dncnn.47.weight"] == (1, 64, 3, 3)
    assert len([k for k in keys if k.startswith("dncnn.")]) == 94
    assert sum(np.prod(s) for s in keys.values()) == pytest.approx(68.7e6, rel=2e-3)


def test_trufor_weights_are_never_fetched_from_the_hub(specs):
    data = specs["trufor"].to_dict() | {"weights": {"model": "grip-unina/TruFor"}}
    with pytest.raises(Exception, match=r"weights\.model.*non-commercial.*never fetched"):
        validate_spec(data, source="<test>")


def test_wrong_file_for_a_role_is_one_clear_error(specs):
    spec = specs["pscc_net"]
    data = spec.to_dict()
    data["weights"] = dict(data["weights"], clsnet=data["weights"]["segnet"])
    with pytest.raises(CheckpointError, match=r"weights\.clsnet.*does not fit the model"):
        build_detector(validate_spec(data, source="<test>"))


def test_verify_checks_digests(specs):
    spec = specs["iml_vit"]
    data = spec.to_dict() | {"sha256": {"model": weights_digest(spec.weights["model"])}}
    report = verify_spec(validate_spec(data, source="<test>"))
    assert report.ok and report.lines[0].startswith("pass sha256.model")
    bad = verify_spec(validate_spec(data | {"sha256": {"model": "0" * 64}}, source="<test>"))
    assert not bad.ok and "fails rule sha256.model" in bad.reason()
