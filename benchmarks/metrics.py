"""Benchmark of the image metrics on the CPU: pairs per second and peak memory at 512x512.

    .venv/bin/python benchmarks/metrics.py [--pairs 8 16 32] [--model-pairs 16] [--size 512] [--quick]

Rows:
  pixel    `pixel_metrics` (MSE, SSIM, Algorithm 2) on an (N,H,W,3) uint8 batch, for several N (linear
           scaling), beside a straightforward serial implementation of the same metrics (scikit-image
           `structural_similarity(win_size=5)` + Algorithm 2 with scipy.ndimage, one pair at a time, as
           the original scripts do) on the same pairs; the equality of every value is checked and printed
           (SSIM to 1e-6, every other metric exactly);
  LPIPS    `LpipsScorer(batch_size=1)` vs `LpipsScorer(batch_size=16)`, `.distance(originals, edits)`;
  BRISQUE  `BrisqueScorer().score(edits)`: one image per pair, per image by nature (no batch path);
  CLIP     `clip_image_embeddings` of the originals and the edits (2 images per pair), batch 1 vs 32, with
           the tiny profile's CLIP (a small random-weight open_clip model, 32 px input: its timing is
           preprocessing plus a toy network, not ViT-L/14's).

Synthetic pairs (seeded): scikit-image's astronaut / chelsea / coffee photos resized to the size asked
for; each edit pastes a square region taken from elsewhere in the image (or another photo) and adds mild
Gaussian noise to the whole image. Each model is loaded and warmed up (one call) before timing; load
times are printed separately. Timings are the best of `--repeats` untraced runs; memory comes from one
more run of each row under tracemalloc.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skdata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy import ndimage  # noqa: E402
from scipy.spatial.distance import pdist  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from semitruths_dagster.metrics.perceptual import BrisqueScorer, LpipsScorer  # noqa: E402
from semitruths_dagster.metrics.pixel import PostEditParams, pixel_metrics  # noqa: E402
from semitruths_dagster.models import ModelRegistry, clip_image_embeddings  # noqa: E402

# lpips builds torchvision's AlexNet with the deprecated `pretrained=` argument: noise, not news.
warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")

MIB = 2**20


# --------------------------------------------------------------------------- synthetic pairs


def base_photos(size: int) -> list[np.ndarray]:
    """Three bundled RGB photos (no download), resized (bicubic) to size x size uint8."""
    photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee()]
    return [
        np.asarray(Image.fromarray(p).convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        for p in photos
    ]


def synthetic_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(originals, edits) as (n, size, size, 3) uint8: a pasted square (10-30 % of the side) plus noise."""
    rng = np.random.default_rng(seed)
    photos = base_photos(size)
    orig = np.empty((n, size, size, 3), np.uint8)
    edit = np.empty_like(orig)
    for i in range(n):
        o = photos[i % len(photos)]
        if rng.random() < 0.5:  # vary the originals a little beyond the three photos
            o = o[:, ::-1]
        orig[i] = o
        side = int(rng.integers(size // 10, size * 3 // 10 + 1))
        y0, x0, y1, x1 = rng.integers(0, size - side + 1, 4)
        donor = photos[int(rng.integers(len(photos)))] if rng.random() < 0.5 else o
        e = o.astype(np.int16)
        e[y0 : y0 + side, x0 : x0 + side] = donor[y1 : y1 + side, x1 : x1 + side]
        e += np.rint(rng.normal(0.0, 3.0, e.shape)).astype(np.int16)
        edit[i] = np.clip(e, 0, 255).astype(np.uint8)
    return orig, edit


def to_pil(batch: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(a) for a in batch]


# --------------------------------------------------------------------------- serial baseline


def serial_pair_metrics(o: np.ndarray, e: np.ndarray, p: PostEditParams | None = None) -> dict[str, float]:
    """The metrics of one (H, W, 3) uint8 pair the way the original scripts compute them, one pair at a
    time: scikit-image SSIM, then Algorithm 2 with scipy.ndimage on this image alone."""
    p = p or PostEditParams()
    h, w, c = o.shape
    sq = ((o.astype(np.int64) - e.astype(np.int64)) ** 2).sum(axis=-1)  # exact integers
    ssim = structural_similarity(o, e, win_size=5, data_range=255, channel_axis=-1)
    eight = ndimage.generate_binary_structure(2, 2 if p.connectivity == 8 else 1)
    changed = sq > p.pixel_threshold * 255.0**2 * c
    labels, _ = ndimage.label(changed, structure=eight)
    sizes = np.bincount(labels.ravel())
    cleaned = (sizes >= p.min_noise_size)[labels] & (labels > 0)
    dilated = ndimage.maximum_filter(cleaned, size=p.dilation_size, mode="constant", cval=0)
    labels, n = ndimage.label(dilated, structure=eight)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    kept = [i for i in range(1, n + 1) if sizes[i] >= p.min_component_size]
    rows, cols = np.indices((h, w))
    centroids = [(rows[labels == i].sum() / sizes[i], cols[labels == i].sum() / sizes[i]) for i in kept]
    dist = float(pdist(np.array(centroids)).max()) if len(kept) >= 2 else 0.0
    diag = float(np.hypot(h, w))
    return {
        "mse": float(sq.sum()) / (h * w * 255.0**2 * c),
        "ssim": ssim,
        "post_edit_ratio": float(sum(sizes[i] for i in kept)) / (h * w),
        "n_components": len(kept),
        "largest_component_ratio": float(max((sizes[i] for i in kept), default=0)) / (h * w),
        "max_centroid_distance": dist,
        "max_centroid_distance_norm": dist / diag,
    }


def serial_metrics(orig: np.ndarray, edit: np.ndarray) -> dict[str, np.ndarray]:
    rows = [serial_pair_metrics(o, e) for o, e in zip(orig, edit, strict=True)]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def equality_report(serial: dict[str, np.ndarray], batched: dict[str, np.ndarray]) -> tuple[bool, str]:
    """SSIM within 1e-6 of scikit-image's; every other metric bit-identical."""
    parts, ok = [], True
    for key, ref in serial.items():
        diff = float(np.max(np.abs(batched[key] - ref)))
        good = diff <= 1e-6 if key == "ssim" else bool(np.array_equal(batched[key], ref))
        ok &= good
        parts.append(f"{key} max |diff| {diff:.1e}{'' if good else ' FAIL'}")
    return ok, "; ".join(parts)


# --------------------------------------------------------------------------- measuring


def rss_hwm_mib() -> float:
    """Process peak resident memory so far (getrusage ru_maxrss, KiB on Linux): it only ever grows."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Row:
    metric: str
    mode: str
    n: int
    seconds: float
    traced_mib: float
    rss_mib: float

    @property
    def per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    @property
    def s_per_pair(self) -> float:
        return self.seconds / self.n


def measure(metric: str, mode: str, n: int, fn: Callable[[], object], repeats: int) -> Row:
    """Best-of-`repeats` wall time untraced, then one traced run for the row's own peak allocation."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    traced = (tracemalloc.get_traced_memory()[1] - base) / MIB
    tracemalloc.stop()
    row = Row(metric, mode, n, best, traced, rss_hwm_mib())
    print(f"  measured {metric} / {mode} / N={n}: {best:.2f} s", file=sys.stderr, flush=True)
    return row


def timed(label: str, fn: Callable[[], object], loads: list[tuple[str, float]]) -> object:
    t0 = time.perf_counter()
    out = fn()
    loads.append((label, time.perf_counter() - t0))
    return out


# --------------------------------------------------------------------------- output


def print_table(headers: list[str], rows: list[list[str]], right: set[int]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(cells).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=None,
                        help="batch sizes N for the batched pixel path (default 8 16 32; --quick: 4 8)")
    parser.add_argument("--model-pairs", type=int, default=None,
                        help="pairs for the LPIPS, BRISQUE and CLIP rows (default 16; --quick: 8); "
                             "the one-at-a-time pixel row uses max(--pairs)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per row, best kept (default 2; --quick: 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice). On a busy machine 1 thread "
                             "can be much faster for small batches: idle-spinning workers wait on a busy core")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smaller workload (under a minute)")
    args = parser.parse_args()
    pairs = sorted(set(args.pairs or ([4, 8] if args.quick else [8, 16, 32])))
    model_pairs = args.model_pairs or (8 if args.quick else 16)
    repeats = args.repeats or (1 if args.quick else 2)
    if min(pairs) < 1 or model_pairs < 1 or repeats < 1 or args.size < 32:
        parser.error("--pairs, --model-pairs and --repeats must be >= 1, --size >= 32")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)

    total0 = time.perf_counter()
    n_max = max(max(pairs), model_pairs)
    orig, edit = synthetic_pairs(n_max, args.size, args.seed)
    orig_pil, edit_pil = to_pil(orig[:model_pairs]), to_pil(edit[:model_pairs])
    rows: list[Row] = []
    loads: list[tuple[str, float]] = []

    # ---- pixel metrics: no model; one warm-up call (imports, first-call costs)
    pixel_metrics(orig[:1], edit[:1])
    for n in pairs:
        rows.append(measure("pixel_metrics", "batched", n,
                            lambda n=n: pixel_metrics(orig[:n], edit[:n]), repeats))
    n_loop = max(pairs)
    serial_metrics(orig[:1], edit[:1])  # warm-up
    rows.append(measure("serial (skimage SSIM + scipy Alg. 2)", "one-at-a-time", n_loop,
                        lambda: serial_metrics(orig[:n_loop], edit[:n_loop]), repeats))
    equal, equal_text = equality_report(serial_metrics(orig[:n_loop], edit[:n_loop]),
                                        pixel_metrics(orig[:n_loop], edit[:n_loop]).to_dict())

    # ---- LPIPS: load each scorer's model (cached_property), warm up, then time
    lp1, lp16 = LpipsScorer(batch_size=1), LpipsScorer(batch_size=16)
    timed("LPIPS (alex) load, batch_size=1 scorer", lambda: lp1._model, loads)
    timed("LPIPS (alex) load, batch_size=16 scorer", lambda: lp16._model, loads)
    timed("LPIPS warm-up (1 pair, each scorer)",
          lambda: (lp1.distance(orig_pil[:1], edit_pil[:1]), lp16.distance(orig_pil[:1], edit_pil[:1])), loads)
    rows.append(measure("LPIPS", "batch_size=1", model_pairs, lambda: lp1.distance(orig_pil, edit_pil), repeats))
    rows.append(measure("LPIPS", "batch_size=16", model_pairs, lambda: lp16.distance(orig_pil, edit_pil), repeats))

    # ---- BRISQUE: per image; scores the edits (one image per pair), as the saliency stage does
    brisque = BrisqueScorer()
    timed("BRISQUE load (SVM model)", lambda: brisque._model, loads)
    timed("BRISQUE warm-up (1 image)", lambda: brisque.score(edit_pil[:1]), loads)
    rows.append(measure("BRISQUE", "per image (edits)", model_pairs, lambda: brisque.score(edit_pil), repeats))

    # ---- CLIP image embeddings: tiny profile, originals + edits (2 images per pair)
    with tempfile.TemporaryDirectory(prefix="tiny-models-") as tiny_root:
        registry = ModelRegistry(profile="tiny", tiny_root=tiny_root, device="cpu")
        clip = timed("CLIP load (tiny profile: builds the random-weight model)", lambda: registry.load("clip"), loads)
        timed("CLIP warm-up (1 image)", lambda: clip_image_embeddings(clip, orig_pil[:1]), loads)
        both = orig_pil + edit_pil
        for bs in (1, 32):
            rows.append(measure("CLIP image emb. (tiny*)", f"batch_size={bs}", model_pairs,
                                lambda bs=bs: clip_image_embeddings(clip, both, batch_size=bs), repeats))
        clip_random = clip.random_weights

    # ---- report
    print(f"\nImage metrics on the CPU, {args.size}x{args.size} RGB pairs, seed {args.seed}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs visible")
    print(f"seconds: best of {repeats} untraced run(s).  s/pair = seconds / N (constant when time is linear in N).")
    print("traced MiB: tracemalloc peak above the row's starting level during one extra traced run: Python objects")
    print("  and numpy buffers only (torch tensor storage and OpenCV buffers are not traced, so model rows under-count).")
    print("RSS HWM MiB: getrusage(RUSAGE_SELF).ru_maxrss after the row: the whole process's peak resident memory")
    print("  so far (models, torch, libraries included); it never decreases, so it is cumulative down the table.\n")
    headers = ["metric", "mode", "N pairs", "seconds", "pairs/s", "s/pair", "traced MiB", "RSS HWM MiB"]
    print_table(headers, [
        [r.metric, r.mode, str(r.n), f"{r.seconds:.3f}", f"{r.per_s:.2f}", f"{r.s_per_pair:.4f}",
         f"{r.traced_mib:.1f}", f"{r.rss_mib:.0f}"]
        for r in rows
    ], right={2, 3, 4, 5, 6, 7})

    batched = [r for r in rows if r.metric == "pixel_metrics" and r.mode == "batched"]
    loop = next(r for r in rows if r.mode == "one-at-a-time")
    print("\nLinear scaling of batched pixel_metrics (s/pair relative to the smallest N):")
    print("  " + ", ".join(f"N={r.n}: {r.s_per_pair / batched[0].s_per_pair:.2f}x" for r in batched))
    same_n = next((r for r in batched if r.n == loop.n), None)
    if same_n is not None:
        ratio = loop.seconds / same_n.seconds
        print(f"pixel_metrics vs the serial implementation at N={loop.n}: {ratio:.1f}x pairs/s "
              f"(target >= 10x: {'PASS' if ratio >= 10 else 'FAIL'})")
    print(f"Equality on those {loop.n} pairs (SSIM to 1e-6, the rest exact): {'PASS' if equal else 'FAIL'}")
    print(f"  {equal_text}")
    lpips_note = ("random AlexNet backbone (torchvision weights not cached): same network and cost, "
                  "not the paper's values") if lp1.random_backbone else "pretrained AlexNet backbone"
    print(f"LPIPS: {lpips_note}.")
    print("BRISQUE: per image by nature (no batch path); N counts pairs, one edited image scored per pair.")
    print(f"* CLIP: the tiny profile's model (random weights: {clip_random}), a 2-layer, width-32 open_clip ViT "
          "with 32 px input:\n  its timing (preprocessing plus a toy network) is NOT ViT-L/14's. "
          "Each pair embeds 2 images (original + edit).")

    print("\nModel load / warm-up (not in the timings above):")
    width = max(len(label) for label, _ in loads)
    for label, seconds in loads:
        print(f"  {label:<{width}}  {seconds:7.2f} s")
    print(f"\nTotal wall time: {time.perf_counter() - total0:.1f} s; process peak RSS {rss_hwm_mib():.0f} MiB")


if __name__ == "__main__":
    main()
