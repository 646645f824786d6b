"""The embedded sample: four photos bundled in scikit-image's wheel, with hand-authored masks.

`embedded_sample.yaml` (package data) names each image (a `skimage.data` function), a square crop and
the masks as polygons in the output image. `render_embedded_sample` turns it into the standardized
Semi-Truths layout (`metadata.csv` + `images/<dataset>/` + `masks/<dataset>/`) so the pipeline can run
with no download and read the sample like any other source.
"""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageDraw

from ..hub import build_once

SPEC_PACKAGE = "semitruths_dagster.sources"
SPEC_FILE = "embedded_sample.yaml"
VERSION_MARKER = ".embedded_sample_version"
METADATA_FILE = "metadata.csv"
METADATA_COLUMNS = (
    "image_id", "image_path", "dataset", "entities", "class", "mask_id", "mask_path", "mask_name", "ratio",
)

# Only images whose files ship inside the scikit-image wheel: other `skimage.data` functions download
# (pooch) or are not RGB photos, and the sample must work offline.
BUNDLED_IMAGES = frozenset({"astronaut", "chelsea", "coffee", "rocket"})

# ids become file names: keep them to one safe path component.
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_DATASET_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def load_embedded_spec() -> dict[str, Any]:
    """Read and validate `embedded_sample.yaml` from the installed package (works from a wheel too)."""
    text = resources.files(SPEC_PACKAGE).joinpath(SPEC_FILE).read_text(encoding="utf-8")
    return validate_embedded_spec(yaml.safe_load(text))


def validate_embedded_spec(spec: Any) -> dict[str, Any]:
    """Check the spec's shape and geometry; raise ValueError naming the image/mask and the rule broken."""

    def fail(where: str, rule: str) -> None:
        raise ValueError(f"embedded sample spec: {where}: {rule}")

    if not isinstance(spec, dict):
        fail("top level", "must be a mapping")
    version, size = spec.get("version"), spec.get("size")
    if not _is_int(version) or version < 1:
        fail("version", f"must be an integer >= 1, got {version!r}")
    if not _is_int(size) or size < 1:
        fail("size", f"must be an integer >= 1, got {size!r}")
    images = spec.get("images")
    if not isinstance(images, list) or not images:
        fail("images", "must be a non-empty list")

    image_ids: set[str] = set()
    mask_ids: set[str] = set()  # masks of all images share one folder, so ids are unique sample-wide
    for i, image in enumerate(images):
        if not isinstance(image, dict):
            fail(f"images[{i}]", "must be a mapping")
        image_id = image.get("image_id")
        if not isinstance(image_id, str) or not _ID_RE.match(image_id):
            fail(f"images[{i}]", f"image_id must match {_ID_RE.pattern}, got {image_id!r}")
        where = f"image '{image_id}'"
        if image_id in image_ids:
            fail(where, "duplicate image_id")
        image_ids.add(image_id)
        if image.get("skimage") not in BUNDLED_IMAGES:
            fail(where, f"skimage must name a bundled image ({', '.join(sorted(BUNDLED_IMAGES))}), "
                        f"got {image.get('skimage')!r}")
        crop = image.get("crop")
        if (not isinstance(crop, list) or len(crop) != 3 or not all(_is_int(c) for c in crop)
                or crop[0] < 0 or crop[1] < 0 or crop[2] < 1):
            fail(where, f"crop must be [left, top, side] with left, top >= 0 and side >= 1, got {crop!r}")
        for key in ("class", "entities"):
            values = image.get(key)
            if not isinstance(values, list) or not values or not all(_is_text(v) for v in values):
                fail(where, f"{key} must be a non-empty list of non-empty strings, got {values!r}")
        missing = [c for c in image["class"] if c not in image["entities"]]
        if missing:
            fail(where, f"class {missing} must also be listed in entities")
        masks = image.get("masks")
        if not isinstance(masks, list) or not masks:
            fail(where, "masks must be a non-empty list")
        for j, mask in enumerate(masks):
            if not isinstance(mask, dict):
                fail(f"{where} masks[{j}]", "must be a mapping")
            mask_id = mask.get("mask_id")
            if not isinstance(mask_id, str) or not _ID_RE.match(mask_id):
                fail(f"{where} masks[{j}]", f"mask_id must match {_ID_RE.pattern}, got {mask_id!r}")
            mwhere = f"{where} mask '{mask_id}'"
            if mask_id in mask_ids:
                fail(mwhere, "duplicate mask_id")
            mask_ids.add(mask_id)
            if not _is_text(mask.get("label")):
                fail(mwhere, f"label must be a non-empty string, got {mask.get('label')!r}")
            polygons = mask.get("polygons")
            if not isinstance(polygons, list) or not polygons:
                fail(mwhere, "polygons must be a non-empty list")
            for k, polygon in enumerate(polygons):
                pwhere = f"{mwhere} polygon {k}"
                if not isinstance(polygon, list) or len(polygon) < 3:
                    count = len(polygon) if isinstance(polygon, list) else type(polygon).__name__
                    fail(pwhere, f"needs at least 3 vertices, got {count}")
                for vertex in polygon:
                    if not (isinstance(vertex, list) and len(vertex) == 2 and all(_is_int(c) for c in vertex)):
                        fail(pwhere, f"vertex must be [x, y] integers, got {vertex!r}")
                    if not all(0 <= c <= size for c in vertex):
                        fail(pwhere, f"vertex {vertex} outside 0..{size}")
    return spec


