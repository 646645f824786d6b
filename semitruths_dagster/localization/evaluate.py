"""The `localization_evaluation` stage: every map of one detector scored against its ground truth.

One measurement per (map, truth): an edit's map against each of its truths (`truth.py`: inpainting the
request's mask and the post-edit mask, other methods the post-edit mask), a real image's map against no
edit (its false-alarm area). Truth masks are resized (nearest) to the stored map's size. Averages are
per image, with percentile intervals from the cluster bootstrap by source image
(`evaluation.bootstrap`: an image's real twin and all its edits are drawn together).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..evaluation.bootstrap import make_clusters
from ..storage import ImageStore
from .metrics import PER_IMAGE, histograms, image_auroc, per_image, pooled_auroc
from .storage import load_levels
from .truth import NO_EDIT, TRUTHS, load_truth

CLEAN = "clean"
HEADLINE = ("f1", "iou", "mcc", "f1_best", "iou_best", "mcc_best", "auroc")
# Attributes of an edit broken down (those present), besides every metric and scene bin: localized /
# diffused, method, generator, magnitude, dataset.
BREAKDOWN_COLUMNS = ("localization", "method", "generator", "magnitude", "dataset")
AREA_EDGES = (0.0, 0.01, 0.03, 0.1, 0.2, 0.35, 0.5, 1.0)  # the F1-against-area-ratio curve's bins


@dataclass
class Measured:
    """Per-measurement metrics (`frame`) and the per-measurement histograms (row order of `frame`)."""

    frame: pl.DataFrame
    hist: np.ndarray


def _pairs(row: dict, truths: dict[str, dict], store: ImageStore) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(truth kind, map levels, truth mask) for one map row."""
    levels = load_levels(store, row["map_path"])
    if row["label"] == 0:
        return [(NO_EDIT, levels, np.zeros(levels.shape, dtype=bool))]
    paths = truths.get(row["generation_id"] or "", {})
    return [(kind, levels, load_truth(store, p, levels.shape)) for kind, p in paths.items() if p]


def measure(maps: pl.DataFrame, truths: dict[str, dict], store: ImageStore, threshold: float,
            chunk: int = 256) -> Measured:
    """One row per (map, truth): the map row's identity and every `PER_IMAGE` metric. An edit with no
    truth mask of a kind has no row for it; reals (and real-labelled controls) get truth 'none'. Maps are
    decoded on a few threads (PNG decoding releases the GIL) and reduced to histograms chunk by chunk, so
    memory stays bounded by the chunk, not the table."""
    rows, hists = [], []
    records = list(maps.iter_rows(named=True))
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            loaded = list(pool.map(lambda r: _pairs(r, truths, store), part))
            pairs = [(r["row_key"], kind, lv, tr) for r, found in zip(part, loaded, strict=True)
                     for kind, lv, tr in found]
            rows += [{"row_key": key, "truth": kind} for key, kind, _lv, _tr in pairs]
            hists.append(histograms([p[2] for p in pairs], [p[3] for p in pairs]))
    hist = np.concatenate(hists) if hists else np.zeros((0, 2, 256), dtype=np.int64)
    metrics = per_image(hist, threshold)
    frame = pl.DataFrame(rows, schema={"row_key": pl.Utf8, "truth": pl.Utf8}).with_columns(
        pl.Series(k, metrics[k], dtype=pl.Float64) for k in PER_IMAGE).with_row_index("__index")
    # `__index`: the measurement's row of `hist`, whatever order later joins leave
    return Measured(frame.join(maps, on="row_key", how="left").sort("__index"), hist)


