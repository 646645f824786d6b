"""Throughput of every detector plugin: images/s at batch 1 (the baseline) and at the best batch, peak memory;
or, with `--precision`, how far reduced-precision scores are from float32 ones.

    .venv/bin/python benchmarks/detectors.py [--small] [--device auto] [--dtype auto] [--batches 1,8,32]
                                             [--images 32] [--plugins npr,safe,...]
    .venv/bin/python benchmarks/detectors.py --precision [--small] [--device auto] [--images 8] [--size 512]
                                             [--timeout 300] [--plugins ...] [--spec detectors/rine.yaml]

`--precision`: per plugin, the same seeded random weights are loaded in float32 (the baseline, and the
authors' precision of all but RINE), bfloat16 and float16, each in its own process, and score the same
images (scikit-image photos, then seeded noise, `--size` px square); the table gives the largest
|P(fake) - P(fake) in float32| per dtype, and the plugin's authors' precision. float16 on the CPU runs
here only to measure it (the assets refuse it): a missing half-precision kernel shows as `failed`, a
dtype whose process (random weights written and loaded, then
scoring) takes longer than `--timeout` as `over N s`. On CUDA the `authors'` column scores in
`detectors.dtype: authors` (RINE: float16 CLIP + float32 head). `--spec` measures a registered detector
with its real weights instead (what random weights cannot show: their scores sit near 0.5).

Each plugin runs in its own process (so its peak memory is its own) on seeded random weights in its real
checkpoint format, loaded through the real loading code: full-size architectures by default (several are
CLIP ViT-L/14: minutes per plugin on a CPU), tiny ones with `--small` (a few minutes for all of them on 2
CPU cores; figures then say nothing about the real networks' cost). Timed: `Detector.score` on 512 x 512
random images, preprocessing included, after one warm-up batch; each batch size scores `--images` images
(at least one batch). Peak memory: the process's resident high-water mark (getrusage; includes the model
and Python), and on a GPU `torch.cuda.max_memory_allocated`. DE-FAKE gets fixed captions (its BLIP
captioner is not part of the detector's cost here).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_one(plugin: str, small: bool, device: str, dtype: str, batches: list[int], n_images: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from semitruths_dagster.detectors import build_detector, random_spec
    from semitruths_dagster.detectors.runtime import ScoringSettings
    from semitruths_dagster.generation import DeviceSettings

    settings = DeviceSettings(device=device, dtype=dtype)
    # The assets' rule (no float16 on the CPU), with the error naming this script's option.
    ScoringSettings(settings.torch_device(), settings.torch_dtype(), max(batches), setting="--dtype")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        spec = random_spec(plugin, Path(tmp) / plugin, tiny=small)
        det = build_detector(spec, device=settings.torch_device(), dtype=settings.torch_dtype())
        load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    pool = [Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(max(batches))]
    texts = ["a photo of a room with a table"] * max(batches) if plugin == "defake" else None
    speeds = {}
    for batch in batches:
        total = max(batch, n_images)
        images = [pool[i % len(pool)] for i in range(total)]
        det.score(images[:batch], texts=texts[:batch] if texts else None, batch_size=batch)  # warm-up
        if settings.torch_device().type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for start in range(0, total, batch):
            chunk = images[start : start + batch]
            det.score(chunk, texts=texts[: len(chunk)] if texts else None, batch_size=batch)
        if settings.torch_device().type == "cuda":
            torch.cuda.synchronize()
        speeds[batch] = total / (time.perf_counter() - t0)
    # An ONNX session or an external process has no torch parameters to count.
    params = sum(p.numel() for p in det.model.parameters()) if isinstance(det.model, torch.nn.Module) else None
    gpu_mib = torch.cuda.max_memory_allocated() / 2**20 if settings.torch_device().type == "cuda" else None
    return {"plugin": plugin, "params_m": None if params is None else params / 1e6, "load_s": load_s, "speeds": speeds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_gpu_mib": gpu_mib,
            "device": str(settings.torch_device()), "dtype": str(settings.torch_dtype()).removeprefix("torch.")}


def _images(n: int, side: int = 512) -> list:
    """Photos first (their scores are the ones that matter), then seeded noise: n images of side x side."""
    import numpy as np
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(max(0, n - len(photos)))]
    return [Image.fromarray(a).convert("RGB").resize((side, side)) for a in (photos + noise)[:n]]


def run_precision(plugin: str, small: bool, device: str, dtype: str, n_images: int, side: int,
                  spec_file: str | None = None) -> dict:
    """One plugin's scores in one dtype (the whole network cast, or 'authors') on the fixed images, and the
    time; `spec_file`: a registered detector's spec (real weights) instead of seeded random weights."""
    import torch

    from semitruths_dagster.detectors import build_detector, random_spec
    from semitruths_dagster.detectors.registry import load_spec

    images = _images(n_images, side)
    texts = ["a photo of a room with a table"] * len(images) if plugin == "defake" else None
    with tempfile.TemporaryDirectory() as tmp:  # seeded: every process writes the same weights
        spec = load_spec(spec_file) if spec_file else random_spec(plugin, Path(tmp) / plugin, tiny=small)
        det = build_detector(spec, device=device, dtype=dtype if dtype == "authors" else getattr(torch, dtype))
    t0 = time.perf_counter()
    scores = det.score(images, texts=texts, batch_size=len(images))
    return {"scores": scores.tolist(), "seconds": time.perf_counter() - t0}


