"""The Semi-Truths paper's three detectors without a plugin before: DIRE, CrossEfficientViT and the paper's
DINOv2 zero-shot detector. Architectures against their published configurations (full size, on the meta
device), the DDIM arithmetic against an oracle whose reconstruction is known, checkpoint formats, digests and
verify, and each detector's own steps on hand-made inputs (faces on the shared sample's photos)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import (  # noqa: E402
    CheckpointError,
    SpecError,
    build_detector,
    random_spec,
    validate_spec,
    verify_spec,
    weights_digest,
)
from semitruths_dagster.detectors.adm import DDIM, ADMUNet, ddim_timesteps, linear_alphas_cumprod  # noqa: E402
from semitruths_dagster.published_configs import published  # noqa: E402


def _image(seed: int = 0, size: tuple[int, int] = (96, 80)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _spec(base, **changes):
    return validate_spec(base.to_dict() | changes, source="<test>")


@pytest.fixture(scope="module")
def dire(tmp_path_factory):
    return random_spec("dire", tmp_path_factory.mktemp("dire"))


@pytest.fixture(scope="module")
def cev(tmp_path_factory):
    return random_spec("cross_efficient_vit", tmp_path_factory.mktemp("cev"))


@pytest.fixture(scope="module")
def dino(tmp_path_factory):
    return random_spec("dinov2_zero_shot", tmp_path_factory.mktemp("dino"))


# --- DIRE ------------------------------------------------------------------------------------------------

def test_adm_full_size_is_the_published_256x256_uncond():
    from semitruths_dagster.detectors.plugins.dire import ADM_ID, adm_config

    with torch.device("meta"):
        unet = ADMUNet(**adm_config())
    state = unet.state_dict()
    assert sum(v.numel() for v in state.values()) == published(ADM_ID)["parameters"]
    assert len(unet.input_blocks) == len(unet.output_blocks) == 18  # 1 + 6 levels x 2 + 5 downsamplings
    assert state["input_blocks.0.0.weight"].shape == (256, 3, 3, 3)
    assert state["time_embed.0.weight"].shape == (1024, 256)
    assert state["out.2.weight"].shape == (6, 256, 3, 3)  # learn_sigma: eps and the variance interpolation
    assert state["input_blocks.3.0.emb_layers.1.weight"].shape == (512, 1024)  # scale-shift: 2 x 256
    assert "input_blocks.3.0.in_layers.2.weight" in state and "input_blocks.3.0.op.weight" not in state  # resblock_updown
    # attention at 32, 16, 8 px: the 512- and 1024-channel levels, 64 channels a head
    attn = {k.rsplit(".qkv", 1)[0]: v.shape for k, v in state.items() if k.endswith(".qkv.weight")}
    assert {s[1] for s in attn.values()} == {512, 1024} and "middle_block.1" in attn
    assert all(s[0] == 3 * s[1] for s in attn.values())
    assert unet.middle_block[1].heads == 1024 // 64


def test_ddim_inversion_then_reconstruction_returns_the_oracles_image():
    """A model that predicts the exact noise of x0 at every ORIGINAL timestep makes DDIM invert and
    reconstruct x0 exactly, so DIRE = 0; a wrong timestep map or coefficient breaks it."""
    ddim = DDIM(20)
    assert ddim_timesteps(1000, 20) == list(range(0, 1000, 50)) == ddim.timestep_map
    full = linear_alphas_cumprod()
    assert full[0] == pytest.approx(1 - 1e-4) and np.allclose(ddim.alphas_cumprod, full[::50], rtol=1e-12)
    x0 = torch.rand(2, 3, 8, 8, dtype=torch.float64) * 1.6 - 0.8

    def oracle(x, t):
        ac = torch.as_tensor(full, dtype=torch.float64)[t].reshape(-1, 1, 1, 1)
        eps = (x - ac.sqrt() * x0) / (1 - ac).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], dim=1)

    latent = ddim.invert(oracle, x0)
    assert not torch.allclose(latent, x0, atol=0.1)
    assert torch.allclose(ddim.sample(oracle, latent), x0, atol=1e-6)


def test_dire_checkpoint_formats_verify_and_digests(dire, tmp_path):
    adm = torch.load(dire.weights["diffusion"], weights_only=True)
    assert "input_blocks.0.0.weight" in adm and "middle_block.1.qkv.weight" in adm  # a plain state dict
    classifier = torch.load(dire.weights["model"], weights_only=True)
    assert set(classifier) >= {"model", "total_steps"} and classifier["model"]["fc.weight"].shape == (1, 2048)
    spec = _spec(dire, sha256={r: weights_digest(p) for r, p in dire.weights.items()})
    report = verify_spec(spec)
    assert report.ok, report.lines
    scores = build_detector(spec).score([_image(1, (40, 64))])
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    swapped = _spec(dire, weights={"diffusion": dire.weights["model"], "model": dire.weights["diffusion"]})
    with pytest.raises(CheckpointError, match=r"weights\.diffusion: .*lsun_adm\.pth is not a state dict"):
        build_detector(swapped)


def test_dire_image_option_and_spec_rules(dire):
    with pytest.raises(SpecError, match=r"weights\.diffusion.*dire_image: false"):
        _spec(dire, weights={"model": dire.weights["model"]})
    with pytest.raises(SpecError, match=r"options\.ddim_steps"):
        _spec(dire, options=dire.options | {"ddim_steps": 1})  # no integer stride takes exactly 1 of 1000
    as_run = build_detector(_spec(dire, weights={"model": dire.weights["model"]},
                                  options=dire.options | {"dire_image": False}))
    assert as_run.model.unet is None  # Semi-Truths' run_1.py: the classifier on the image, no ADM
    p = as_run.preprocessing
    assert (p.resize, p.crop, p.mean) == (256, 28, (0.485, 0.456, 0.406))
    full = build_detector(dire).preprocessing
    assert (full.resize, full.crop, full.offset) == (32, 32, "floor") and "center_crop_arr" in full.signature()


def test_dire_input_is_center_crop_arr():
    """guided-diffusion's center_crop_arr, step by step from its published description, on a 1100 x 530
    photo-like image: BOX halving (530 >= 2 x 256), bicubic with the long side rounded, floored crop."""
    from semitruths_dagster.detectors.plugins.dire import CenterCropArr

    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (530, 1100, 3), dtype=np.uint8))
    half = image.resize((550, 265), resample=Image.BOX)
    scale = 256 / 265
    resized = np.asarray(half.resize((round(550 * scale), round(265 * scale)), resample=Image.BICUBIC))
    top, left = (resized.shape[0] - 256) // 2, (resized.shape[1] - 256) // 2
    arr = resized[top: top + 256, left: left + 256].astype(np.float32) / 127.5 - 1
    pre = CenterCropArr(resize=256, crop=256, mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bicubic",
                        offset="floor")
    assert torch.allclose(pre.apply(image), torch.from_numpy(arr).permute(2, 0, 1), atol=1e-6)


def test_dire_image_is_the_authors_uint8_png(dire):
    """|x - recon| * 255 / 2, clamped and truncated to uint8 (cv2.imwrite of `.to(th.uint8)`), read back / 255."""
    from semitruths_dagster.detectors.plugins.dire import DIREModel

    loaded = build_detector(dire).model
    model = DIREModel(loaded.unet, loaded.classifier, ddim_steps=2, crop=28, dire_image=True)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        recon = model.ddim.sample(model.unet, model.ddim.invert(model.unet, x))
        expected = ((recon - x).abs() * 255.0 / 2.0).clamp(0, 255).to(torch.uint8).float() / 255
        assert torch.equal(model.dire(x), expected)


# --- DINOv2 zero-shot ------------------------------------------------------------------------------------

def test_dinov2_zero_shot_full_size_is_dinov2_base():
    from transformers import Dinov2Config, Dinov2Model

    from semitruths_dagster.detectors.plugins.dinov2_zero_shot import DINOV2_TIMM, dinov2_base_config

    v = published(f"timm/{DINOV2_TIMM}")["vision"]
    with torch.device("meta"):
        model = Dinov2Model(Dinov2Config(**dinov2_base_config()))
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.patch_size, c.image_size) == \
        (v["width"], v["layers"], v["heads"], v["patch_size"], v["image_size"])
    assert model.encoder.layer[0].mlp.fc1.out_features == v["mlp"] and c.layer_norm_eps == v["layer_norm_eps"]


def test_dinov2_zero_shot_is_run_1s_computation(dino):
    """run_1.py step by step: its transform and clamp, DINOv2's (slow) processor on that tensor (which
    rescales by 1/255 a second time: a known range), the CLS token stretched to 224 x 224, the ResNet."""
    import torch.nn.functional as F
    import torchvision.transforms as T
    from transformers import BitImageProcessor

    detector = build_detector(dino)
    image = _image(5, (300, 260))
    trans = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                       T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    in_tens = torch.clamp(trans(image), 0.0, 1.0).unsqueeze(0)
    processor = BitImageProcessor.from_pretrained(dino.weights["backbone"])
    pixels = processor(images=in_tens, return_tensors="pt")["pixel_values"]
    # (x / 255 - mean) / std for x in [0, 1]: DINOv2 sees a nearly constant image (1 / 255 / std wide,
    # plus the bicubic's overshoot), about -2.12 .. -1.79.
    spread = pixels.amax(dim=(0, 2, 3)) - pixels.amin(dim=(0, 2, 3))
    assert (spread < 2 / 255 / torch.tensor([0.229, 0.224, 0.225])).all()  # an image's own: about 4
    assert pixels.min() > -2.13 and pixels.max() < -1.78
    with torch.inference_mode():
        cls = detector.model.dinov2(pixel_values=pixels).last_hidden_state[:, 0]
        stretched = F.interpolate(cls.view(1, 1, 1, -1), size=(224, 224), mode="bilinear", align_corners=False)
        expected = torch.sigmoid(detector.model.resnet(stretched.expand(-1, 3, -1, -1))).item()
    assert detector.score([image])[0] == pytest.approx(expected, abs=1e-6)


def test_dinov2_zero_shot_weight_formats(dino, tmp_path):
    resnet = torch.load(dino.weights["resnet"], weights_only=True)
    assert resnet["fc.weight"].shape == (1000, 2048)  # torchvision's file: its ImageNet fc is dropped at load
    head = torch.load(dino.weights["head"], weights_only=True)
    assert set(head) == {"weight", "bias"} and head["weight"].shape == (1, 2048)
    from semitruths_dagster.detectors.plugins.dinov2_zero_shot import write_head

    a, b = write_head(tmp_path / "a.pth", 0), write_head(tmp_path / "b.pth", 0)
    assert torch.equal(torch.load(a)["weight"], torch.load(b)["weight"])  # a seeded draw
    broken = {k: v for k, v in resnet.items() if k != "layer1.0.conv1.weight"}
    torch.save(broken, tmp_path / "resnet.pth")
    with pytest.raises(CheckpointError, match=r"weights\.resnet.*missing keys"):
        build_detector(_spec(dino, weights=dino.weights | {"resnet": str(tmp_path / "resnet.pth")}))


# --- CrossEfficientViT -----------------------------------------------------------------------------------

def test_cross_efficient_vit_full_size_has_the_authors_keys():
    from semitruths_dagster.detectors.plugins.cross_efficient_vit import ARCHITECTURE, CrossEfficientViTModel

    with torch.device("meta"):
        state = CrossEfficientViTModel(ARCHITECTURE).state_dict()
    shapes = {
        "sm_image_embedder.to_patch_embedding.1.weight": (192, 1280 * 7 * 7),
        "lg_image_embedder.to_patch_embedding.1.weight": (384, 24 * 56 * 56),
        "sm_image_embedder.pos_embedding": (1, 32 * 32 + 1, 192),
        "lg_image_embedder.pos_embedding": (1, 4 * 4 + 1, 384),
        "sm_image_embedder.efficient_net._conv_stem.weight": (32, 3, 3, 3),
        "sm_image_embedder.efficient_net._fc.weight": (1000, 1280),
        "lg_image_embedder.efficient_net._blocks.15._project_conv.weight": (320, 1152, 1, 1),
        "multi_scale_encoder.layers.3.0.layers.1.0.fn.to_kv.weight": (1024, 192),
        "multi_scale_encoder.layers.3.1.layers.2.1.fn.net.3.weight": (384, 2048),
        "multi_scale_encoder.layers.0.2.layers.1.0.project_in.weight": (384, 192),
        "multi_scale_encoder.layers.0.2.layers.1.1.fn.fn.to_q.weight": (512, 192),
        "sm_mlp_head.1.weight": (1, 192),
        "lg_mlp_head.0.weight": (384,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert "multi_scale_encoder.layers.4.0.norm.weight" not in state  # depth 4


def test_face_steps_on_hand_made_images():
    from semitruths_dagster.detectors.faces import isotropic_fit, square_crop, video_round

    wide = Image.fromarray(np.full((50, 100, 3), 200, dtype=np.uint8))
    fitted = np.asarray(isotropic_fit(wide, 224))
    assert fitted.shape == (224, 224, 3)
    assert (fitted[:56] == 0).all() and (fitted[56 + 112:] == 0).all() and (fitted[56:168] == 200).all()
    frame = Image.fromarray(np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8))
    crop = square_crop(frame, (30, 20, 50, 60))  # 20 wide, 40 high: 10 more columns on each side
    assert np.array_equal(np.asarray(crop), np.asarray(frame)[20:60, 20:60])
    assert video_round([0.3, 0.7, 0.9]) == 0.7 and video_round([0.2, 0.4]) == pytest.approx(0.3)


def test_cross_efficient_vit_faces_and_no_face_rule(cev, shared_sample, tmp_path):
    pytest.importorskip("facenet_pytorch")
    face = Image.open(shared_sample / "images" / "CelebAHQ" / "20046.jpg")
    street = Image.open(shared_sample / "images" / "CityScapes" / "ulm_000084_000019.png")
    detector = build_detector(_spec(cev, options=cev.options | {"no_face": "quarantine"}))  # the authors'
    assert detector.QUARANTINE_RULES == ("no_face",) and detector.threshold == 0.6
    scores, failed = detector.score_each([street, face])
    assert list(failed) == [0] and failed[0].startswith("no_face: ") and np.isnan(scores[0])
    assert 0 < scores[1] < 1
    detector.options["no_face"] = "full_image"  # the same loaded detector under the other option
    scores, failed = detector.score_each([street])
    assert not failed and np.isfinite(scores).all()
    detector.options["no_face"] = "quarantine"
    assert "faces=mtcnn,no_face=quarantine" in detector.preprocessing_signature()
    # through the stage: the faceless photo goes to the quarantine under the rule `no_face`, the face is a row
    from semitruths_dagster.detectors.stage import Target, predict_partition
    from semitruths_dagster.storage import ImageStore

    store = ImageStore(tmp_path / "store")
    targets = [Target(0, name, None, *store.put_file(path)) for name, path in
               (("street", shared_sample / "images" / "CityScapes" / "ulm_000084_000019.png"),
                ("face", shared_sample / "images" / "CelebAHQ" / "20046.jpg"))]
    rows, rejected = predict_partition(detector, targets, store, "CelebAHQ", {}, batch_size=4)
    assert [r["image_id"] for r in rows] == ["face"]
    assert [(r.item_id, r.rule) for r in rejected] == [("street", "no_face")]


def test_cross_efficient_vit_checkpoint_and_verify(cev, tmp_path):
    state = torch.load(cev.weights["model"], weights_only=True)
    assert "sm_image_embedder.efficient_net._conv_stem.weight" in state  # a plain state dict, authors' keys
    assert verify_spec(_spec(cev, sha256={"model": weights_digest(cev.weights["model"])})).ok
    with pytest.raises(SpecError, match=r"options\.no_face"):
        _spec(cev, options=cev.options | {"no_face": "skip"})
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "dp.pth")  # DataParallel's prefix
    assert build_detector(_spec(cev, weights={"model": str(tmp_path / "dp.pth")}, options=cev.options | {"faces": "none"}))


# --- Under `detectors.protocol: paper` ----------------------------------------------------------------------

def test_the_paper_protocol_runs_the_papers_own_detectors_as_run_1_did(dire, cev):
    """run_1.py fed DIRE's ResNet-50 the image itself through its shared transform (no DIRE image), and ran
    CrossEfficientViT through its authors' face pipeline, not the shared transform."""
    dire_paper = build_detector(dire, protocol="paper")
    assert dire_paper.model.unet is None and dire_paper.options["dire_image"] is False
    assert dire_paper.preprocessing.clamp and "center_crop_arr" not in dire_paper.preprocessing.signature()
    assert "center_crop_arr" in build_detector(dire).preprocessing.signature()
    cev_paper, cev_authors = build_detector(cev, protocol="paper"), build_detector(cev)
    assert cev_paper.preprocessing.signature() == cev_authors.preprocessing.signature()
    assert cev_paper.protocol == "paper" and cev_paper.cache_key("0" * 64) != cev_authors.cache_key("0" * 64)
