"""Fitting the `linear_probe` head: logistic regression (scikit-learn) on frozen features of a named split.

The split is a seeded fraction of one dataset partition's image ids: an image is in it iff
`derive_seed(seed, 'probe-split', image_id) / 2**31 < fraction`. A real image and its edits share the image
id, so twins are never split across train and test. The split is written into the head file's metadata and
the spec's `options.split`; `detector_predictions` skips the probe's training images, so its scores are
always on images it never saw (use `fraction: 1.0` on one dataset and evaluate on the others, or a fraction
of one dataset and evaluate on the rest of it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .plugins.linear_probe import in_split
from .preprocessing import Preprocessing


@torch.inference_mode()
def extract_features(extractor: torch.nn.Module, preprocessing: Preprocessing, images: Sequence[Image.Image],
                     batch_size: int = 16) -> np.ndarray:
    """[N, D] float64 features of the frozen backbone."""
    extractor = extractor.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([preprocessing.apply(im) for im in images[start : start + batch_size]])
        out.append(extractor(batch).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def fit_head(features: np.ndarray, labels: Sequence[int], c: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float]:
    """Logistic regression weight [D] and bias (decision function = P(fake) logit)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=int)
    if len(set(y.tolist())) != 2:
        raise ValueError(f"the training split needs real and fake images; it has labels {sorted(set(y.tolist()))}")
    clf = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(features, y)
    return clf.coef_[0], float(clf.intercept_[0])


def training_items(root: Path, dataset: str, split: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(image id, label, store path) of a dataset's real images (0) and edits (1) inside the split."""
    import polars as pl

    from ..storage import TableStore

    tables = TableStore(root)
    items = []
    if tables.exists("source_images", {"dataset": dataset}):
        for r in tables.read("source_images", {"dataset": dataset}).iter_rows(named=True):
            items.append((r["image_id"], 0, r["image_path"]))
    edits = tables.read_all("generations")
    if edits.height:
        for r in edits.filter(pl.col("dataset") == dataset).iter_rows(named=True):
            items.append((r["image_id"], 1, r["image_path"]))
    return [it for it in items if in_split(split, dataset, it[0])]


def fit_probe(
    name: str, features: str, backbone: str, root: Path, dataset: str, fraction: float, seed: int,
    out_dir: Path, c: float = 1.0, options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit a probe head on the split of `dataset` and return the spec (as data) that points at it."""
    from ..storage import ImageStore
    from .checkpoints import resolve_weight_ref
    from .plugins.linear_probe import HEAD_FILE, TRANSFORMS, FeatureExtractor, load_backbone, write_head

    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"--fraction must be in (0, 1], got {fraction}")
    options = {"timm_model": "vit_base_patch14_dinov2.lvd142m", "timm_kwargs": {}} | dict(options or {})
    split = {"kind": "image_id_fraction", "dataset": dataset, "fraction": fraction, "seed": seed}
    items = training_items(root, dataset, split)
    if not items:
        raise ValueError(f"no images of dataset '{dataset}' fall in the split (fraction {fraction}, seed {seed})")
    kind, ref = resolve_weight_ref(backbone, None)
    extractor = FeatureExtractor(load_backbone(features, kind, ref, options, f"probe '{name}' backbone"), features)
    resize, crop, mean, std = TRANSFORMS[features]
    prep = Preprocessing(resize=resize, crop=crop, mean=mean, std=std, interpolation="bicubic")
    store = ImageStore(root)
    feats = extract_features(extractor, prep, [store.open(it[2]).convert("RGB") for it in items])
    weight, bias = fit_head(feats, [it[1] for it in items], c, seed)
    ids = sorted({it[0] for it in items})
    split |= {"n_images": len(items), "n_fake": sum(it[1] for it in items),
              "image_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()}
    head = write_head(out_dir / name / HEAD_FILE, torch.from_numpy(weight).float()[None], torch.tensor([bias]),
                      {"features": features, "backbone": backbone, "split": split,
                       "fit": f"sklearn LogisticRegression(C={c}, max_iter=5000, random_state={seed}) on L2-normalised features"})
    return {"name": name, "plugin": "linear_probe", "version": f"fit-{split['image_ids_sha256'][:8]}",
            "weights": {"backbone": backbone, "head": str(head)},
            "options": {"features": features, "split": split},
            "description": f"linear probe on {features} features, fitted on {dataset} ({fraction:.0%} of image ids, seed {seed})"}
