"""Benchmark of the evaluation library at the paper's scale: 1.33 M rows x 10 detectors.

    .venv/bin/python benchmarks/evaluation.py [--rows 1330000] [--detectors 10] [--n-boot 1000] [--reports DIR]
                                              [--baseline-detectors 1] [--row-bootstrap]
                                              [--condition-images 20] [--condition-size 512]

Synthetic rows (seeded): 30 % real, the rest edited, with every attribute the evaluation breaks down by
(dataset, method, generator, metric bins, localization, scene bins, ~300 original x ~1000 perturbed
labels), and a source image per row (rows / 48 images, as the paper's ~48 edits per real image), so the
intervals come from the cluster bootstrap as in the `evaluation` stage (`--row-bootstrap`: without
source images). The table is prepared once (`prepare_table`: attribute codes, edit pairs, packed group
keys, clusters; then the resample weights) and shared; each detector gets its own scores. Prints one
line per step with wall seconds, CPU seconds of this process (steadier than wall on a shared machine)
and the peak resident memory so far (getrusage high-water mark); with `--trace`, also the peak of traced
memory during each step, live data included (tracemalloc slows Python-level allocation several fold, so
timings under --trace are pessimistic).

Last, the cost of post-processing conditions and confound controls per 1,000 images, making them and
judging them (`conditions_cost.py`, the same code, baseline `clean` and tables without intervals;
`--condition-images 0` skips it).

Then, in the same run, a notebook-style baseline (`baseline_detector`): a pandas DataFrame,
scikit-learn's metrics overall and per group of every attribute and of the directional pairs
(`groupby(...).apply`), threshold 0.5 only (no intervals, no calibrated threshold). It runs in a fresh
child process on the same synthetic rows (same seed), on `--baseline-detectors` detectors (default 1:
its per-pair `groupby.apply` takes minutes at 1.33 M rows). Beside it: the project doing exactly the baseline's work through its library
(`project_baseline_work`: `point_metrics` at 0.5 over the same 12 groupings, ROC-AUC and AP from
`sort_scores`), per detector, and with the table's preparation spread over the detectors. Times per
detector are medians. Peak memory of both: the peak resident memory above what the process held once
the rows were built (so the rows themselves do not count).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semitruths_dagster.evaluation import (  # noqa: E402
    ap_from_counts,
    auc_from_counts,
    evaluate_detector,
    leaderboard,
    leaderboard_markdown,
    point_metrics,
    prepare_table,
    sort_scores,
    write_html_report,
)
from semitruths_dagster.evaluation.classification import as_inputs  # noqa: E402

EDIT_ATTRS = {
    "method": ["inpainting", "p2p"],
    "generator": [
        "Kandinsky_2_2",
        "OpenJourney",
        "StableDiffusion_XL",
        "StableDiffusion_v4",
        "StableDiffusion_v5",
    ],
    "area_ratio_bin": ["small", "medium", "large"],
    "mse_bin": ["small", "medium", "large"],
    "ssim_bin": ["small", "medium", "large"],
    "lpips_bin": ["small", "medium", "large"],
    "sem_magnitude": ["small", "medium", "large"],
    "localization": ["localized", "diffused"],
}
IMAGE_ATTRS = {
    "dataset": ["ADE20K", "CelebAHQ", "CityScapes", "HumanParsing", "OpenImages", "SUN_RGBD"],
    "scene_diversity_bin": ["small", "medium", "large"],
    "scene_complexity_bin": ["small", "medium", "large"],
}


def synthetic_rows(
    n: int, seed: int = 0, real_share: float = 0.3
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """y_true and string attribute columns ('' = missing: reals have no edit attributes)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) >= real_share).astype(np.int8)
    cols: dict[str, np.ndarray] = {}
    for name, values in IMAGE_ATTRS.items():
        cols[name] = np.array(values)[rng.integers(0, len(values), n)]
    for name, values in EDIT_ATTRS.items():
        cols[name] = np.where(y == 1, np.array(values)[rng.integers(0, len(values), n)], "")
    labels = np.array([f"label{i}" for i in range(1000)])
    cols["original_label"] = np.where(y == 1, labels[rng.integers(0, 300, n)], "")
    cols["perturbed_label"] = np.where(y == 1, labels[rng.integers(0, 1000, n)], "")
    return y, cols


