"""Everything a GPU changes, measured at once, in ONE table (run through `bash benchmarks/gpu.sh`).

    .venv/bin/python benchmarks/gpu.py            # GPU: full-size architectures, random weights, 512 px
    .venv/bin/python benchmarks/gpu.py --smoke    # CPU (CI): tiny models, 64 px, 2 steps (it never rots)

Rows (each with items/s, s/item, peak memory and the paper's 2 minutes per image beside it):
  inpainting  the paper's generators at batch 1 and at the best batch of `--batches` (fp16), no
              torch.compile; for sd15 and sdxl also bf16 and fp16 + torch.compile at both batches.
              FLUX.1 Fill, SD 3.5 medium / large and Qwen-Image at batch 1 in bf16 with model CPU offload
              (the gpu resource's `cpu_offload`; peak memory is the offloaded pipeline's). Full-size
              architectures at random weights (benchmarks/generation.py `--arch full`): 512x512 (SDXL
              1024x1024), 50 steps. Weights do not change the arithmetic; images are noise. sd14, sd15 and
              openjourney share one architecture (measured for each all the same). Kandinsky 2.2 runs its
              prior (25 steps) and decoder.
  instruction FLUX.1 Kontext and Qwen-Image-Edit (bf16, CPU offload) and InstructPix2Pix (fp16), batch 1.
  p2p         prompt-to-prompt (null-text inversion + two-branch edit, sd15) at batch 1 and batched
              (several edits per UNet call, each with its own null embeddings; `run_p2p`).
  detector    P(fake) of the demo's detectors (NPR, UFD; random weights), at their input size.
  LPIPS       AlexNet LPIPS pairs/s at 512 px (`LpipsScorer` on the device, batched).
  segmenter   `adapter: folder`'s model work per image (benchmarks/sources.py `time_segmenter`):
              Mask2Former Swin-L ADE20K panoptic (640 px short side, its test size) alone and with SAM ViT-H
              refining each segment from its box, full size, random weights, fp32 and fp16; --smoke: the tiny
              builds on the CPU.

Peak memory: torch.cuda.max_memory_allocated per row on a GPU; on the CPU, the process's peak RSS so far.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generation as genbench  # noqa: E402  (benchmarks/generation.py: load + time one configuration)
import sources as srcbench  # noqa: E402  (benchmarks/sources.py: the segmenter's timing)

from semitruths_dagster.console import filter_harmless_warnings  # noqa: E402
from semitruths_dagster.detectors.registry import build_detector, random_spec  # noqa: E402
from semitruths_dagster.generation import generator_spec  # noqa: E402
from semitruths_dagster.generation.acceleration import peak_memory  # noqa: E402
from semitruths_dagster.generation.families import FULL_FAMILIES  # noqa: E402
from semitruths_dagster.metrics.perceptual import LpipsScorer  # noqa: E402

PAPER_S_PER_IMAGE = 120.0  # the paper: about 2 minutes per edited image
GENERATORS = ["sd14", "sd15", "openjourney", "sdxl", "kandinsky22",  # the paper's five
              "flux_fill", "sd35_medium", "sd35_large", "qwen_image",  # 2024-2025 inpainting
              "flux_kontext", "qwen_image_edit", "instruct_pix2pix"]  # instruction editors
VARIANTS_FOR = ("sd15", "sdxl")  # dtype and torch.compile variants (the others share sd15's architecture)
DETECTORS = ["npr", "universal_fake_detect"]
SECTIONS = ("generation", "p2p", "detectors", "lpips", "segmenter")  # --sections picks some
COLUMNS = ["what", "model", "dtype", "compile", "batch", "size", "steps", "items/s", "s/item", "peak_MiB",
           "x paper", "note"]

def settings(args: Namespace, generator: str) -> Namespace:
    """benchmarks/generation.py's arguments for one generator (SDXL works at 1024 px on the GPU; the large
    transformers run with the gpu resource's model CPU offload, which only acts on a GPU)."""
    size = args.size * 2 if generator == "sdxl" and not args.smoke else args.size
    offload = "on" if generator_spec(generator).large else "off"
    return Namespace(arch=args.arch, size=size, steps=args.steps, device=args.device, dtype=args.dtype,
                     attention="sdpa", compile_mode=None, repeats=args.repeats, warmup=args.warmup,
                     null_inner_steps=args.null_inner_steps, prior_steps=args.prior_steps, cpu_offload=offload)


def row(what: str, model: str, dtype: str, compiled: bool, batch: int, size: int, steps: int | str,
        items_s: float, peak_bytes: float, note: str = "") -> dict:
    return {"what": what, "model": model, "dtype": dtype, "compile": "yes" if compiled else "no", "batch": batch,
            "size": size, "steps": steps, "items/s": items_s, "s/item": 1 / items_s if items_s else float("inf"),
            "peak_MiB": peak_bytes / 2**20, "x paper": items_s * PAPER_S_PER_IMAGE, "note": note}


