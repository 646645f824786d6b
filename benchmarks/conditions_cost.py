"""Cost of post-processing conditions and controls per 1,000 images (CPU; the VAE is the tiny one
unless a GPU run loads the real ones). Printed by `benchmarks/evaluation.py` (after its own table), or alone:

    .venv/bin/python benchmarks/conditions_cost.py [--images 20] [--size 512] [--n-boot 1000]

Making them: each condition is timed on `--images` synthetic photos of `--size` pixels and scaled to
1,000; the baseline in the same run is `clean` (decode + copy, what every scored image costs anyway).
Controls: pasted-back and format-matched (pure image ops), VAE round trip through the tiny SD VAE on
this machine. Judging them: the robustness and controls tables of one detector over 1,000 source images
(a real image and an edit each, under every condition above, with their three controls), without
intervals (the baseline) and with `--n-boot` paired cluster-bootstrap resamples.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semitruths_dagster.conditions import parse_condition  # noqa: E402
from semitruths_dagster.controls import format_matched, paste_back, vae_roundtrip  # noqa: E402

CONDITIONS = ("clean", "jpeg_q75", "webp_q75", "resize_0.5", "blur_sigma_1", "noise_std_0.03", "crop_0.8",
              "jpeg75+resize0.5")


def photos(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8))
            .resize((size, size), Image.Resampling.BICUBIC) for _ in range(n)]


def _per_1000(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1000


def rows(n: int = 20, size: int = 512, vae_images: int = 3) -> list[tuple[str, float]]:
    images = photos(n, size)
    out = []
    for name in CONDITIONS:
        condition = parse_condition(name)
        out.append((f"condition {name}", _per_1000(lambda im, c=condition: c.apply(im, 0, "sha"), images)))
    mask = Image.new("L", (size, size))
    mask.paste(255, (size // 4, size // 4, size // 2, size // 2))
    soft = mask.filter(ImageFilter.GaussianBlur(16))
    edits = photos(n, size, seed=1)
    out.append(("control pasted_back", _per_1000(lambda i: paste_back(images[i], edits[i], soft), range(n))))
    jpeg = []
    for im in images:
        path = Path("/tmp") / f"_cond_cost_{len(jpeg)}.jpg"
        im.save(path, quality=85)
        jpeg.append(Image.open(path))
    out.append(("control format_matched", _per_1000(lambda i: format_matched(edits[i], jpeg[i]), range(n))))
    import torch

    from semitruths_dagster.random_weights.sd import tiny_vae

    torch.manual_seed(0)
    vae = tiny_vae().eval()
    out.append(("control vae_roundtrip (tiny VAE)", _per_1000(lambda im: vae_roundtrip(vae, im), images[:vae_images])))
    return out


def predictions(images: int = 1000, seed: int = 0):
    """One detector's prediction rows for `images` source images: a real image and an edit each under
    every condition, and each image's three controls (clean), with seeded scores."""
    import polars as pl

    rng = np.random.default_rng(seed)
    ids = np.repeat([f"img{i}" for i in range(images)], 2)
    label = np.tile(np.array([0, 1], dtype=np.int8), images)
    frames = [pl.DataFrame({"dataset": "d", "image_id": ids, "label": label, "condition": name,
                            "control": pl.Series([None] * ids.size, dtype=pl.Utf8),
                            "score": 1 / (1 + np.exp(-rng.normal(label * (1.5 - 0.1 * k), 1.0)))})
              for k, name in enumerate(CONDITIONS)]
    for control, y in (("vae_roundtrip", 0), ("pasted_back", 1), ("format_matched", 1)):
        frames.append(pl.DataFrame({"dataset": "d", "image_id": ids[::2], "label": np.full(images, y, np.int8),
                                    "condition": "clean", "control": control,
                                    "score": 1 / (1 + np.exp(-rng.normal(0.5, 1.0, images)))}))
    return pl.concat(frames)


def evaluation_rows(n_boot: int = 1000, images: int = 1000) -> list[tuple[str, float]]:
    """Seconds to judge 1,000 source images under every condition and control: tables alone, then with intervals."""
    from semitruths_dagster.evaluation.robustness import controls_table, robustness_table

    frame = predictions(images)
    out = []
    for boot in (0, n_boot):
        start = time.perf_counter()
        robustness_table(frame, 0.5, 0.05, boot, 0)
        controls_table(frame, 0.05, boot, 0)
        what = "no intervals" if boot == 0 else f"+ intervals, n_boot {boot}"
        out.append((f"judge: tables, {what}", (time.perf_counter() - start) / images * 1000))
    return out


def print_table(table: list[tuple[str, float]], size: int) -> None:
    print(f"\n{'conditions and controls, ' + str(size) + ' px':<44} {'s / 1,000 images':>18}")
    base = dict(table).get("condition clean", float("nan"))
    judged = dict(table).get("judge: tables, no intervals", float("nan"))
    for name, seconds in table:
        ratio = f"(x{seconds / judged:6.1f} no intervals)" if name.startswith("judge") else f"(x{seconds / base:6.1f} clean)"
        print(f"{name:<44} {seconds:14.2f} s   {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    print_table(rows(args.images, args.size) + evaluation_rows(args.n_boot), args.size)


if __name__ == "__main__":
    main()
