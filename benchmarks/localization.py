"""Benchmark of localization: maps/s per detector plugin at 512 px, and the evaluation's pixels/s at the
paper's scale (1.33 M edits, maps at 256 px) beside a straightforward per-image scikit-learn baseline.

    PYTHONPATH=. .venv/bin/python benchmarks/localization.py [--images 4] [--size 512] [--eval-maps 4096]
        [--baseline-maps 64] [--edits 1330000] [--map-side 256] [--n-boot 1000] [--device cpu] [--full] [--skip-maps]

Maps: every map-output plugin (`PRODUCES_MAPS`) and the demo's detectors through the sliding window
(`localization.*` defaults: 224-px windows every 112 px, so 16 windows per 512-px image), all on seeded
random weights (their maps are noise): the plugins' tiny random builds by default (the demo's), the
full-size architectures with `--full` (what a real checkpoint costs; meant for a GPU), `--images` images
of `--size` px, after one warm-up map.

Evaluation: synthetic 8-bit maps and truth masks (seeded; a rectangle per edit, the map leaning towards
it). The project's path (one `bincount` histogram per batch of maps, every metric at every threshold
from it: F1 / IoU / MCC at 0.5 and best per image, pixel AUROC per image and pooled, map maximum) runs on
`--eval-maps` maps; the baseline (per image: scikit-learn's f1_score, jaccard_score, matthews_corrcoef
at 0.5, roc_auc_score, and the best F1 / IoU / MCC over the distinct thresholds, each from
scikit-learn's confusion matrix) on `--baseline-maps` maps, checked equal to the project's on them.
Both are EXTRAPOLATED linearly from these measured subsets to `--edits` maps of `--map-side`^2 pixels
(the work per map is the same for every map). The stage's own `measure` (decoding the stored PNGs of
map and truth on a few threads, then the same metrics) is timed end to end on 256 maps in a temporary
image store: decoding, which the baseline would pay as well, dominates it. The per-image averages and their cluster-bootstrap intervals
(`--n-boot` resamples by source image, ~48 edits per image) run at full scale on per-image values.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semitruths_dagster.localization.evaluate import HEADLINE, mean_intervals  # noqa: E402
from semitruths_dagster.localization.metrics import histograms, per_image, pooled_auroc  # noqa: E402

DEMO_DETECTORS = ("npr", "universal_fake_detect")


def map_speeds(n_images: int, size: int, device: str, full: bool = False) -> list[tuple[str, str, float, str]]:
    """(plugin, map source, maps/s, note) for every map-output plugin and the demo's detectors."""
    import torch
    from PIL import Image

    from semitruths_dagster.detectors import DETECTOR_PLUGINS, build_detector, random_spec
    from semitruths_dagster.localization.maps import WindowSettings, detector_maps, produces_maps, window_grid
    from semitruths_dagster.sections import LocalizationParams

    params = LocalizationParams()
    window = WindowSettings(params.window, params.stride, params.max_windows)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n_images)]
    plugins = [p for p, cls in sorted(DETECTOR_PLUGINS.items()) if produces_maps(cls)] + list(DEMO_DETECTORS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for plugin in plugins:
            spec = random_spec(plugin, Path(tmp) / plugin, tiny=not full)
            detector = build_detector(spec, device=device)
            detector_maps(detector, images[:1], window, params.batch_size)  # warm-up
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            result = detector_maps(detector, images, window, params.batch_size)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            side, ys, xs = window_grid(size, size, window)
            note = "native map" if result.source == "native" else f"{len(ys) * len(xs)} windows of {side} px"
            build = "full-size" if full else "tiny"
            rows.append((plugin, result.source, n_images / seconds, f"{note}, {build} random build"))
    return rows


def synthetic(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, side, side), dtype=bool)
    ys, xs = rng.integers(0, side // 2, n), rng.integers(0, side // 2, n)
    hs, ws = rng.integers(side // 16, side // 2, n), rng.integers(side // 16, side // 2, n)
    for i in range(n):
        truth[i, ys[i] : ys[i] + hs[i], xs[i] : xs[i] + ws[i]] = True
    noise = rng.integers(0, 160, (n, side, side), dtype=np.uint8)
    return (noise + truth.astype(np.uint8) * 95).astype(np.uint8), truth


def project_metrics(levels: np.ndarray, truth: np.ndarray, batch: int = 64) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every per-image metric of the maps, batch by batch, and the summed histogram (pooled AUROC)."""
    parts, pooled = [], np.zeros((2, 256), dtype=np.int64)
    for start in range(0, len(levels), batch):
        hist = histograms(levels[start : start + batch], truth[start : start + batch])
        parts.append(per_image(hist, 0.5))
        pooled += hist.sum(0)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, pooled


def baseline_metrics(levels: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """The straightforward way: scikit-learn per image; the best threshold from its curves (best F1 from
    precision_recall_curve, IoU = F1 / (2 - F1) at every threshold, best MCC from roc_curve's counts)."""
    from sklearn.metrics import (
        f1_score,
        jaccard_score,
        matthews_corrcoef,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    out = {k: [] for k in ("f1", "iou", "mcc", "auroc", "f1_best", "iou_best", "mcc_best")}
    for lv, tr in zip(levels, truth, strict=True):
        y, s = tr.ravel(), lv.ravel()
        flagged = s / 255 > 0.5
        out["f1"].append(f1_score(y, flagged))
        out["iou"].append(jaccard_score(y, flagged))
        out["mcc"].append(matthews_corrcoef(y, flagged))
        out["auroc"].append(roc_auc_score(y, s))
        precision, recall, _ = precision_recall_curve(y, s)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
        out["f1_best"].append(f1.max())
        out["iou_best"].append(f1.max() / (2 - f1.max()))
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        pos, neg = y.sum(), y.size - y.sum()
        tp, fp = tpr * pos, fpr * neg
        fn, tn = pos - tp, neg - fp
        with np.errstate(invalid="ignore", divide="ignore"):
            mcc = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        out["mcc_best"].append(np.nanmax(np.r_[mcc, 0.0]))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def stage_rate(levels: np.ndarray, truth: np.ndarray) -> float:
    """Maps per second through the stage's own `measure` (PNG decode of map and truth from an image store
    on a few threads, histograms, every metric), end to end."""
    import polars as pl

    from semitruths_dagster.localization.evaluate import measure
    from semitruths_dagster.localization.storage import put_map
    from semitruths_dagster.storage import ImageStore

    with tempfile.TemporaryDirectory() as tmp:
        store = ImageStore(tmp)
        rows, truths = [], {}
        for i, (lv, tr) in enumerate(zip(levels, truth, strict=True)):
            path, _ = put_map(store, lv)
            truths[f"g{i}"] = {"post_edit_mask": store.put_png(tr.astype(np.uint8) * 255)[0]}
            rows.append({"row_key": f"r{i}", "map_path": path, "label": 1, "generation_id": f"g{i}"})
        frame = pl.DataFrame(rows)
        started = time.perf_counter()
        measure(frame, truths, store, 0.5)
        return len(rows) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-maps", action="store_true")
    parser.add_argument("--full", action="store_true", help="full-size random builds (the real architectures' cost)")
    parser.add_argument("--eval-maps", type=int, default=4096)
    parser.add_argument("--baseline-maps", type=int, default=64)
    parser.add_argument("--edits", type=int, default=1_330_000)
    parser.add_argument("--map-side", type=int, default=256)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()

    if not args.skip_maps:
        print(f"maps at {args.size} px, {args.images} images, device {args.device}")
        print(f"{'plugin':24} {'source':15} {'maps/s':>8}  note")
        for plugin, source, rate, note in map_speeds(args.images, args.size, args.device, args.full):
            print(f"{plugin:24} {source:15} {rate:8.3f}  {note}")
        print()

    px = args.map_side**2
    total_px = args.edits * px
    levels, truth = synthetic(args.eval_maps, args.map_side, seed=1)
    project_metrics(levels[:64], truth[:64])  # warm-up
    started = time.perf_counter()
    ours, pooled = project_metrics(levels, truth)
    ours_s = time.perf_counter() - started
    n_base = min(args.baseline_maps, args.eval_maps)
    started = time.perf_counter()
    base = baseline_metrics(levels[:n_base], truth[:n_base])
    base_s = time.perf_counter() - started
    worst = max(float(np.max(np.abs(base[k] - ours[k][:n_base]))) for k in base)
    stage = stage_rate(levels[:256], truth[:256])

    # per-image averages and intervals at full scale: source images of ~48 edits each
    rng = np.random.default_rng(2)
    n_sources = max(1, args.edits // 48)
    import polars as pl

    frame = pl.DataFrame({"image_id": rng.integers(0, n_sources, args.edits).astype(str),
                          **{k: np.resize(ours[k], args.edits) for k in HEADLINE}})
    started = time.perf_counter()
    mean_intervals(frame, HEADLINE, args.n_boot, seed=0)
    boot_s = time.perf_counter() - started
    pooled_auroc(pooled[None])

    ours_rate, base_rate = args.eval_maps * px / ours_s, n_base * px / base_s
    print(f"evaluation: {args.edits:,} edits x {args.map_side}x{args.map_side} maps = {total_px / 1e9:.1f} G pixels "
          f"(EXTRAPOLATED from the measured subsets below)")
    print(f"{'what':44} {'measured on':>12} {'pixels/s':>12} {'at full scale':>14}")
    print(f"{'project: histograms + every metric':44} {args.eval_maps:>8} maps {ours_rate:12.3e} "
          f"{total_px / ours_rate / 60:11.1f} min")
    print(f"{'baseline: scikit-learn per image':44} {n_base:>8} maps {base_rate:12.3e} "
          f"{total_px / base_rate / 3600:11.1f} h")
    print(f"{'project end to end: PNG decode + metrics':44} {256:>8} maps {stage * px:12.3e} "
          f"{args.edits / stage / 60:11.1f} min")
    print(f"{'cluster bootstrap of 7 means (project)':44} {args.edits:>8} rows {'-':>12} {boot_s:13.1f} s "
          f"({args.n_boot} resamples, {n_sources:,} source images, measured at full scale)")
    print(f"speed-up, metrics: x{ours_rate / base_rate:.0f} (target >= 20); largest difference from the baseline "
          f"on its {n_base} maps: {worst:.2e}")


if __name__ == "__main__":
    main()
