"""Benchmark of the raw-format source adapters, extrapolated to the released scale (27,600 images, 223,400 masks).

    .venv/bin/python benchmarks/sources.py [--images 16] [--masks 8] [--workers 4] [--only ade20k,lip] [--small]

For each benchmark, writes `--images` images in its own format at its typical resolution with `--masks`
labelled regions each (tests/native_inputs.py: the test fixtures' writers), plus the standardized twin of
the same images (binary mask PNGs + metadata.csv). Times, for the raw adapter and, as the baseline, the
standardized adapter on the same images: the listing (`list_source`: files found, label maps decoded,
entities counted) and the mask reads of the `masks` stage (`load_listed_mask` for every listed mask, in
`--workers` threads like the stage: a label map's pixels selected, or a binary PNG decoded). Prints per
format the measured rates and the time and rows/s (mask rows) extrapolated to 27,600 images and 223,400
masks (per-image listing time x 27,600 + per-mask read time x 223,400). Not timed: copying images into the
store and writing the binarized masks, which are the same work for every adapter.

`adapter: folder` has no files to parse: its cost is the segmenter (`--segmenter N`, default 4 images of
`--segmenter-size` px; 0 skips): images/s of the tiny random-weight segmenter (Mask2Former) on the CPU, and
with the SAM refiner, extrapolated to 27,600 images. The full-size architectures (Mask2Former Swin-L, SAM
ViT-H, random weights) are timed on a GPU by `bash benchmarks/gpu.sh` (`segmenter_rows` in gpu.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from semitruths_dagster.config import SourceConfig  # noqa: E402
from semitruths_dagster.sources import list_source  # noqa: E402
from semitruths_dagster.sources.labelmaps import load_listed_mask  # noqa: E402
from tests import native_inputs  # noqa: E402

RELEASED_IMAGES, RELEASED_MASKS = 27_600, 223_400
# Typical image size of each benchmark (width, height); CelebAMask-HQ: 1024 px photos, 512 px part masks.
SIZES = {"ade20k": {"size": (683, 512)}, "cityscapes": {"size": (2048, 1024)}, "celebamask_hq": {"size": 1024},
         "lip": {"size": (320, 480)}, "openimages": {"size": (1024, 768)}, "sunrgbd": {"size": (730, 530)}}


def measure(source: SourceConfig, workers: int) -> tuple[int, int, float, float]:
    """(images, masks, listing seconds, mask-read seconds) of one source."""
    start = time.perf_counter()
    listing = list_source(source, Path(tempfile.gettempdir()))
    listed = time.perf_counter() - start
    jobs = [(image, mask) for image in listing.images for mask in image.masks]
    sizes = {image.image_id: Image.open(listing.root / image.path).size for image in listing.images}

    def read(job) -> int:
        image, mask = job
        return int((load_listed_mask(listing.root / mask.path, sizes[image.image_id], mask) > 0).any())

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = sum(pool.map(read, jobs))
    read_s = time.perf_counter() - start
    assert found == len(jobs), f"{source.adapter}: {len(jobs) - found} empty masks"
    return len(listing.images), len(jobs), listed, read_s


def row(name: str, images: int, masks: int, listed: float, read_s: float) -> str:
    at_scale = listed / images * RELEASED_IMAGES + read_s / masks * RELEASED_MASKS
    return (f"| {name} | {images} | {masks} | {images / listed:,.1f} | {masks / read_s:,.1f} | "
            f"{at_scale / 60:,.1f} | {RELEASED_MASKS / at_scale:,.1f} |")


def time_segmenter(segmenter, refiner, images: list, repeats: int = 1, sync=lambda: None) -> float:
    """Images/s of `segments_stage`'s model work (panoptic segments, SAM refinement when `refiner` is
    given), after one warm-up image; the filters are left out (microseconds)."""
    from semitruths_dagster.sections import SegmentParams
    from semitruths_dagster.sources.segmenter import refine, segment

    params = SegmentParams(min_score=0.0, min_mask_share=0.0)  # random weights: keep every segment

    def one(image) -> None:
        found = segment(segmenter, image, params)
        if refiner is not None:
            refine(refiner, image, found)

    one(images[0])
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        for image in images:
            one(image)
    sync()
    return len(images) * repeats / (time.perf_counter() - start)


def segmenter_table(count: int, size: int, rounds: int = 3) -> None:
    import numpy as np

    from semitruths_dagster.models import ModelRegistry

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (size, size * 4 // 3, 3), dtype=np.uint8)) for _ in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        registry = ModelRegistry("tiny", tiny_root=tmp, device="cpu", dtype="float32")
        segmenter, refiner = registry.load("segmenter"), registry.load("refiner")
        print(f"\n`adapter: folder`: the tiny random-weight segmenter on the CPU, {count} images of "
              f"{size * 4 // 3}x{size} px (not the real model's speed: see benchmarks/gpu.sh)\n")
        print("| segmenter | images/s | hours for 27,600 images |")
        print("|---|---|---|")
        configs = (("Mask2Former (tiny) (baseline)", None), ("Mask2Former + SAM refine (tiny)", refiner))
        best = {name: 0.0 for name, _ in configs}
        for _ in range(rounds):  # alternated, best of `rounds`: a shared machine's load hits both alike
            for name, ref in configs:
                best[name] = max(best[name], time_segmenter(segmenter, ref, images))
        for name, rate in best.items():
            print(f"| {name} | {rate:,.2f} | {RELEASED_IMAGES / rate / 3600:,.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--masks", type=int, default=8, help="labelled regions per image (released: ~8.1)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--only", default=",".join(native_inputs.WRITERS))
    parser.add_argument("--small", action="store_true", help="the test fixtures' tiny images: checks the script")
    parser.add_argument("--segmenter", type=int, default=4, help="images for the segmenter rows (0: none)")
    parser.add_argument("--segmenter-size", type=int, default=384, help="their height in px (width 4/3 of it)")
    args = parser.parse_args()
    print(f"{args.images} images per benchmark, {args.masks} regions each, {args.workers} threads; "
          f"extrapolated to {RELEASED_IMAGES:,} images and {RELEASED_MASKS:,} masks\n")
    print("| adapter | images | masks | listing images/s | mask reads/s | minutes at released scale | rows/s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for adapter in args.only.split(","):
            root = Path(tmp) / adapter
            native_inputs.write(adapter, root, args.images, k=args.masks, broken=False,
                                **({} if args.small else SIZES[adapter]))
            raw = measure(SourceConfig(name="raw", adapter=adapter, root=root), args.workers)
            twin = measure(SourceConfig(name="twin", adapter="standardized", root=root), args.workers)
            print(row(adapter, *raw))
            print(row(f"{adapter}: standardized twin (baseline)", *twin))
    if args.segmenter:
        segmenter_table(args.segmenter, args.segmenter_size)


if __name__ == "__main__":
    main()
