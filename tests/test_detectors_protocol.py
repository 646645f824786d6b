"""`detectors.protocol: paper`: every detector sees the Semi-Truths evaluation code's input transform
(J-Kruk/SemiTruths `stress_testing/run_1.py`: Resize(256), CenterCrop(224), ToTensor, ImageNet Normalize,
torch.clamp(0, 1)); the protocol keys the cache and is written on every row."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from semitruths_dagster.detectors import DETECTOR_PLUGINS, build_detector, random_spec
from semitruths_dagster.detectors.preprocessing import CropBox
from semitruths_dagster.detectors.stage import SCHEMA
from semitruths_dagster.schema import SettingError
from semitruths_dagster.sections import DetectorParams

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def hand_made(width: int = 333, height: int = 250) -> Image.Image:
    """Gradients in three directions plus a checkerboard: every pixel differs from its neighbours."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), ((x // 7 + y // 5) % 2) * 200 + (x + y) % 50],
                   axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def paper_by_hand(image: Image.Image, top: int | None = None, left: int | None = None) -> np.ndarray:
    """run_1.py's `trans`, step by step with PIL and numpy: the shorter side to 256 (the longer one
    int(256 * long / short), truncated), PIL bilinear; the 224 window (centre offsets rounded, or the
    given top-left); /255; (x - mean) / std; clipped to [0, 1]; channels first."""
    w, h = image.size
    size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    frame = image.resize(size, Image.BILINEAR)
    fw, fh = frame.size
    top = int(round((fh - 224) / 2.0)) if top is None else top
    left = int(round((fw - 224) / 2.0)) if left is None else left
    pixels = np.asarray(frame, dtype=np.float64)[top:top + 224, left:left + 224] / 255.0
    return np.clip((pixels - MEAN) / STD, 0.0, 1.0).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def cnnspot(tmp_path_factory):
    spec = random_spec("cnnspot", tmp_path_factory.mktemp("cnnspot"))
    return build_detector(spec), build_detector(spec, protocol="paper")


def test_the_paper_protocol_equals_the_papers_preprocessing_step_by_step(cnnspot):
    authors, paper = cnnspot
    for image in (hand_made(), hand_made(250, 333), hand_made(640, 256)):
        got = paper.preprocessing.apply(image).numpy()
        assert got.shape == (3, 224, 224)
        np.testing.assert_allclose(got, paper_by_hand(image), atol=2e-6)  # float32 vs float64 arithmetic
        # and bit for bit torchvision's Compose as run_1.py writes it, then its clamp
        trans = T.Compose((T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])))
        assert torch.equal(paper.preprocessing.apply(image), torch.clamp(trans(image), min=0.0, max=1.0))
        assert got.min() >= 0.0 and got.max() <= 1.0 and (got == 0.0).any()  # the clamp took effect
    # 333 x 250: the longer side is int(256 * 333 / 250) = 340 (340.99 truncated), the crop at (58, 16)
    assert paper.preprocessing.frame_size((333, 250)) == (340, 256)
    # a mask-aware box moves the window inside the same 256-px frame
    box = CropBox(left=100, top=20, width=224, height=224, frame=(340, 256))
    np.testing.assert_allclose(paper.preprocessing.apply(hand_made(), box).numpy(),
                               paper_by_hand(hand_made(), top=20, left=100), atol=2e-6)
    assert not torch.equal(authors.preprocessing.apply(hand_made()), paper.preprocessing.apply(hand_made()))


def test_the_protocol_keys_the_cache_and_is_on_every_row(cnnspot):
    authors, paper = cnnspot
    sha = "a" * 64
    assert authors.protocol == "authors" and paper.protocol == "paper"
    assert authors.cache_key(sha) != paper.cache_key(sha)
    assert paper.score_signature().endswith("|protocol=paper")
    assert "protocol" not in authors.score_signature()  # keys of the authors' protocol stay as they were
    rows = [d.predict([hand_made()], [sha])[0].to_row() for d in (authors, paper)]
    assert [r["protocol"] for r in rows] == ["authors", "paper"]
    assert rows[0]["cache_key"] != rows[1]["cache_key"] and "protocol" in SCHEMA


def test_the_protocol_setting_is_checked_and_refused_where_it_cannot_apply(tmp_path):
    assert DetectorParams().protocol == "authors"
    with pytest.raises(SettingError, match=r"detectors\.protocol: 'papers' is not one of authors, paper"):
        DetectorParams(protocol="papers")
    with pytest.raises(ValueError, match=r"detectors\.protocol: expected one of authors, paper"):
        build_detector(random_spec("npr", tmp_path / "npr"), protocol="nope")
    refused = {name for name, cls in DETECTOR_PLUGINS.items() if not cls.PAPER_PROTOCOL}
    localizers = {name for name, cls in DETECTOR_PLUGINS.items() if cls.PRODUCES_MAPS}
    assert localizers and localizers <= refused  # a resize + centre crop would misplace their maps
    assert refused - localizers == {"hf_image_classifier", "command", "onnx"}  # pixels prepared elsewhere
    spec = random_spec("hf_image_classifier", tmp_path / "hf")
    with pytest.raises(ValueError, match=r"detectors\.protocol: paper cannot apply to detector .*own processor"):
        build_detector(spec, protocol="paper")
    npr = build_detector(random_spec("npr", tmp_path / "npr2"), protocol="paper")  # no crop of its own: now 224
    assert npr.preprocessing.apply(hand_made()).shape == (3, 224, 224)
    assert np.isfinite(npr.score([hand_made()])).all()


def test_a_detector_the_paper_ran_through_its_own_pipeline_keeps_it(tmp_path):
    from semitruths_dagster.detectors.plugins.cnnspot import CNNSpot

    class OwnPipeline(CNNSpot):  # as CrossEfficientViT: run_1.py hands it to its authors' scripts
        PAPER_OWN_PIPELINE = True

    spec = random_spec("cnnspot", tmp_path)
    own, authors = OwnPipeline(spec, protocol="paper"), build_detector(spec)
    assert own.preprocessing == authors.preprocessing and own.protocol == "paper"
    assert own.cache_key("b" * 64) != authors.cache_key("b" * 64)  # still keyed as the paper protocol's score