def precision_row(plugin: str, args: argparse.Namespace) -> dict:
    """Each dtype in its own process with a time limit (CPU float16 kernels can be very slow)."""
    from semitruths_dagster.detectors import DETECTOR_PLUGINS

    row: dict = {"plugin": plugin, "authors_precision": DETECTOR_PLUGINS[plugin].AUTHORS_PRECISION}
    reference = None
    # the authors' precision differs from float32 only on CUDA (RINE): measured there
    for dtype in ("float32", "bfloat16", "float16") + (("authors",) if args.device.startswith("cuda") else ()):
        cmd = [sys.executable, __file__, "--one", plugin, "--precision", "--dtype", dtype, "--device", args.device,
               "--images", str(args.images), "--size", str(args.size)] + (["--small"] if args.small else [])
        cmd += ["--spec", args.spec] if args.spec else []
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            row[dtype] = f"over {args.timeout:.0f} s"
            continue
        if out.returncode != 0:
            row[dtype] = "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:70]
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        row[f"{dtype}_s"] = result["seconds"]
        if reference is None:
            reference = result["scores"]
            row["score_range"] = [min(reference), max(reference)]
        row[dtype] = max(abs(x - y) for x, y in zip(result["scores"], reference, strict=True))
    return row


def print_precision(rows: list[dict], args: argparse.Namespace) -> None:
    size = "tiny (--small)" if args.small else "full-size"
    print(f"\n{size} architectures, random weights, device {args.device}, {args.images} images of {args.size} px; "
          "max |P(fake) - P(fake) in float32| over the images")
    print("| plugin | authors' precision | float32 scores (min..max) | bfloat16 | float16 | authors' | "
          "s fp32 / bf16 / fp16 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r.get("score_range", [float("nan")] * 2)
        cells = [f"{r[d]:.1e}" if isinstance(r.get(d), float) else r.get(d, "-")
                 for d in ("bfloat16", "float16", "authors")]
        times = " / ".join(f"{r[f'{d}_s']:.1f}" if f"{d}_s" in r else "-" for d in ("float32", "bfloat16", "float16"))
        print(f"| {r['plugin']} | {r['authors_precision']} | {lo:.4f}..{hi:.4f} | {cells[0]} | {cells[1]} | {cells[2]} | {times} |")


def main() -> None:
    from semitruths_dagster.detectors import DETECTOR_PLUGINS as PLUGINS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny architectures (CPU smoke figures)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--images", type=int, default=32, help="images scored per batch size")
    parser.add_argument("--plugins", default=",".join(sorted(PLUGINS)))
    parser.add_argument("--precision", action="store_true", help="score differences of bf16 / fp16 to fp32")
    parser.add_argument("--spec", help="--precision: a detector spec file (real weights) instead of random ones")
    parser.add_argument("--size", type=int, default=512, help="--precision: side of the images")
    parser.add_argument("--timeout", type=float, default=300, help="--precision: seconds per plugin and dtype")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: one plugin, JSON on stdout
    args = parser.parse_args()
    batches = sorted({int(b) for b in args.batches.split(",")})
    if args.precision and args.device == "auto":
        args.device = "cuda" if _cuda() else "cpu"
    if args.one:
        result = (run_precision(args.one, args.small, args.device, args.dtype, args.images, args.size, args.spec) if args.precision
                  else run_one(args.one, args.small, args.device, args.dtype, batches, args.images))
        print(json.dumps(result))
        return
    if args.precision:
        rows = []
        if args.spec:
            from semitruths_dagster.detectors.registry import load_spec

            args.plugins = load_spec(args.spec).plugin
        for plugin in args.plugins.split(","):
            rows.append(precision_row(plugin, args))
            print(f"done {plugin}: {rows[-1]}", file=sys.stderr, flush=True)
        print_precision(rows, args)
        return
    rows = []
    for plugin in args.plugins.split(","):
        cmd = [sys.executable, __file__, "--one", plugin, "--device", args.device, "--dtype", args.dtype,
               "--batches", args.batches, "--images", str(args.images)] + (["--small"] if args.small else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            rows.append({"plugin": plugin, "error": (out.stderr.strip().splitlines() or ["?"])[-1][:80]})
        else:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"done {plugin}", file=sys.stderr, flush=True)
    size = "tiny (--small)" if args.small else "full-size"
    print(f"\n{size} architectures, random weights; batch sizes {batches}, {args.images} images of 512 x 512 each")
    print("| plugin | params (M) | device | dtype | load s | img/s @1 (baseline) | best batch | img/s @best | speed-up | peak RSS MiB | peak GPU MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['plugin']} | failed: {r['error']} |" + " |" * 9)
            continue
        speeds = {int(k): v for k, v in r["speeds"].items()}
        best = max(speeds, key=speeds.get)
        gpu = f"{r['peak_gpu_mib']:.0f}" if r["peak_gpu_mib"] is not None else "-"
        size_m = "-" if r["params_m"] is None else f"{r['params_m']:.1f}"
        print(f"| {r['plugin']} | {size_m} | {r['device']} | {r['dtype']} | {r['load_s']:.1f} | "
              f"{speeds[min(speeds)]:.1f} | {best} | {speeds[best]:.1f} | {speeds[best] / speeds[min(speeds)]:.2f}x | "
              f"{r['peak_rss_mib']:.0f} | {gpu} |")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