def source_images(n: int, seed: int = 0, edits_per_image: int = 48) -> np.ndarray:
    """The source image of every row (seeded): n / 48 images, rows drawn to them at random."""
    rng = np.random.default_rng([seed, 48])
    return np.array([f"image{i}" for i in range(max(n // edits_per_image, 1))], dtype=object)[
        rng.integers(0, max(n // edits_per_image, 1), n)]


def project_baseline_work(y_true: np.ndarray, scores: np.ndarray, table) -> dict:
    """Exactly what `baseline_detector` computes, through the library: the confusion metrics at 0.5,
    every attribute's recall / FPR per group, the edit pairs by recall, ROC-AUC and AP."""
    y, s = as_inputs(y_true, scores)
    point = point_metrics(y, s, table, 0.5)
    ranked = sort_scores(y, s).counts
    return {**point.metrics, "breakdowns": point.breakdowns, "pairs": point.pairs,
            "roc_auc": float(auc_from_counts(ranked.pos, ranked.neg)),
            "average_precision": float(ap_from_counts(ranked.pos, ranked.neg))}


def synthetic_scores(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A detector of skill depending on k: a logistic of a shifted normal, rounded like stored float32s."""
    rng = np.random.default_rng([seed, k])
    logits = rng.normal(0.0, 1.5, y.size) + (0.2 + 0.25 * k) * (2 * y - 1)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32).astype(np.float64)


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Step:
    """Times a block (wall and CPU); records peak RSS so far and, when tracing, the block's traced peak."""

    rows: list[tuple[str, float, float, float, float]] = []

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Step:
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        traced = tracemalloc.get_traced_memory()[1] / 2**20 if tracemalloc.is_tracing() else float("nan")
        Step.rows.append((self.name, seconds, peak_rss_mib(), traced, cpu))
        print(f"{self.name:<38} {seconds:9.3f} s {cpu:9.3f} s {peak_rss_mib():10.1f} MiB {traced:10.1f} MiB",
              flush=True)

    @staticmethod
    def median(prefix: str, column: int = 1) -> float:
        return float(np.median([r[column] for r in Step.rows if r[0].startswith(prefix)]))


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def baseline_detector(frame, y_col: str, score_col: str, group_cols: list[str], pair_cols: tuple[str, str]) -> dict:
    """What an evaluation notebook does: scikit-learn overall, then pandas groupby + scikit-learn per group."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y, s = frame[y_col].to_numpy(), frame[score_col].to_numpy()
    pred = (s > 0.5).astype(int)
    out = {"accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred, zero_division=0),
           "recall": recall_score(y, pred, zero_division=0), "f1": f1_score(y, pred, zero_division=0),
           "roc_auc": roc_auc_score(y, s), "average_precision": average_precision_score(y, s),
           "confusion": confusion_matrix(y, pred, labels=[0, 1])}
    frame = frame.assign(pred=pred)

    def per_group(g) -> tuple[float, float]:
        fakes, reals = g[g[y_col] == 1], g[g[y_col] == 0]
        recall = recall_score(fakes[y_col], fakes["pred"], zero_division=0) if len(fakes) else float("nan")
        fpr = (reals["pred"] == 1).mean() if len(reals) else float("nan")
        return recall, fpr

    for col in group_cols:
        out[col] = frame[frame[col] != ""].groupby(col).apply(per_group)
    fakes = frame[(frame[pair_cols[0]] != "") & (frame[pair_cols[1]] != "")]
    out["pairs"] = fakes.groupby(list(pair_cols)).apply(
        lambda g: recall_score(g[y_col], g["pred"], zero_division=0)).sort_values()
    return out


def run_baseline(rows: int, detectors: int, seed: int, queue) -> None:
    """Child process: build the same rows, then time the notebook-style evaluation per detector."""
    import pandas as pd

    y, cols = synthetic_rows(rows, seed)
    frame = pd.DataFrame({"y": y.astype(int), **cols})
    base = current_rss_mib()
    group_cols = [c for c in cols if c not in ("original_label", "perturbed_label")]
    seconds = []
    for k in range(detectors):
        frame["score"] = synthetic_scores(y, k, seed)
        t0 = time.perf_counter()
        baseline_detector(frame, "y", "score", group_cols, ("original_label", "perturbed_label"))
        seconds.append(time.perf_counter() - t0)
        print(f"{'baseline: evaluate detector ' + str(k):<38} {seconds[-1]:9.3f} s", flush=True)
    queue.put((seconds, peak_rss_mib() - base))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_330_000)
    parser.add_argument("--detectors", type=int, default=10)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reports", type=Path, default=None, help="also write HTML reports (with figures) here"
    )
    parser.add_argument("--trace", action="store_true", help="also measure each step's traced peak (slower)")
    parser.add_argument("--condition-images", type=int, default=20,
                        help="photos to time each condition and control on, scaled to 1,000 (0: skip)")
    parser.add_argument("--condition-size", type=int, default=512, help="their side in pixels")
    parser.add_argument("--baseline-detectors", type=int, default=1,
                        help="detectors for the notebook-style baseline (0: skip it)")
    parser.add_argument("--row-bootstrap", action="store_true",
                        help="no source images: intervals from the row bootstrap")
    args = parser.parse_args()

    if args.trace:
        tracemalloc.start()
    print(f"{'step':<38} {'wall':>11} {'CPU':>11} {'peak RSS':>14} {'step traced':>14}")
    total0 = time.perf_counter()
    with Step(f"synthesize {args.rows:,} rows"):
        y, cols = synthetic_rows(args.rows, args.seed)
        images = None if args.row_bootstrap else source_images(args.rows, args.seed)
    rows_rss = current_rss_mib()
    with Step("prepare table (once)"):
        table = prepare_table(y, cols, clusters=images)
    if table.clusters is not None:
        with Step("resample weights (once)"):
            table.clusters.weights(args.n_boot, args.seed)
    del cols
    results = []
    for k in range(args.detectors):
        scores = synthetic_scores(y, k, args.seed)
        with Step(f"baseline's work, detector {k}"):
            project_baseline_work(y, scores, table)
        with Step(f"evaluate detector {k}"):
            result = evaluate_detector(y, scores, table, detector=f"det{k}", n_boot=args.n_boot, seed=args.seed)
        results.append(result)
        if args.reports is not None:
            with Step(f"report detector {k}"):
                write_html_report(result, args.reports / f"det{k}.html")
    with Step("leaderboard"):
        table_rows = leaderboard(results)
    total = time.perf_counter() - total0
    prep = sum(r[1] for r in Step.rows if r[0].endswith("(once)"))
    full_wall, full_cpu = Step.median("evaluate"), Step.median("evaluate", 4)
    print(f"\n{'total':<38} {total:9.2f} s")
    print(f"{'evaluate, median per detector':<38} {full_wall:9.3f} s wall {full_cpu:9.3f} s CPU  (target < 0.5 s: "
          f"{'PASS' if full_wall < 0.5 else 'FAIL'}; "
          f"{'cluster' if table.clusters is not None else 'row'} bootstrap, {args.n_boot} resamples)")
    print(f"{'peak resident memory (process)':<38} {peak_rss_mib():9.1f} MiB")
    project_peak = peak_rss_mib() - rows_rss
    if args.trace:
        print(f"{'peak traced memory (any step)':<38} {max(r[3] for r in Step.rows):9.1f} MiB")
    print()
    top = {
        c: v[:3]
        for c, v in table_rows.items()
        if c in ("rank", "detector", "roc_auc", "default_accuracy", "calibrated_fake_recall")
    }
    print(leaderboard_markdown(top))
    if args.baseline_detectors > 0:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a fresh process: its peak memory is the baseline's own
        queue = ctx.Queue()
        child = ctx.Process(target=run_baseline, args=(args.rows, args.baseline_detectors, args.seed, queue))
        child.start()
        child.join()
        if child.exitcode != 0:
            sys.exit(f"baseline process failed (exit code {child.exitcode}); see its traceback above")
        base_seconds, base_peak = queue.get()
        baseline_s = float(np.median(base_seconds))
        same_s = Step.median("baseline's work")
        spread = same_s + prep / args.detectors
        print(f"\n{'':<52} {'s / detector':>12} {'vs baseline':>12} {'peak MiB above rows':>20}")
        print(f"{'baseline (pandas + sklearn, t=0.5, groupby per call)':<52} {baseline_s:12.3f} {1.0:11.1f}x "
              f"{base_peak:20.1f}")
        print(f"{'project: the same work (table prepared once)':<52} {same_s:12.3f} {baseline_s / same_s:11.1f}x")
        print(f"{'project: the same work + preparation / ' + str(args.detectors) + ' detectors':<52} {spread:12.3f} "
              f"{baseline_s / spread:11.1f}x")
        print(f"{'project: full evaluation (intervals, calibrated)':<52} {full_wall:12.3f} "
              f"{baseline_s / full_wall:11.1f}x {project_peak:20.1f}")
        print(f"same work vs baseline: {baseline_s / same_s:.1f}x faster per detector (target >= 20x: "
              f"{'PASS' if baseline_s / same_s >= 20 else 'FAIL'}); {args.rows:,} rows; medians over "
              f"{args.detectors} project and {args.baseline_detectors} baseline detectors, wall seconds")
    if args.condition_images > 0:
        from conditions_cost import evaluation_rows, print_table, rows

        size = args.condition_size
        print_table(rows(args.condition_images, size) + evaluation_rows(args.n_boot), size)


if __name__ == "__main__":
    main()