def generation_row(args: Namespace, generator: str, method: str, batch: int, dtype: str, compiled: bool,
                   tiny_root: Path) -> dict:
    if time.perf_counter() > args.deadline:  # keep the whole run within its budget; the table says what was left
        return skipped(method, generator, f"not run: over the {args.budget_s:.0f} s budget") | {
            "dtype": dtype, "compile": "yes" if compiled else "no", "batch": batch}
    gen_args = settings(args, generator)
    gen_args.dtype = dtype
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    r = genbench.bench(gen_args, generator, method, batch, compiled, tiny_root)
    note = "random weights" + ("; tiny build" if args.arch == "tiny" else "") + ("; cpu offload" if r["offload"] else "")
    return row(method, generator, r["dtype"], r["compile"], r["batch"], r["size"], r["steps"], r["img/s"],
               r["peak_MiB"] * 2**20, note)


def skipped(what: str, model: str, note: str) -> dict:
    return {c: "-" for c in COLUMNS} | {"what": what, "model": model, "note": note}


def generator_rows(args: Namespace, tiny_root: Path) -> list[dict]:
    """Inpainting (or, for the instruction editors, instruction) rows of every generator."""
    rows, best_batch = [], {}
    dtypes = ["fp32"] if args.smoke else ["fp16", "bf16"]
    for generator in args.generators:
        spec = generator_spec(generator)
        family, method = spec.family, spec.methods[0]
        if args.arch == "full" and family not in FULL_FAMILIES:
            rows.append(skipped(method, generator, f"no full-size random build for family '{family}'"))
            continue
        if spec.large or method != "inpainting":
            # Transformers of billions of parameters: bf16 (fp16 overflows), batch 1 only (offloaded,
            # they are memory-bound; instruction editors take one image per call in benchmarks/generation.py).
            dtype = "fp32" if args.smoke else ("bf16" if spec.large else dtypes[0])
            rows.append(generation_row(args, generator, method, 1, dtype, False, tiny_root))
            print(f"# {method} {generator} done", file=sys.stderr, flush=True)
            continue
        at_1 = generation_row(args, generator, "inpainting", 1, dtypes[0], False, tiny_root)
        if family not in best_batch:  # the sweep once per architecture; the same batch for its siblings
            sweep = [generation_row(args, generator, "inpainting", b, dtypes[0], False, tiny_root)
                     for b in args.batches if b > 1]
            best = max(sweep, key=lambda r: r["items/s"], default=at_1)
            best_batch[family] = best["batch"]
        else:
            best = generation_row(args, generator, "inpainting", best_batch[family], dtypes[0], False, tiny_root)
        rows += [at_1, best] if best is not at_1 else [at_1]
        if generator in VARIANTS_FOR and not args.smoke:
            for batch in dict.fromkeys([1, best_batch[family]]):
                rows.append(generation_row(args, generator, "inpainting", batch, "bf16", False, tiny_root))
                rows.append(generation_row(args, generator, "inpainting", batch, dtypes[0], True, tiny_root))
        print(f"# inpainting {generator} done", file=sys.stderr, flush=True)
    return rows


def p2p_rows(args: Namespace, tiny_root: Path) -> list[dict]:
    dtype = "fp32" if args.smoke else "fp16"
    rows = [generation_row(args, args.p2p_generator, "p2p", batch, dtype, False, tiny_root)
            for batch in (1, args.p2p_batch)]
    print("# p2p done", file=sys.stderr, flush=True)
    return rows