def rasterize_polygons(polygons: list[list[list[int]]], size: int) -> Image.Image:
    """One binary 'L' mask (0/255): every polygon filled, all OR-ed together."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        draw.polygon([(x, y) for x, y in polygon], fill=255)
    return mask


def render_embedded_sample(dest: Path, dataset: str = "sample") -> Path:
    """Write the sample in the standardized layout under `dest` and return `dest`.

    Deterministic (same bytes on every run) and atomic: the files are rendered into a temporary sibling
    folder that is renamed into place, so a reader never sees half a sample. A `dest` already holding
    this spec version for this `dataset` is returned at once; one holding another version is replaced.
    A non-empty `dest` that is not a rendered sample is never overwritten (FileExistsError).
    """
    dest = Path(dest)
    if not isinstance(dataset, str) or not _DATASET_RE.match(dataset) or dataset in {".", ".."}:
        raise ValueError(f"dataset must match {_DATASET_RE.pattern} (it becomes a folder name), got {dataset!r}")
    spec = load_embedded_spec()
    stamp = _stamp(spec, dataset)
    return build_once(dest, lambda folder: _render_into(folder, spec, dataset), stamp=stamp, marker=VERSION_MARKER)


def _render_into(root: Path, spec: dict[str, Any], dataset: str) -> None:
    size = spec["size"]
    (root / "images" / dataset).mkdir(parents=True)
    (root / "masks" / dataset).mkdir(parents=True)
    rows: list[list[str]] = []
    for image in spec["images"]:
        image_id = image["image_id"]
        image_path = f"images/{dataset}/{image_id}.png"
        _load_image(image, size).save(root / image_path, format="PNG")
        for mask in image["masks"]:
            mask_id = mask["mask_id"]
            mask_img = rasterize_polygons(mask["polygons"], size)
            area = int(np.count_nonzero(np.asarray(mask_img)))
            if area == 0:
                raise ValueError(f"embedded sample spec: image '{image_id}' mask '{mask_id}': polygons fill no pixel")
            mask_path = f"masks/{dataset}/{mask_id}.png"
            mask_img.save(root / mask_path, format="PNG")
            rows.append([
                image_id, image_path, dataset, str(list(image["entities"])), str(list(image["class"])),
                mask_id, mask_path, mask["label"],
                repr(area / (size * size)),  # exact for a power-of-two size; repr round-trips otherwise
            ])
    with open(root / METADATA_FILE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(METADATA_COLUMNS)
        writer.writerows(rows)


def _load_image(image: dict[str, Any], size: int) -> Image.Image:
    """The source photo from skimage.data, cropped to its square, resized to size x size (LANCZOS)."""
    from skimage import data as skdata  # imported here: only rendering needs it

    array = np.asarray(getattr(skdata, image["skimage"])())
    if array.dtype != np.uint8:
        raise ValueError(f"embedded sample: image '{image['image_id']}': skimage.data.{image['skimage']}() "
                         f"is {array.dtype}, expected uint8")
    source = Image.fromarray(array).convert("RGB")
    left, top, side = image["crop"]
    if left + side > source.width or top + side > source.height:
        raise ValueError(f"embedded sample spec: image '{image['image_id']}': crop {image['crop']} exceeds the "
                         f"source's {source.width}x{source.height} pixels")
    square = source.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def _stamp(spec: dict[str, Any], dataset: str) -> str:
    # The dataset is part of the stamp because it is written into paths and the csv.
    return f"version={spec['version']}\ndataset={dataset}\n"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML `true` is not a coordinate


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
