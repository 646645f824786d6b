"""LIP (Look Into Person, single-person human parsing) as distributed: `root` holds the unpacked
TrainVal_images.zip and TrainVal_parsing_annotations.zip.

Layout: `TrainVal_images/<split>_images/<id>.jpg`, `TrainVal_parsing_annotations/<split>_segmentations/<id>.png`
(8-bit label map, one value per pixel: the 20 classes below, 0 the background), the ids of a split in
`TrainVal_images/<split>_id.txt` (the images folder is listed when the file is absent). A zip unpacked
into a folder of its own name (`TrainVal_images/TrainVal_images/...`) is found too.

One mask per class present except Background (LIP labels parts, not instances), labelled with the
class name as the released Semi-Truths data writes it (`Upper-clothes`); the image's class is `person`.
Rejected images: missing photo or label map (`file_exists`), a value above 19 (`known_class_id`).
Option `splits` (default train, val).
"""

from __future__ import annotations

from pathlib import Path

from ...config import SourceConfig
from ...validation import ItemRejected
from ..base import ImageEntry, LabelSelect, MaskEntry, SourceAdapter, SourceListing
from .common import collect, need_file, need_folder, read_labels, rel, root_of, split_folders, value_counts

SPLITS = ("train", "val")
CLASSES = ("Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Socks",
           "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg",
           "Left-shoe", "Right-shoe")
IMAGES, LABELS = "TrainVal_images", "TrainVal_parsing_annotations"


def describe(root: Path, images: Path, labels: Path, dataset: str, image_id: str, split: str) -> ImageEntry:
    image = need_file(images / f"{split}_images" / f"{image_id}.jpg")
    label_path = labels / f"{split}_segmentations" / f"{image_id}.png"
    values, counts = value_counts(read_labels(label_path))
    unknown = [int(v) for v in values if v >= len(CLASSES)]
    if unknown:
        raise ItemRejected("known_class_id", f"label value(s) {unknown[:5]} outside LIP's 0..{len(CLASSES) - 1}",
                           label_path)
    path = rel(root, label_path)
    present = sorted(zip(values.tolist(), counts.tolist(), strict=True), key=lambda vc: (-vc[1], vc[0]))
    masks = [MaskEntry(f"{image_id}_{CLASSES[v].replace('-', '')}", CLASSES[v], path, select=LabelSelect((v,)))
             for v, _ in sorted(present) if v]
    return ImageEntry(image_id, dataset, "HumanParsing", rel(root, image), [CLASSES[v] for v, _ in present],
                      ["person"], masks)


def split_ids(images: Path, split: str) -> list[str]:
    listed = images / f"{split}_id.txt"
    if listed.is_file():
        return [line.strip() for line in listed.read_text().splitlines() if line.strip()]
    return sorted(p.stem for p in (images / f"{split}_images").glob("*.jpg"))


def unpacked(source: SourceConfig, folder: Path, what: str) -> Path:
    """`folder`, or `folder/<its name>` where the zip was unpacked into a folder of its own name."""
    need_folder(source, folder, what)
    return folder / folder.name if (folder / folder.name).is_dir() else folder


class LipAdapter(SourceAdapter):
    ROOT = "the LIP folder holding TrainVal_images/ and TrainVal_parsing_annotations/"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        root = root_of(source)
        images = unpacked(source, root / IMAGES, "LIP's photos")
        labels = unpacked(source, root / LABELS, "LIP's label maps")
        folders = split_folders(source, lambda split: images / f"{split}_images", SPLITS)
        splits = [folder.name.removesuffix("_images") for folder in folders]
        items = [(i, split) for split in splits for i in split_ids(images, split)]
        return collect(source, root, items, lambda i, split: describe(root, images, labels, source.name, i, split))
