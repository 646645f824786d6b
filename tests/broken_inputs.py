"""A source in the standardized layout where every row but two breaks exactly one rule."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

HEADER = ["image_id", "image_path", "dataset", "entities", "class", "mask_id", "mask_path", "mask_name", "ratio"]


def _rect_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    return Image.fromarray(mask)


def make_broken_source(root: Path) -> dict[str, str]:
    """Write the files and metadata.csv; returns {item_id: rule} for every broken item."""
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    astronaut = Image.fromarray(data.astronaut())
    coffee = Image.fromarray(data.coffee()).resize((512, 512))
    astronaut.save(root / "images/good_a.png")
    coffee.save(root / "images/good_b.jpg", quality=92)
    _rect_mask((512, 512), (100, 100, 300, 300)).save(root / "masks/good_a.png")
    _rect_mask((512, 512), (0, 0, 256, 512)).save(root / "masks/good_b.png")

    jpeg = io.BytesIO()
    coffee.save(jpeg, format="JPEG", quality=92)
    (root / "images/truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (root / "images/zero.png").write_bytes(b"")
    astronaut.convert("L").save(root / "images/gray.png")
    astronaut.save(root / "images/other_size.png")
    _rect_mask((256, 256), (10, 10, 100, 100)).save(root / "masks/other_size.png")
    astronaut.save(root / "images/empty_mask.png")
    Image.fromarray(np.zeros((512, 512), np.uint8)).save(root / "masks/empty.png")
    astronaut.save(root.parent / "outside.png")  # exists, but outside the root
    for name in ("truncated", "zero", "gray", "escape", "missing"):
        _rect_mask((512, 512), (0, 0, 64, 64)).save(root / f"masks/{name}.png")

    rows = [
        ["good_a", "images/good_a.png", "broken", "['person', 'flag']", "['person']", "good_a_m", "masks/good_a.png", "person", "0.152587890625"],
        ["good_b", "images/good_b.jpg", "broken", "['cup', 'table']", "cup", "good_b_m", "masks/good_b.png", "cup", "0.5"],
        ["truncated", "images/truncated.jpg", "broken", "['cup']", "cup", "truncated_m", "masks/truncated.png", "cup", ""],
        ["zero", "images/zero.png", "broken", "['x']", "x", "zero_m", "masks/zero.png", "x", ""],
        ["gray", "images/gray.png", "broken", "['person']", "person", "gray_m", "masks/gray.png", "person", ""],
        ["other_size", "images/other_size.png", "broken", "['person']", "person", "other_size_m", "masks/other_size.png", "person", ""],
        ["empty_mask", "images/empty_mask.png", "broken", "['person']", "person", "empty_m", "masks/empty.png", "person", ""],
        ["escape", "../outside.png", "broken", "['person']", "person", "escape_m", "masks/escape.png", "person", ""],
        ["missing", "images/not_there.png", "broken", "['person']", "person", "missing_m", "masks/missing.png", "person", ""],
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(rows)
    buf.write('malformed,images/good_a.png,broken,"[\'a\']",a,malformed_m,masks/good_a.png,a,0.1,EXTRA\n')
    (root / "metadata.csv").write_text(buf.getvalue())
    return {
        "truncated": "decodable",
        "zero": "file_not_empty",
        "gray": "rgb_image",
        "other_size_m": "mask_size_matches_image",
        "empty_m": "mask_not_empty",
        "escape": "path_inside_root",
        "missing": "file_exists",
        None: "csv_row_shape",  # a malformed row has no trustworthy id
    }