def mean_intervals(frame: pl.DataFrame, columns: Sequence[str], n_boot: int, seed: int,
                   level: float = 0.95) -> dict[str, dict]:
    """column -> {mean, lo, hi, n}: the per-image mean over finite values, and its percentile interval
    from the cluster bootstrap by source image (`image_id`)."""
    if frame.is_empty():
        return {c: {"mean": None, "lo": None, "hi": None, "n": 0} for c in columns}
    values = np.column_stack([frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in columns])
    finite = np.isfinite(values)
    clusters = make_clusters(np.ones(frame.height, dtype=bool), frame["image_id"].to_list())
    per_cluster_sum = np.zeros((len(columns), clusters.n))
    per_cluster_n = np.zeros((len(columns), clusters.n))
    for j in range(len(columns)):
        np.add.at(per_cluster_sum[j], clusters.codes, np.where(finite[:, j], values[:, j], 0.0))
        np.add.at(per_cluster_n[j], clusters.codes, finite[:, j])
    out = {}
    if n_boot > 0:
        weights = clusters.weights(n_boot, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = weights.sums(per_cluster_sum) / weights.sums(per_cluster_n)
    tail = (1.0 - level) / 2.0
    for j, c in enumerate(columns):
        n = int(finite[:, j].sum())
        mean = float(values[finite[:, j], j].mean()) if n else None
        lo = hi = None
        if n and n_boot > 0 and np.isfinite(draws[j]).any():
            lo, hi = (float(v) for v in np.nanquantile(draws[j], [tail, 1.0 - tail]))
        out[c] = {"mean": mean, "lo": lo, "hi": hi, "n": n}
    return out


def _group_table(frame: pl.DataFrame, column: str, metrics: Sequence[str]) -> dict[str, list]:
    groups = (frame.filter(pl.col(column).is_not_null())
              .group_by(column).agg(pl.len().alias("n"), *(pl.col(m).filter(pl.col(m).is_not_nan()).mean()
                                                          for m in metrics))
              .sort(column))
    return {"value": [str(v) for v in groups[column]], "n": groups["n"].to_list(),
            **{m: groups[m].to_list() for m in metrics}}


def area_curve(edits: pl.DataFrame) -> dict[str, dict[str, list]]:
    """Truth -> mean F1 (at the fixed threshold and at the best) per bin of the truth's area ratio."""
    out = {}
    for kind in TRUTHS:
        part = edits.filter(pl.col("truth") == kind)
        if part.is_empty():
            continue
        share = part["truth_share"].to_numpy()
        which = np.clip(np.searchsorted(AREA_EDGES, share, side="right") - 1, 0, len(AREA_EDGES) - 2)
        f1, best = part["f1"].fill_null(np.nan).to_numpy(), part["f1_best"].fill_null(np.nan).to_numpy()
        rows = {"area_lo": [], "area_hi": [], "n": [], "f1": [], "f1_best": []}
        for b in range(len(AREA_EDGES) - 1):
            sel = (which == b) & np.isfinite(f1)
            if sel.any():
                rows["area_lo"].append(AREA_EDGES[b])
                rows["area_hi"].append(AREA_EDGES[b + 1])
                rows["n"].append(int(sel.sum()))
                rows["f1"].append(float(f1[sel].mean()))
                rows["f1_best"].append(float(np.nanmean(best[sel])))
        out[kind] = rows
    return out


def summarize(measured: Measured, attributes: pl.DataFrame | None, n_boot: int, seed: int) -> dict:
    """The evaluation's result: headline per truth (clean edits), false-alarm area on clean reals,
    image-level AUROC, breakdowns by every attribute, by condition and by control, the area curve."""
    frame = measured.frame
    if attributes is not None and attributes.height:
        extra = [c for c in attributes.columns if c not in frame.columns or c == "row_key"]
        frame = frame.join(attributes.select(extra).unique("row_key"), on="row_key", how="left")
    plain = frame.filter(pl.col("control").is_null())
    clean = plain.filter(pl.col("condition") == CLEAN)
    edits, reals = clean.filter(pl.col("label") == 1), clean.filter(pl.col("label") == 0)
    result: dict = {"n_maps": int(measured.frame["row_key"].n_unique()) if frame.height else 0,
                    "n_edits": int(edits["row_key"].n_unique()) if edits.height else 0,
                    "n_reals": reals.height, "truths": {}, "breakdowns": {}}
    for kind in TRUTHS:
        part = edits.filter(pl.col("truth") == kind)
        if part.is_empty():
            continue
        idx = part["__index"].to_numpy()
        headline = mean_intervals(part, HEADLINE, n_boot, seed)
        result["truths"][kind] = {
            "n": part.height, "n_empty_truth": int((part["truth_share"] == 0).sum()),
            "metrics": headline, "pooled_auroc": _finite(pooled_auroc(measured.hist[idx]))}
        bins = [c for c in frame.columns if c.endswith(("_bin", "_bin5"))] + \
            [c for c in BREAKDOWN_COLUMNS if c in frame.columns]
        result["breakdowns"][kind] = {c: _group_table(part, c, ("f1", "iou", "f1_best", "auroc")) for c in bins}
    result["false_alarm"] = mean_intervals(reals, ("flagged_share",), n_boot, seed)["flagged_share"] | {
        "any_flagged": float((reals["flagged_share"] > 0).mean()) if reals.height else None}
    maxima = clean.unique("row_key")
    result["image_auroc_map_max"] = _finite(image_auroc(maxima["label"].to_numpy(), maxima["map_max"].to_numpy())) \
        if maxima.height else None
    own = maxima["score"].drop_nulls() if maxima.height else []
    result["image_auroc_own_score"] = _finite(image_auroc(
        maxima.filter(pl.col("score").is_not_null())["label"].to_numpy(), own.to_numpy())) if len(own) else None
    result["by_condition"] = _by_condition(plain)
    result["by_control"] = _by_control(frame.filter(pl.col("control").is_not_null()))
    result["area_curve"] = area_curve(edits)
    return result


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _by_condition(plain: pl.DataFrame) -> dict[str, list]:
    if plain.is_empty():
        return {}
    edits = plain.filter(pl.col("label") == 1).group_by("condition", "truth").agg(
        pl.len().alias("n"), *(pl.col(m).filter(pl.col(m).is_not_nan()).mean() for m in ("f1", "iou", "auroc")))
    reals = plain.filter(pl.col("label") == 0).group_by("condition").agg(
        pl.col("flagged_share").mean().alias("false_alarm_area"))
    table = edits.join(reals, on="condition", how="full", coalesce=True).sort("condition", "truth", nulls_last=True)
    return {c: table[c].to_list() for c in table.columns}


def _by_control(controls: pl.DataFrame) -> dict[str, list]:
    if controls.is_empty():
        return {}
    table = controls.group_by("control", "label", "truth").agg(
        pl.len().alias("n"), *(pl.col(m).filter(pl.col(m).is_not_nan()).mean()
                               for m in ("f1", "iou", "auroc", "flagged_share"))).sort("control", "truth")
    return {c: table[c].to_list() for c in table.columns}


def evaluate_maps(maps: pl.DataFrame, truths: dict[str, dict], attributes: pl.DataFrame | None, store: ImageStore,
                  threshold: float, n_boot: int, seed: int) -> tuple[Measured, dict]:
    """Measure every map and summarize (the stage's whole computation, without writing)."""
    measured = measure(maps, truths, store, threshold)
    return measured, summarize(measured, attributes, n_boot, seed)
