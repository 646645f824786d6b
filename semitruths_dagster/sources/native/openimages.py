"""Open Images V7 instance segmentation as distributed (storage.googleapis.com/openimages/v5 + v7 files).

`root` holds `<split>-annotations-object-segmentation.csv` (MaskPath, ImageID, LabelName, BoxID, BoxXMin,
BoxXMax, BoxYMin, BoxYMax, PredictedIoU, Clicks: one row per mask), the class names
`oidv7-class-descriptions.csv` (LabelName, DisplayName; the older headerless
`class-descriptions-boxable.csv` is read too), the photos `<images>/<ImageID>.jpg` and the mask PNGs
`<masks>/<MaskPath>` (the `<split>-masks-<0-f>.zip` files unpacked into one folder). Options: `splits`
(default validation), `images` (default `{split}`), `masks` (default `{split}-masks`).

One mask per csv row, labelled with the class's display name in lower case (`/m/01fb_0` -> `bagel`);
entities and classes are the image's labels. A mask PNG is a binary mask that may be stored at another
resolution than its photo: resized to it (nearest) when the aspect ratio matches (`MaskEntry.scaled`).
Rejected rows (the image keeps its other masks): a MID without a class name (`known_class_id`), a
repeated MaskPath (`duplicate_mask_id`), a row with the wrong number of fields (`csv_row_shape`), an
empty required cell (`required_field`); a missing mask file is rejected by `masks` (`file_exists`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...config import SourceConfig
from ..base import ImageEntry, MaskEntry, Rejection, SourceAdapter, SourceListing
from ..standardized import SourceError, read_rows
from .common import STAGE, rel, root_of, unique

SPLITS = ("validation",)
REQUIRED = ("MaskPath", "ImageID", "LabelName", "BoxID")
CLASS_FILES = ("oidv7-class-descriptions.csv", "class-descriptions-boxable.csv")


def class_names(root: Path, source: SourceConfig) -> dict[str, str]:
    """MID -> display name, from the first class file found (with or without its header row)."""
    for name in CLASS_FILES:
        path = root / name
        if path.is_file():
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return {row[0].strip(): row[1].strip() for row in csv.reader(fh)
                        if len(row) >= 2 and row[0] != "LabelName"}
    raise SourceError(f"source '{source.name}': no class names in {root} (expected one of {', '.join(CLASS_FILES)})")


class OpenImagesAdapter(SourceAdapter):
    ROOT = "the folder holding the Open Images segmentation csv, class names, photos and mask PNGs"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        root = root_of(source)
        names = class_names(root, source)
        images: dict[str, ImageEntry] = {}
        rejections: list[Rejection] = []
        seen: set[str] = set()
        for split in source.options.get("splits", SPLITS):
            csv_path = root / f"{split}-annotations-object-segmentation.csv"
            if not csv_path.is_file():
                raise SourceError(f"source '{source.name}': {csv_path} not found (Open Images segmentation csv)")
            image_dir = str(source.options.get("images", "{split}")).format(split=split)
            mask_dir = str(source.options.get("masks", "{split}-masks")).format(split=split)

            def reject(line: int, item: str | None, rule: str, message: str, csv_path: Path = csv_path) -> None:
                rejections.append(Rejection(STAGE, source.name, item, str(csv_path), rule, message, line))

            for line, row in read_rows(csv_path, REQUIRED, lambda ln, msg: reject(ln, None, "csv_row_shape", msg)):
                mask_id = row["MaskPath"].removesuffix(".png")
                empty = [c for c in REQUIRED if not row[c]]
                if empty:
                    reject(line, mask_id or row["ImageID"] or None, "required_field", f"empty {empty}")
                elif row["LabelName"] not in names:
                    reject(line, mask_id, "known_class_id", f"LabelName {row['LabelName']} has no class name")
                elif mask_id in seen:
                    reject(line, mask_id, "duplicate_mask_id", f"MaskPath {row['MaskPath']} listed twice")
                else:
                    seen.add(mask_id)
                    label = names[row["LabelName"]].lower()
                    image = images.get(row["ImageID"])
                    if image is None:
                        image = images[row["ImageID"]] = ImageEntry(
                            row["ImageID"], source.name, "OpenImages",
                            rel(root, root / image_dir / f"{row['ImageID']}.jpg"), [], [], line=line)
                    image.masks.append(MaskEntry(mask_id, label, rel(root, root / mask_dir / row["MaskPath"]),
                                                 line=line, scaled=True))
        for image in images.values():
            image.entities = unique(m.label for m in image.masks)
            image.classes = list(image.entities)
        return SourceListing(root=root, images=list(images.values()), rejections=rejections)
