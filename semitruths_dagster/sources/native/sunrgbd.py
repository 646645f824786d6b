"""SUN RGB-D as distributed (SUNRGBD.zip, rgbd.cs.princeton.edu): `root` is the SUNRGBD folder.

Layout: one folder per frame, anywhere below the root (`kv1/NYUdata/NYU0001/`, `xtion/...`), holding
`image/<name>.jpg`, `seg.mat` (MATLAB v5: `seglabel`, the label map, 0 unlabeled, value k the k-th of
`names`, the annotated object names) and `scene.txt` (the scene category). Read with scipy.io.

One mask per label value present, labelled with its name from `names` (the annotators' names, as the
released Semi-Truths masks have them: `headphones`; see README Deviations on the 37-class list); the
image's class is its scene (`living_room`). Option `seg37: true` keeps only the objects whose name is
one of the benchmark's 37 classes (lower case, spaces as '_': `night stand` -> `night_stand`). The image id is the frame's folder path, '/' -> '__'.
Rejected frames: no seg.mat (`file_exists`), an unreadable one (`decodable`, `mat_variable`), a label
value beyond `names` (`known_class_id`); a label map of another size than the photo is rejected mask by
mask by `masks` (`mask_size_matches_image`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...config import SourceConfig
from ...validation import ItemRejected
from ..base import ImageEntry, LabelSelect, MaskEntry, SourceAdapter, SourceListing
from ..labelmaps import mat_array
from ..standardized import SourceError
from .common import collect, need_file, need_folder, rel, root_of, value_counts

KEY = "seglabel"
# The 37 classes of the SUN RGB-D segmentation benchmark (toolbox Metadata/seg37list.mat), in order.
SEG37 = ("wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
         "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor_mat", "clothes",
         "ceiling", "books", "fridge", "tv", "paper", "towel", "shower_curtain", "box", "whiteboard", "person",
         "night_stand", "toilet", "sink", "lamp", "bathtub", "bag")


def frame_names(seg: Path) -> list[str]:
    """The `names` cell array of a seg.mat, as strings."""
    from scipy.io import loadmat

    try:
        cells = loadmat(seg, variable_names=["names"]).get("names")
    except (ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise ItemRejected("decodable", f"cannot read MATLAB file: {type(exc).__name__}: {exc}", seg) from None
    if cells is None:
        raise ItemRejected("mat_variable", "no variable 'names'", seg)
    return [str(np.ravel(cell)[0]) if np.size(cell) else "" for cell in np.ravel(cells)]


def seglabel(path: Path) -> np.ndarray:
    """The label map of a frame's seg.mat (the masks' `LabelSelect.reader`)."""
    return mat_array(path, KEY)


def seg37_name(name: str) -> str | None:
    key = "_".join(name.strip().lower().split())
    return key if key in SEG37 else None


def describe(root: Path, dataset: str, image_id: str, image: Path, seg37: bool = False) -> ImageEntry:
    frame = image.parent.parent
    seg = need_file(frame / "seg.mat")
    names = frame_names(seg)
    values, counts = value_counts(seglabel(seg))
    unknown = [int(v) for v in values if v < 0 or v > len(names)]
    if unknown:
        raise ItemRejected("known_class_id", f"{KEY} value(s) {unknown[:5]} beyond its {len(names)} names", seg)
    scene = frame / "scene.txt"
    classes = [scene.read_text().strip()] if scene.is_file() and scene.read_text().strip() else []
    if seg37:
        names = [seg37_name(n) or "" for n in names]  # "": not one of the 37, left out below
    present = [(int(v), c) for v, c in zip(values.tolist(), counts.tolist(), strict=True) if v and names[v - 1]]
    path = rel(root, seg)
    masks = [MaskEntry(f"{image_id}_{v:03d}", names[v - 1], path, select=LabelSelect((v,), reader=seglabel))
             for v, _ in present]
    areas: dict[str, int] = {}
    for v, count in present:
        areas[names[v - 1]] = areas.get(names[v - 1], 0) + count
    entities = sorted(areas, key=lambda n: (-areas[n], n))  # by total area, as the other adapters
    return ImageEntry(image_id, dataset, "SUN_RGBD", rel(root, image), entities, classes, masks)


class SunRgbdAdapter(SourceAdapter):
    ROOT = "the SUNRGBD folder (frames with image/, seg.mat, scene.txt below it)"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        root = need_folder(source, root_of(source), "SUN RGB-D's frames")
        images = sorted(p for p in root.rglob("image/*.jpg") if p.parent.name == "image")
        if not images:
            raise SourceError(f"source '{source.name}': no frame (image/*.jpg) below {root}")
        items = [(rel(root, p.parent.parent).replace("/", "__"), p) for p in images]
        seg37 = bool(source.options.get("seg37", False))
        return collect(source, root, items, lambda i, p: describe(root, source.name, i, p, seg37))
