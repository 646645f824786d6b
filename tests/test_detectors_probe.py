"""The linear probe: a head fitted with scikit-learn on a recorded split, saved as safetensors, whose scores
equal the regression's own probabilities, and whose training images are never scored."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import build_detector, random_spec, validate_spec  # noqa: E402
from semitruths_dagster.detectors.plugins.linear_probe import in_split  # noqa: E402
from semitruths_dagster.detectors.probe_fit import extract_features, fit_probe  # noqa: E402
from semitruths_dagster.detectors.stage import Target, drop_training_images  # noqa: E402
from semitruths_dagster.storage import ImageStore, TableStore  # noqa: E402


def test_split_is_seeded_by_image_id_and_dataset():
    split = {"kind": "image_id_fraction", "dataset": "toy", "fraction": 0.5, "seed": 3}
    ids = [f"img{i}" for i in range(400)]
    chosen = [i for i in ids if in_split(split, "toy", i)]
    assert chosen == [i for i in ids if in_split(dict(split), "toy", i)]  # deterministic
    assert 150 < len(chosen) < 250  # about half
    assert not any(in_split(split, "other", i) for i in ids)  # only the named dataset
    assert chosen != [i for i in ids if in_split(split | {"seed": 4}, "toy", i)]
    assert all(in_split(split | {"fraction": 1.0}, "toy", i) for i in ids)


@pytest.fixture
def toy_project(tmp_path):
    """A storage root with 24 real (dark) and 24 edited (bright) images of dataset 'toy'."""
    root = tmp_path / "storage"
    store, tables = ImageStore(root), TableStore(root)
    rng = np.random.default_rng(0)
    real, fake = [], []
    for i in range(24):
        for rows, base in ((real, 40), (fake, 200)):
            pixels = np.clip(rng.normal(base, 30, (64, 64, 3)), 0, 255).astype(np.uint8)
            rel, _sha = store.put_png(Image.fromarray(pixels))
            rows.append({"image_id": f"img{i}", "image_path": rel, "dataset": "toy"})
    schema = {"image_id": pl.Utf8, "image_path": pl.Utf8, "dataset": pl.Utf8}
    tables.write("source_images", {"dataset": "toy"}, real, schema)
    tables.write("generations", {"dataset": "toy", "generator": "sd15"}, fake, schema)
    return root


def test_fit_probe_records_split_and_matches_sklearn(toy_project, tmp_path):
    backbone = random_spec("linear_probe", tmp_path / "tiny").weights["backbone"]  # tiny open_clip folder
    data = fit_probe("toy-probe", "clip", backbone, toy_project, "toy", 0.5, seed=1, out_dir=tmp_path / "probes")
    split = data["options"]["split"]
    assert split["dataset"] == "toy" and split["fraction"] == 0.5 and split["seed"] == 1
    assert split["n_images"] == 2 * sum(in_split(split, "toy", f"img{i}") for i in range(24))  # twins together
    spec = validate_spec(data, source="<test>")
    det = build_detector(spec)
    assert "image_id_fraction" in det.head_metadata["split"]
    # Refit by hand on the same features: the detector's P(fake) is the regression's own probability.
    store = ImageStore(toy_project)
    tables = TableStore(toy_project)
    frames = [(tables.read("source_images", {"dataset": "toy"}), 0), (tables.read_all("generations"), 1)]
    items = [(r["image_id"], y, r["image_path"]) for f, y in frames for r in f.iter_rows(named=True)]
    train = [it for it in items if in_split(split, "toy", it[0])]
    test = [it for it in items if not in_split(split, "toy", it[0])]
    extractor = det.model.extractor
    x_train = extract_features(extractor, det.preprocessing, [store.open(p).convert("RGB") for _, _, p in train])
    clf = LogisticRegression(C=1.0, max_iter=5000, random_state=1).fit(x_train, [y for _, y, _ in train])
    images = [store.open(p).convert("RGB") for _, _, p in test]
    expected = clf.predict_proba(extract_features(extractor, det.preprocessing, images))[:, 1]
    np.testing.assert_allclose(det.score(images), expected, atol=1e-5)
    # Its training images are never scored; the others are.
    targets = [Target(y, i, None, p, "0" * 64) for i, y, p in items]
    kept = drop_training_images(det, targets, "toy")
    assert {t.image_id for t in kept} == {i for i, _, _ in test}
    assert len(drop_training_images(det, targets, "another-dataset")) == len(targets)


def test_fit_probe_needs_both_classes(toy_project, tmp_path):
    TableStore(toy_project).path("generations", {"dataset": "toy", "generator": "sd15"}).unlink()
    backbone = random_spec("linear_probe", tmp_path / "tiny").weights["backbone"]
    with pytest.raises(ValueError, match="needs real and fake images"):
        fit_probe("p", "clip", backbone, toy_project, "toy", 1.0, seed=0, out_dir=tmp_path / "probes")


def test_dinov2_probe_loads_a_local_timm_file(tmp_path):
    from safetensors.torch import save_file

    from semitruths_dagster.detectors.plugins.linear_probe import build_dinov2, write_head

    vit = build_dinov2("vit_base_patch14_dinov2.lvd142m", {"depth": 1})
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "model.safetensors"))
    write_head(tmp_path / "head.safetensors", torch.zeros(1, 768), torch.tensor([0.3]),
               {"features": "dinov2", "split": {"kind": "none"}})
    spec = validate_spec({"name": "dino-probe", "plugin": "linear_probe", "version": "t",
                          "weights": {"backbone": str(tmp_path), "head": str(tmp_path / "head.safetensors")},
                          "options": {"features": "dinov2", "timm_kwargs": {"depth": 1}}, "random_weights": True},
                         source="<test>")
    det = build_detector(spec)
    assert det.preprocessing.resize == 256 and det.preprocessing.crop == 224
    np.testing.assert_allclose(det.score([Image.new("RGB", (300, 260))]), 1 / (1 + np.exp(-0.3)), rtol=1e-5)
