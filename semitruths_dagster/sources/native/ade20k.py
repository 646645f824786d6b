"""ADE20K as distributed (ADE20K_2021_17_01, CSAILVision/ADE20K): `root` is the release's folder.

Layout: `images/ADE/<training|validation>/<scene category>/<scene>/ADE_train_00000001.jpg`, beside it
`ADE_train_00000001_seg.png` (whole objects) and `ADE_train_00000001.json` (`annotation.object`: id, name,
name_ndx, parts.part_level, ...). In `_seg.png` a pixel's class is R/10*256+G (integer division: the
toolkit's `loadAde20K`), 0 unlabeled, and the value of B tells instances apart. The class ids are the
objects' `name_ndx`; their names come from the per-image JSON, so `index_ade20k.pkl` (a pickle, which
could run code) is never opened.

One mask per instance (B value > 0): its label is the class's name up to the first comma (`person,
individual, ...` -> `person`). Rejected images: a missing `_seg.png` or JSON (`file_exists`), a class id
that no whole object of the JSON names (`known_class_id`), an unreadable JSON (`json_format`).
Option `splits` (default both): which of `training` / `validation` to read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...config import SourceConfig
from ...validation import ItemRejected, open_decoded
from ..base import ImageEntry, LabelSelect, MaskEntry, SourceAdapter, SourceListing
from .common import collect, main_classes, need_file, need_folder, rel, root_of, split_folders, value_counts

SPLITS = ("training", "validation")


def object_names(path: Path) -> dict[int, str]:
    """name_ndx -> short name of the whole objects (part_level 0) of one image's JSON."""
    raw = need_file(path).read_bytes()
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # some annotation files are not UTF-8
        objects = json.loads(text)["annotation"]["object"]
        return {int(o["name_ndx"]): str(o["name"]).split(",")[0].strip() for o in objects
                if int(o.get("parts", {}).get("part_level", 0)) == 0}
    except (ValueError, KeyError, TypeError) as exc:
        raise ItemRejected("json_format", f"not an ADE20K annotation JSON: {type(exc).__name__}: {exc}",
                           path) from None


def describe(root: Path, dataset: str, image_id: str, jpg: Path) -> ImageEntry:
    seg = jpg.with_name(f"{jpg.stem}_seg.png")
    names = object_names(jpg.with_suffix(".json"))
    image = open_decoded(need_file(seg))
    if image.mode != "RGB":
        raise ItemRejected("label_map_mode", f"_seg.png is {image.mode}, expected RGB", seg)
    rgb = np.asarray(image)
    # class * 256 + instance = (R // 10) << 16 | G << 8 | B, < 2**21: one bincount over the pixels
    packed = (rgb[:, :, 0] // 10).astype(np.int32) << 16
    packed |= rgb[:, :, 1].astype(np.int32) << 8
    packed |= rgb[:, :, 2]
    keys, counts = value_counts(packed)
    keep = keys >= 256  # class 0: unlabeled
    keys, counts = keys[keep], counts[keep]
    unknown = sorted({int(k) // 256 for k in keys} - names.keys())
    if unknown:
        raise ItemRejected("known_class_id", f"class id(s) {unknown[:5]} are not among the whole objects of "
                                             f"{jpg.with_suffix('.json').name}", seg)
    instance: dict[int, tuple[int, int]] = {}  # B value -> (class, pixels), the class most of it has
    areas: dict[str, int] = {}
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        class_id, value = divmod(key, 256)
        areas[names[class_id]] = areas.get(names[class_id], 0) + count
        if value and count > instance.get(value, (0, 0))[1]:
            instance[value] = (class_id, count)
    path = rel(root, seg)
    masks = [MaskEntry(f"{image_id}_instance_{value:03d}", names[class_id], path,
                       select=LabelSelect((value,), channel=2))
             for value, (class_id, _) in sorted(instance.items())]
    entities = sorted(areas, key=lambda n: (-areas[n], n))
    return ImageEntry(image_id, dataset, "ADE20K", rel(root, jpg), entities, main_classes(areas), masks)


class Ade20kAdapter(SourceAdapter):
    ROOT = "the ADE20K release folder (holding images/ADE/)"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        root = root_of(source)
        base = need_folder(source, root / "images" / "ADE", "ADE20K's images/ADE folder")
        folders = split_folders(source, lambda split: base / split, SPLITS)
        jpgs = [p for folder in folders for p in sorted(folder.rglob("*.jpg"))]
        return collect(source, root, [(p.stem, p) for p in jpgs], lambda i, p: describe(root, source.name, i, p))
