"""CityScapes as distributed (leftImg8bit_trainvaltest.zip + gtFine_trainvaltest.zip): `root` holds both.

Layout: `leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png` and
`gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png`. An instanceIds pixel is a label id
(< 1000: a class without instances, or a group of a class with them) or label id * 1000 + instance
number; the label ids and names are the official table (`cityscapesscripts.helpers.labels`).

Where an image has no instanceIds file, its `*_gtFine_polygons.json` (imgWidth, imgHeight, objects: label,
polygon, deleted) is drawn into the same map the authors' `json2instanceImg.py` makes: polygons in file
order, later over earlier, a class with instances numbered per class in that order, `<class>group`
labels as their class's id; an unknown label is `known_class_id`.

One mask per value of the instanceIds map, labelled with the class name (a group region: the name +
'group', as the polygon files name it: `cargroup`). No mask for `unlabeled`, `rectification border` and
`out of roi` (not scene content); entities are every other class present. Rejected images: no
instanceIds nor polygons file (`file_exists`), an unreadable polygons file (`json_format`), a label id that the official table does not have (`known_class_id`).
Option `splits` (default train, val: test's gtFine is not public).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ...config import SourceConfig
from ...validation import ItemRejected
from ..base import ImageEntry, LabelSelect, MaskEntry, SourceAdapter, SourceListing
from .common import collect, main_classes, need_folder, read_labels, rel, root_of, split_folders, value_counts

SPLITS = ("train", "val")
IMAGE_SUFFIX = "_leftImg8bit.png"
NOT_CONTENT = frozenset({"unlabeled", "rectification border", "out of roi"})


@cache
def label_table() -> dict[int, tuple[str, bool]]:
    """Official label id -> (name, has instances)."""
    from cityscapesscripts.helpers.labels import labels  # the official table (a list of namedtuples)

    return {label.id: (label.name, label.hasInstances) for label in labels if label.id >= 0}


@cache
def not_drawn() -> frozenset[str]:
    """Labels with a negative id (`license plate`): in the polygon files, never in the label maps."""
    from cityscapesscripts.helpers.labels import labels

    return frozenset(label.name for label in labels if label.id < 0)


def polygon_ids(path: Path) -> np.ndarray:
    """The instanceIds map a `*_gtFine_polygons.json` stands for (the masks' `LabelSelect.reader`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        size = (int(data["imgWidth"]), int(data["imgHeight"]))
        objects = [(str(o["label"]), [tuple(p) for p in o["polygon"]]) for o in data["objects"] if not o.get("deleted")]
    except (ValueError, KeyError, TypeError) as exc:
        raise ItemRejected("json_format", f"not a CityScapes polygons file: {type(exc).__name__}: {exc}",
                           path) from None
    ids = {name: (label_id, has) for label_id, (name, has) in label_table().items()}
    canvas = Image.new("I", size, ids["unlabeled"][0])
    draw, seen = ImageDraw.Draw(canvas), dict.fromkeys(ids, 0)
    for label, polygon in objects:
        group = label not in ids and label.endswith("group")
        name = label.removesuffix("group") if group else label
        if name in not_drawn():
            continue
        if name not in ids:
            raise ItemRejected("known_class_id", f"label '{label}' is not in the official CityScapes label table",
                               path)
        value, has_instances = ids[name]
        if has_instances and not group:
            value, seen[name] = value * 1000 + seen[name], seen[name] + 1
        try:
            draw.polygon(polygon, fill=value)
        except (ValueError, TypeError) as exc:
            raise ItemRejected("json_format", f"polygon of '{label}' cannot be drawn: {exc}", path) from None
    return np.asarray(canvas)


def describe(root: Path, dataset: str, image_id: str, image: Path) -> ImageEntry:
    split_city = image.parent.relative_to(root / "leftImg8bit")
    ids_path = root / "gtFine" / split_city / f"{image_id}_gtFine_instanceIds.png"
    polygons = ids_path.with_name(f"{image_id}_gtFine_polygons.json")
    reader = polygon_ids if not ids_path.is_file() and polygons.is_file() else None
    if reader:
        ids_path = polygons
    values, counts = value_counts(reader(ids_path) if reader else read_labels(ids_path))
    table = label_table()
    unknown = sorted({int(v) // 1000 if v >= 1000 else int(v) for v in values} - table.keys())
    if unknown:
        raise ItemRejected("known_class_id", f"label id(s) {unknown[:5]} are not in the official CityScapes "
                                             "label table", ids_path)
    path, masks, areas = rel(root, ids_path), [], {}
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        name, has_instances = table[value // 1000 if value >= 1000 else value]
        if name == "unlabeled":
            continue
        if value < 1000 and has_instances:
            name += "group"
        areas[name] = areas.get(name, 0) + count
        if name not in NOT_CONTENT:
            masks.append(MaskEntry(f"{image_id}_{value}", name, path, select=LabelSelect((value,), reader=reader)))
    entities = sorted(areas, key=lambda n: (-areas[n], n))
    return ImageEntry(image_id, dataset, "CityScapes", rel(root, image), entities, main_classes(areas), masks)


class CityscapesAdapter(SourceAdapter):
    ROOT = "the CityScapes folder holding leftImg8bit/ and gtFine/"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        root = root_of(source)
        base = need_folder(source, root / "leftImg8bit", "CityScapes' leftImg8bit folder")
        need_folder(source, root / "gtFine", "CityScapes' gtFine folder")
        folders = split_folders(source, lambda split: base / split, SPLITS)
        images = [p for folder in folders for p in sorted(folder.glob(f"*/*{IMAGE_SUFFIX}"))]
        items = [(p.name.removesuffix(IMAGE_SUFFIX), p) for p in images]
        return collect(source, root, items, lambda i, p: describe(root, source.name, i, p))