def sample_images(n: int, size: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def timed(device: torch.device, fn, n_items: int, repeats: int) -> tuple[float, float]:
    """(items/s, peak bytes) of `fn` after one warm-up call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with peak_memory(device) as mem:
        fn()
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        elapsed = time.perf_counter() - start
    return n_items * repeats / elapsed, mem["peak_bytes"]


def detector_rows(args: Namespace, device: torch.device, weights: Path) -> list[dict]:
    rows = []
    images = sample_images(args.detector_batch, args.size)
    for plugin in DETECTORS:
        detector = build_detector(random_spec(plugin, weights / plugin, tiny=args.smoke), device=device)
        per_s, peak = timed(device, lambda d=detector: d.score(images, batch_size=args.detector_batch),
                            len(images), args.repeats)
        rows.append(row("detector", plugin, "fp32", False, args.detector_batch, args.size, "-", per_s, peak,
                        "random weights" + ("; tiny build" if args.smoke else "")))
    print("# detectors done", file=sys.stderr, flush=True)
    return rows


def lpips_rows(args: Namespace, device: torch.device) -> list[dict]:
    scorer = LpipsScorer(device=str(device), batch_size=args.lpips_batch)
    originals, edits = sample_images(args.lpips_batch, args.size), sample_images(args.lpips_batch, args.size)[::-1]
    per_s, peak = timed(device, lambda: scorer.distance(originals, edits), len(originals), args.repeats)
    note = "random AlexNet backbone" if scorer.random_backbone else "pretrained AlexNet"
    return [row("LPIPS", "alex", "fp32", False, args.lpips_batch, args.size, "-", per_s, peak, note)]


def segmenter_rows(args: Namespace, device: torch.device, tiny_root: Path) -> list[dict]:
    from semitruths_dagster.hub import ModelRef
    from semitruths_dagster.models import LoadedModel, ModelRegistry
    from semitruths_dagster.random_weights.full_segmenters import (
        REFINER_ID,
        SEGMENTER_ID,
        full_refiner,
        full_segmenter,
    )

    size = 64 if args.smoke else 640
    images = sample_images(2 if args.smoke else 8, size)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for dtype in (["fp32"] if args.smoke else ["fp32", "fp16"]):
        dt = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
        if args.smoke:
            registry = ModelRegistry("tiny", tiny_root=tiny_root, device=str(device), dtype="float32")
            seg, ref = registry.load("segmenter"), registry.load("refiner")
        else:
            handles = []
            for role, model_id, build in (("segmenter", SEGMENTER_ID, full_segmenter), ("refiner", REFINER_ID, full_refiner)):
                model, processor = build()
                handles.append(LoadedModel(ModelRef(role, "", "hub", model_id, model_id), model.to(device, dt),
                                           processor, device, dt, True))
            seg, ref = handles
        for what, refiner in (("segmenter", None), ("segmenter+SAM", ref)):
            try:
                with peak_memory(device) as mem:
                    per_s = srcbench.time_segmenter(seg, refiner, images, args.repeats, sync)
                rows.append(row(what, "mask2former-swin-l" + ("+sam-vit-h" if refiner else ""), dtype, False, 1,
                                size, "-", per_s, mem["peak_bytes"],
                                "random weights" + ("; tiny build" if args.smoke else "; full size")))
            except (RuntimeError, ValueError) as exc:  # e.g. an op without fp16 support: say so, go on
                rows.append(skipped(what, "mask2former-swin-l", f"failed: {type(exc).__name__}: {exc}"[:120]))
        del seg, ref
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print("# segmenter done", file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    cells = [[fmt(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    print(" | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip())
    print("-+-".join("-" * w for w in widths))
    for cell in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(cell, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="CPU / CI: tiny models, 64 px, 2 steps, fp32")
    ap.add_argument("--generators", nargs="+", default=GENERATORS)
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes tried for the best batch")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--tiny-root", type=Path, default=None)
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="generation rows start only within this many seconds (the script must end within 8 min)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    if sections - set(SECTIONS):
        sys.exit(f"benchmarks/gpu.py: unknown section(s) {sorted(sections - set(SECTIONS))} (known: {', '.join(SECTIONS)})")
    filter_harmless_warnings()
    args.arch = "tiny" if args.smoke else "full"
    args.size, args.steps = (64, 2) if args.smoke else (512, 50)
    args.dtype = "auto"
    args.warmup = 0 if args.smoke else 1  # the smoke run checks that every row runs, not speeds: no warm-up call
    args.batches = args.batches or ([2] if args.smoke else [4, 8])
    args.null_inner_steps, args.prior_steps = (1, 2) if args.smoke else (10, 25)
    args.p2p_generator, args.p2p_batch = "sd15", 2 if args.smoke else 8
    args.detector_batch, args.lpips_batch = (4, 4) if args.smoke else (32, 16)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type != "cuda" and not args.smoke:
        sys.exit("benchmarks/gpu.py: no GPU here; run with --smoke for the small CPU version")
    torch.manual_seed(0)
    started = time.perf_counter()
    args.deadline = started + (float("inf") if args.smoke else args.budget_s)  # the smoke run checks every row
    with tempfile.TemporaryDirectory(prefix="semitruths-gpu-bench-") as tmp:
        tiny_root = args.tiny_root or Path(tmp) / "tiny"
        rows = generator_rows(args, tiny_root) if "generation" in sections else []
        rows += p2p_rows(args, tiny_root) if "p2p" in sections else []
        rows += detector_rows(args, device, Path(tmp) / "detectors") if "detectors" in sections else []
        rows += lpips_rows(args, device) if "lpips" in sections else []
        rows += segmenter_rows(args, device, tiny_root) if "segmenter" in sections else []
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"\n{name}; torch {torch.__version__}; {'SMOKE (tiny models, not real speeds)' if args.smoke else ''}"
          f" x paper = items/s x {PAPER_S_PER_IMAGE:.0f} s (the paper's ~2 min per image); "
          f"total {time.perf_counter() - started:.0f} s")
    print_table(rows)


if __name__ == "__main__":
    main()
