"""Throughput of the generation stage: images/s and peak memory per generator and method.

    .venv/bin/python benchmarks/generation.py                       # tiny models, CPU, 64 px, 10 steps
    .venv/bin/python benchmarks/generation.py --generators new --cpu-offload on --dtype bf16  # 2025 models
    .venv/bin/python benchmarks/generation.py --arch full --size 512 --steps 50 --dtype fp16 \\
        --batch 1 4 --generators sd15 sdxl --compile both            # full-size random weights on a GPU

`--arch tiny` loads the tiny random-weight generators through the same from_pretrained path as the hub
ids. `--arch full` builds the real architectures' full sizes (SD 1.5: 860 M UNet; SDXL inpainting: 2.6 B
UNet; FLUX.1 Fill / Kontext: 11.9 B transformer + T5-XXL; SD 3.5 medium / large; Qwen-Image / -Edit: 20 B
transformer + Qwen2.5-VL-7B; InstructPix2Pix) with random weights, in memory on the device: timings are
those of the real models (weights do not change the arithmetic), the images are noise; Kandinsky 2.2's
prior and decoder too (semitruths_dagster/random_weights/full_*.py). Prompt-to-prompt: null-text inversion
(`--null-inner-steps` Adam steps per DDIM step) + the two-branch edit, so its images/s counts whole
edits; it runs at batch 1 and at every --batch (several edits per UNet call, each with its own null
embeddings and optimizer), side by side: x_batch1 is the speed-up over batch 1 in the same run. Peak
memory: CUDA max allocated per row on a GPU; on the CPU the process's peak RSS so far.
`--generators` takes names or the groups `paper` (the paper's five) and `new` (FLUX.1 Fill, SD 3.5
medium / large, Qwen-Image inpainting; FLUX.1 Kontext, Qwen-Image-Edit, InstructPix2Pix instruction
edits, one image per call); the default is both. `--dtype auto` is bf16 on a GPU for the large
transformers (fp16 for the others); `--cpu-offload on` runs them with the gpu resource's model CPU offload
(GPU only; peak_MiB is then the offloaded pipeline's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semitruths_dagster.generation import (
    # noqa: E402,
    DeviceSettings,
    EditItem,
    InpaintItem,
    InstructItem,
    LoadedPipeline,
    P2PParams,
    edit,
    generator_spec,
    load_pipeline,
    peak_memory,
    resolve_generator,
)
from semitruths_dagster.generation.acceleration import apply_attention, compile_denoiser, place  # noqa: E402
from semitruths_dagster.generation.families import FULL_FAMILIES, build_full  # noqa: E402
from semitruths_dagster.generation.inpaint import inpaint  # noqa: E402
from semitruths_dagster.generation.instruct import instruct  # noqa: E402
from semitruths_dagster.generation.loading import pipeline_dtype  # noqa: E402
from semitruths_dagster.generation.registry import GENERATORS, METHODS, PAPER_GENERATORS  # noqa: E402
from semitruths_dagster.hub import ModelSource

GROUPS = {"paper": list(PAPER_GENERATORS),
          "new": [n for n, g in GENERATORS.items() if not g.paper and n != "sd15_inpainting"]}


def sample_inputs(size: int, n: int) -> list[tuple[Image.Image, Image.Image]]:
    """n seeded (image, soft mask) pairs at size x size: a real photo (skimage) and a centred ellipse."""
    from PIL import ImageDraw, ImageFilter
    from skimage import data

    photos = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    out = []
    for i in range(n):
        image = Image.fromarray(photos[i % len(photos)]).convert("RGB").resize((size, size))
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).ellipse([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=255)
        out.append((image, mask.filter(ImageFilter.GaussianBlur(max(1, size // 32)))))
    return out


def load(args, generator: str, method: str, settings: DeviceSettings, tiny_root: Path) -> LoadedPipeline:
    if args.arch == "tiny":
        return load_pipeline(resolve_generator(generator, ModelSource("tiny", tiny_root=tiny_root)), method, settings)
    family = generator_spec(generator).family
    device, dtype = settings.torch_device(), pipeline_dtype(settings, generator)
    start = time.perf_counter()
    # Built on the device (fast random init), then offloaded like a loaded pipeline (`place`; not for p2p,
    # which calls the UNet directly): peak memory during the run is then that of the offloaded pipeline.
    pipe = build_full(family, method, device, dtype)
    place(pipe, device, settings.cpu_offload and method != "p2p")
    apply_attention(pipe, settings.attention)
    compiled = settings.compile_unet and method == "inpainting"
    if compiled:
        compile_denoiser(pipe, settings.compile_mode)
    ref = resolve_generator(generator, ModelSource("paper"))
    return LoadedPipeline(
        pipe=pipe,
        generator=generator,
        method=method,
        ref=ref,
        device=device,
        dtype=dtype,
        settings=settings,
        random_weights=True,
        safety_checker=False,
        compiled=compiled,
        load_s=time.perf_counter() - start,
    )


def run_once(loaded: LoadedPipeline, args, batch: int, inputs, seed0: int) -> int:
    """One timed unit of work; returns the number of images made."""
    if loaded.method == "inpainting":
        items = [
            InpaintItem(
                f"b{seed0 + i}",
                img,
                mask,
                "a red vintage car",
                seed=seed0 + i,
                steps=args.steps,
                size=args.size,
                prior_steps=args.prior_steps,
            )
            for i, (img, mask) in enumerate(inputs[:batch])
        ]
        return len(list(inpaint(loaded, items, DeviceSettings(batch_size=batch))))
    if loaded.method == "instruction":
        items = [InstructItem(f"i{seed0 + i}", img, "Replace the cat with a red vintage car.", seed=seed0 + i,
                              steps=args.steps, size=args.size) for i, (img, _) in enumerate(inputs[:batch])]
        return len(list(instruct(loaded, items)))
    params = P2PParams(steps=args.steps, size=args.size, null_inner_steps=args.null_inner_steps)
    return run_p2p(loaded, params, [img for img, _ in inputs[:batch]], batch, seed0)


P2P_CAPTIONS = [("a photo of a cat", "a photo of a dog"), ("a photo of a cat", "a photo of a fluffy cat")]


def run_p2p(
    loaded: LoadedPipeline, params: P2PParams, images: list[Image.Image], batch: int, seed0: int = 0
) -> int:
    """Prompt-to-prompt edits of `images`, `batch` per UNet call (null-text inversion + editing; word swap
    and refinement alternate); returns the number of edits made. For benchmarks/gpu.sh too."""
    items = [
        EditItem(f"e{seed0 + i}", img, *P2P_CAPTIONS[i % len(P2P_CAPTIONS)], seed=seed0 + i)
        for i, img in enumerate(images)
    ]
    return len(list(edit(loaded, items, DeviceSettings(batch_size=batch), params=params)))


def bench(args, generator: str, method: str, batch: int, compile_unet: bool, tiny_root: Path) -> dict:
    settings = DeviceSettings(
        device=args.device,
        dtype=args.dtype,
        batch_size=batch,
        attention=args.attention,
        compile_unet=compile_unet,
        compile_mode=args.compile_mode,
        cpu_offload=args.cpu_offload == "on",
    )
    loaded = load(args, generator, method, settings, tiny_root)
    inputs = sample_inputs(args.size, batch)
    sync = torch.cuda.synchronize if loaded.device.type == "cuda" else (lambda: None)
    with peak_memory(loaded.device) as mem:
        start = time.perf_counter()
        for w in range(args.warmup):  # first call: lazy init, cuDNN autotune, torch.compile
            run_once(loaded, args, batch, inputs, seed0=1000 + w)
        sync()
        warm_s = time.perf_counter() - start
        start = time.perf_counter()
        images = sum(run_once(loaded, args, batch, inputs, seed0=r * batch) for r in range(args.repeats))
        sync()
        elapsed = time.perf_counter() - start
    return {
        "generator": generator,
        "method": method,
        "arch": args.arch,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "size": args.size,
        "steps": args.steps,
        "batch": batch,
        "compile": loaded.compiled,
        "attention": args.attention,
        "offload": loaded.settings.cpu_offload and loaded.device.type == "cuda",
        "img/s": images / elapsed,
        "s/img": elapsed / images,
        "warmup_s": warm_s,
        "load_s": loaded.load_s,
        "peak_MiB": mem["peak_bytes"] / 2**20,
        "mem": mem["kind"],
    }


COLUMNS = [
    "generator",
    "method",
    "arch",
    "device",
    "dtype",
    "size",
    "steps",
    "batch",
    "compile",
    "attention",
    "offload",
    "img/s",
    "x_batch1",
    "s/img",
    "warmup_s",
    "load_s",
    "peak_MiB",
    "mem",
]


def print_table(rows: list[dict]) -> None:
    def fmt(v) -> str:
        return (
            f"{v:.3f}"
            if isinstance(v, float) and abs(v) < 100
            else (f"{v:.0f}" if isinstance(v, float) else str(v))
        )

    cells = [[fmt(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    print(" | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--generators", nargs="+", default=["paper", "new"], help="names, or the groups paper / new")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--cpu-offload", choices=["off", "on"], default="off", help="model CPU offload (GPU only)")
    ap.add_argument("--size", type=int, default=None, help="working side in px (tiny: 64; full: 512)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (tiny: 10; full: 50)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", help="auto | fp32 | fp16 | bf16")
    ap.add_argument("--attention", default="sdpa", help="sdpa | eager | xformers | sdpa-flash | ...")
    ap.add_argument("--compile", choices=["off", "on", "both"], default="off", help="torch.compile the UNet")
    ap.add_argument("--compile-mode", default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--null-inner-steps", type=int, default=10)
    ap.add_argument("--prior-steps", type=int, default=25, help="Kandinsky prior steps (diffusers' default)")
    ap.add_argument("--tiny-root", type=Path, default=None, help="tiny model cache (default: a temp dir)")
    args = ap.parse_args(argv)
    args.size = args.size or (64 if args.arch == "tiny" else 512)
    args.steps = args.steps or (10 if args.arch == "tiny" else 50)
    torch.manual_seed(0)
    np.random.seed(0)
    tiny_root = args.tiny_root or Path(tempfile.mkdtemp(prefix="semitruths-bench-tiny-"))
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    rows = []
    generators = [n for g in args.generators for n in GROUPS.get(g, [g])]
    for generator in generators:
        spec = generator_spec(generator)
        for method in args.methods:
            if method not in spec.methods:
                continue
            if args.arch == "full" and spec.family not in FULL_FAMILIES:
                print(
                    f"# skipped {generator}: no full-size random build for family '{spec.family}'",
                    file=sys.stderr,
                )
                continue
            # p2p: batch 1 always runs too, as the baseline of the batched rows (column x_batch1)
            batches = {"inpainting": args.batch, "p2p": sorted({1, *args.batch})}.get(method, [1])
            for batch in batches:  # instruction editors take one image per call
                for compile_unet in compiles if method == "inpainting" else [False]:
                    rows.append(bench(args, generator, method, batch, compile_unet, tiny_root))
                    print(
                        f"# done {generator} {method} batch={batch} compile={compile_unet}", file=sys.stderr
                    )
    for row in rows:  # images/s over the same generator / method / compile at batch 1, when measured
        base = [
            r["img/s"]
            for r in rows
            if r["batch"] == 1 and all(r[k] == row[k] for k in ("generator", "method", "compile"))
        ]
        row["x_batch1"] = row["img/s"] / base[0] if base else float("nan")
    print_table(rows)


if __name__ == "__main__":
    main()
