"""The standardized Semi-Truths layout: `metadata.csv` (one row per mask) + `images/` + `masks/`.

Columns: image_id, image_path, dataset, entities, class, mask_id, mask_path, mask_name, ratio; paths
relative to the csv. The released data has missing values and numbers stored as text, and lists
stored as Python-list strings (`"['sky', 'tree']"`) or a bare word (`person`).
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..config import SourceConfig
from .base import ImageEntry, MaskEntry, Rejection, SourceListing

STAGE = "source_images"
METADATA_FILE = "metadata.csv"
REQUIRED_COLUMNS = ("image_id", "image_path", "mask_id", "mask_path", "mask_name")


class SourceError(ValueError):
    """The source as a whole cannot be read (no csv, missing columns)."""


def parse_list(text: str | None) -> list[str]:
    """`"['a', 'b']"` -> ['a', 'b']; `"person"` -> ['person']; blank -> []. Never evaluates code."""
    text = (text or "").strip()
    if not text:
        return []
    if not text.startswith("["):
        return [text]
    value = ast.literal_eval(text)  # literals only: safe on untrusted metadata
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {type(value).__name__}")
    return [v.strip() for v in value]


def parse_ratio(text: str | None) -> float | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if value == value else None  # NaN -> None


def read_rows(csv_path: Path, required: Sequence[str],
              on_bad_shape: Callable[[int, str], None]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) for every non-blank row of a metadata csv, cells stripped; a row with the wrong
    number of fields goes to `on_bad_shape` instead. Raises SourceError when a required column is missing."""
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise SourceError(f"{csv_path}: missing column(s) {missing}; header is {header}")
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                on_bad_shape(reader.line_num, f"{len(fields)} fields, header has {len(header)}")
                continue
            yield reader.line_num, {k: v.strip() for k, v in zip(header, fields, strict=True)}


def list_standardized(source: SourceConfig, root: Path | None = None) -> SourceListing:
    """Read `metadata.csv` under the source root; malformed rows become rejections, not errors."""
    root = Path(root or source.root or "")
    csv_path = root / METADATA_FILE
    if not csv_path.is_file():
        raise SourceError(f"source '{source.name}': {csv_path} not found (standardized layout needs it)")
    images: dict[str, ImageEntry] = {}
    rejections: list[Rejection] = []
    seen_masks: set[str] = set()

    def reject(line: int, item: str | None, rule: str, message: str, file: str | None = None) -> None:
        rejections.append(Rejection(STAGE, source.name, item, file or str(csv_path), rule, message, line))

    def bad_shape(line: int, message: str) -> None:
        reject(line, None, "csv_row_shape", message)

    for line, row in read_rows(csv_path, REQUIRED_COLUMNS, bad_shape):
        benchmark = row.get("dataset") or source.name
        if source.dataset and benchmark != source.dataset:
            continue
        empty = [c for c in REQUIRED_COLUMNS if not row[c]]
        if empty:
            reject(line, row["mask_id"] or row["image_id"] or None, "required_field", f"empty {empty}")
            continue
        try:
            entities = parse_list(row.get("entities"))
            classes = parse_list(row.get("class"))
        except (ValueError, SyntaxError) as exc:
            reject(line, row["mask_id"], "list_format", f"entities/class not a list of strings: {exc}")
            continue
        image = images.get(row["image_id"])
        if image is None:
            image = images[row["image_id"]] = ImageEntry(
                row["image_id"], source.name, benchmark, row["image_path"], entities, classes, line=line
            )
        elif image.path != row["image_path"]:
            reject(line, row["mask_id"], "image_id_conflict",
                   f"image_id {row['image_id']} names {row['image_path']}, earlier {image.path}")
            continue
        if row["mask_id"] in seen_masks:
            reject(line, row["mask_id"], "duplicate_mask_id", f"mask_id {row['mask_id']} listed twice")
            continue
        seen_masks.add(row["mask_id"])
        image.masks.append(
            MaskEntry(row["mask_id"], row["mask_name"], row["mask_path"], parse_ratio(row.get("ratio")), line)
        )
    return SourceListing(root=root.resolve(), images=list(images.values()), rejections=rejections)
