"""Small copies of the six benchmarks in their own formats (file names, encodings, folders as distributed),
each with a standardized-layout twin of its good images and the broken items it holds.

Every writer draws the same label picture: vertical stripes of growing width (stripe j is label j), so
every mask has its own area and the entity order by area is known. `write(name, root, n)` writes `n` good
images (+ the broken ones unless `broken=False`), the twin's `metadata.csv` + masks under `root/_twin/`, and
returns a `Fixture`: the good image ids and {(item id, rule)} of the broken items.
"""

from __future__ import annotations

import csv
import json
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

TWIN = "_twin"


@dataclass
class Fixture:
    root: Path
    good: list[str] = field(default_factory=list)
    broken: set[tuple[str | None, str]] = field(default_factory=set)
    rows: list[list[str]] = field(default_factory=list)  # the twin's metadata rows

    def twin(self, image_id: str, image_path: Path, entities: list[str], classes: list[str],
             masks: list[tuple[str, str, np.ndarray]]) -> None:
        """One good image of the twin: its binary masks written as 0/255 PNGs at the image's size."""
        self.good.append(image_id)
        for mask_id, label, binary in masks:
            path = self.root / TWIN / f"{mask_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(binary.astype(np.uint8) * 255).save(path)
            self.rows.append([image_id, image_path.relative_to(self.root).as_posix(), "twin", str(entities),
                              str(classes), mask_id, path.relative_to(self.root).as_posix(), label, ""])

    def write_twin(self) -> None:
        with open(self.root / "metadata.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image_id", "image_path", "dataset", "entities", "class", "mask_id", "mask_path",
                             "mask_name", "ratio"])
            writer.writerows(self.rows)


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A smooth RGB picture (small noise upscaled): decodes like a photo, compresses like one."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BILINEAR)


def stripes(size: tuple[int, int], k: int) -> np.ndarray:
    """H x W int array: stripe j (1..k) of width proportional to j from the left, 0 in the rest."""
    width, height = size
    unit = max(1, width // (k * (k + 1) // 2 + k))
    out = np.zeros((height, width), np.int64)
    x = 0
    for j in range(1, k + 1):
        out[:, x:x + unit * j] = j
        x += unit * j
    return out


def by_area(labels: np.ndarray, names: dict[int, str]) -> list[str]:
    """Names of the labels present, largest total area first (ties by name)."""
    areas: dict[str, int] = {}
    for value, count in zip(*np.unique(labels, return_counts=True), strict=True):
        if int(value) in names:
            areas[names[int(value)]] = areas.get(names[int(value)], 0) + int(count)
    return sorted(areas, key=lambda n: (-areas[n], n))


# --- ADE20K -------------------------------------------------------------------------------------------------
ADE_CLASSES = [(2978, "wall"), (1831, "person, individual, someone"), (2855, "tree"), (1910, "plant, flora")]


def ade20k(root: Path, n: int, size: tuple[int, int] = (64, 48), k: int = 4, broken: bool = True) -> Fixture:
    fx = Fixture(root)
    folder = root / "images" / "ADE" / "training" / "a" / "abbey"
    folder.mkdir(parents=True)
    instances = [(ADE_CLASSES[j % len(ADE_CLASSES)], 10 * (j + 1)) for j in range(k)]  # (class, B value)

    def write(image_id: str, seg_size: tuple[int, int] | None, extra_class: int | None = None,
              seg: bool = True) -> np.ndarray:
        photo(size, zlib.crc32(image_id.encode()) % 1000).save(folder / f"{image_id}.jpg", quality=90)
        labels = stripes(seg_size or size, k)
        rgb = np.zeros((*labels.shape, 3), np.uint8)
        for j, ((class_id, _), b) in enumerate(instances, start=1):
            class_id = extra_class if extra_class and j == 1 else class_id
            rgb[labels == j] = ((class_id // 256) * 10, class_id % 256, b)
        if seg:
            Image.fromarray(rgb).save(folder / f"{image_id}_seg.png")
        objects = [{"id": j, "name": name, "name_ndx": class_id, "raw_name": name.split(",")[0],
                    "parts": {"hasparts": [], "ispartof": [], "part_level": 0}, "crop": "0"}
                   for j, ((class_id, name), _) in enumerate(instances)]
        objects.append({"id": k, "name": "window, part", "name_ndx": 3055, "parts": {"part_level": 1}})
        (folder / f"{image_id}.json").write_text(json.dumps({"annotation": {"filename": f"{image_id}.jpg",
                                                                             "object": objects}}))
        return labels

    for i in range(n):
        image_id = f"ADE_train_{i + 1:08d}"
        labels = write(image_id, None)
        names = {j: name.split(",")[0] for j, ((_, name), _) in enumerate(instances, start=1)}
        present = by_area(labels, names)
        fx.twin(image_id, folder / f"{image_id}.jpg", present, present[:3],
                [(f"{image_id}_instance_{b:03d}", names[j], labels == j) for j, (_, b) in enumerate(instances, 1)])
    if broken:
        write("ADE_train_90000001", None, seg=False)
        fx.broken.add(("ADE_train_90000001", "file_exists"))
        write("ADE_train_90000002", None, extra_class=999)
        fx.broken.add(("ADE_train_90000002", "known_class_id"))
        write("ADE_train_90000003", (size[0] // 2, size[1] // 2))
        fx.broken |= {(f"ADE_train_90000003_instance_{b:03d}", "mask_size_matches_image") for _, b in instances}
    return fx


# --- CityScapes ---------------------------------------------------------------------------------------------
CITY_VALUES = [(7, "road"), (23, "sky"), (26000, "car"), (26001, "car"), (24000, "person"), (26, "cargroup"),
               (3, "out of roi"), (21, "vegetation")]  # label ids as cityscapesscripts.helpers.labels has them


def city_polygons(ids: np.ndarray, names: dict[int, str], extra: str | None = None) -> dict:
    """A polygons file drawing `ids` (vertical stripes) back: one rectangle per stripe, left to right."""
    height, width = ids.shape
    objects = []
    for x in range(width):
        if ids[0, x] and (x == 0 or ids[0, x - 1] != ids[0, x]):
            end = x
            while end + 1 < width and ids[0, end + 1] == ids[0, x]:
                end += 1
            objects.append({"label": extra or names[int(ids[0, x])], "deleted": 0,
                            "polygon": [[x, 0], [end, 0], [end, height - 1], [x, height - 1]]})
            extra = None
    objects.append({"label": "license plate", "polygon": [[0, 0], [3, 0], [3, 3]]})  # id -1: never drawn
    objects.append({"label": "car", "deleted": 1, "polygon": [[0, 0], [width - 1, 0], [0, height - 1]]})
    return {"imgHeight": height, "imgWidth": width, "objects": objects}


def cityscapes(root: Path, n: int, size: tuple[int, int] = (64, 32), k: int = 8, broken: bool = True,
               polygons: bool = False) -> Fixture:
    """`polygons`: the good images have a `*_gtFine_polygons.json` instead of an instanceIds PNG."""
    fx = Fixture(root)
    images = root / "leftImg8bit" / "train" / "aachen"
    labels_dir = root / "gtFine" / "train" / "aachen"
    images.mkdir(parents=True)
    labels_dir.mkdir(parents=True)
    values = [v for v, _ in CITY_VALUES[:k]]
    names = dict(CITY_VALUES)

    def write(image_id: str, map_size: tuple[int, int] | None, bad_value: int | None = None,
              label: bool = True) -> np.ndarray:
        photo(size, zlib.crc32(image_id.encode()) % 1000).save(images / f"{image_id}_leftImg8bit.png")
        stripe = stripes(map_size or size, len(values))
        ids = np.zeros(stripe.shape, np.uint16)
        for j, value in enumerate(values, start=1):
            ids[stripe == j] = bad_value if bad_value and j == 2 else value
        if label:
            Image.fromarray(ids).save(labels_dir / f"{image_id}_gtFine_instanceIds.png")
        return ids

    for i in range(n):
        image_id = f"aachen_000000_{i:06d}"
        ids = write(image_id, None, label=not polygons)
        if polygons:
            (labels_dir / f"{image_id}_gtFine_polygons.json").write_text(json.dumps(city_polygons(ids, names)))
        present = by_area(ids, {v: names[v] for v in values})
        fx.twin(image_id, images / f"{image_id}_leftImg8bit.png", present, present[:3],
                [(f"{image_id}_{v}", names[v], ids == v) for v in sorted(values) if names[v] != "out of roi"])
    if broken:
        write("aachen_000000_900001", None, label=False)
        fx.broken.add(("aachen_000000_900001", "file_exists"))
        write("aachen_000000_900002", None, bad_value=45)
        fx.broken.add(("aachen_000000_900002", "known_class_id"))
        write("aachen_000000_900003", (size[0] // 2, size[1] // 2))
        fx.broken |= {(f"aachen_000000_900003_{v}", "mask_size_matches_image") for v in values if names[v] != "out of roi"}
        if polygons:
            ids = write("aachen_000000_900004", None, label=False)
            (labels_dir / "aachen_000000_900004_gtFine_polygons.json").write_text(
                json.dumps(city_polygons(ids, names, extra="flying saucer")))
            fx.broken.add(("aachen_000000_900004", "known_class_id"))
    return fx


# --- CelebAMask-HQ ------------------------------------------------------------------------------------------
CELEBA_PARTS = [("skin", "skin"), ("nose", "nose"), ("l_eye", "left_eye"), ("r_brow", "right_eyebrow"),
                ("u_lip", "upper_lip"), ("hair", "hair"), ("neck", "neck"), ("cloth", "cloth")]  # authors' order


def celebamask_hq(root: Path, n: int, size: int = 64, k: int = 4, broken: bool = True) -> Fixture:
    """Photos size x size, part masks size/2 (the release: 1024 and 512)."""
    fx = Fixture(root)
    (root / "CelebA-HQ-img").mkdir(parents=True)
    parts = CELEBA_PARTS[:k]

    def write(number: int, photo_too: bool = True, bad_part: str | None = None,
              mask_size: tuple[int, int] | None = None) -> list[tuple[str, str, np.ndarray]]:
        if photo_too:
            photo((size, size), number).save(root / "CelebA-HQ-img" / f"{number}.jpg", quality=90)
        folder = root / "CelebAMask-HQ-mask-anno" / str(number // 2000)
        folder.mkdir(parents=True, exist_ok=True)
        stripe = stripes(mask_size or (size // 2, size // 2), k)
        out = []
        for j, (part, label) in enumerate(parts, start=1):
            name = bad_part if bad_part and j == 1 else part
            mask = Image.fromarray((stripe == j).astype(np.uint8) * 255)
            (mask.convert("RGB") if j == 2 else mask).save(folder / f"{number:05d}_{name}.png")  # some are RGB
            full = np.asarray(mask.resize((size, size), Image.NEAREST)) > 0
            out.append((f"{number:05d}_{name}", label, full))
        return out

    for number in range(n):
        masks = write(number)
        fx.twin(str(number), root / "CelebA-HQ-img" / f"{number}.jpg", [p[1] for p in parts], ["person"], masks)
    if broken:
        base = 1900
        fx.broken |= {(m[0], "file_exists") for m in write(base + 1, photo_too=False)}
        write(base + 2, bad_part="tail")
        fx.broken.add((f"{base + 2:05d}_tail", "known_class_id"))
        fx.broken |= {(m[0], "mask_size_matches_image") for m in write(base + 3, mask_size=(size // 2, size // 4))}
    return fx


# --- LIP ------------------------------------------------------------------------------------------------------
LIP_VALUES = [(2, "Hair"), (5, "Upper-clothes"), (9, "Pants"), (13, "Face"), (14, "Left-arm"), (15, "Right-arm"),
              (16, "Left-leg"), (18, "Left-shoe")]


def lip(root: Path, n: int, size: tuple[int, int] = (48, 64), k: int = 4, broken: bool = True) -> Fixture:
    fx = Fixture(root)
    images, labels_dir = root / "TrainVal_images" / "train_images", root / "TrainVal_parsing_annotations" / "train_segmentations"
    images.mkdir(parents=True)
    labels_dir.mkdir(parents=True)
    chosen = LIP_VALUES[:k]
    names = {0: "Background"} | dict(chosen)
    ids: list[str] = []

    def write(image_id: str, map_size: tuple[int, int] | None = None, bad: int | None = None,
              label: bool = True) -> np.ndarray:
        ids.append(image_id)
        photo(size, zlib.crc32(image_id.encode()) % 1000).save(images / f"{image_id}.jpg", quality=90)
        stripe = stripes(map_size or size, k)
        labels = np.zeros(stripe.shape, np.uint8)
        for j, (value, _) in enumerate(chosen, start=1):
            labels[stripe == j] = bad if bad and j == 1 else value
        if label:
            Image.fromarray(labels).save(labels_dir / f"{image_id}.png")
        return labels

    for i in range(n):
        image_id = f"{100000 + i}_{i:06d}"
        labels = write(image_id)
        fx.twin(image_id, images / f"{image_id}.jpg", by_area(labels, names), ["person"],
                [(f"{image_id}_{name.replace('-', '')}", name, labels == v) for v, name in sorted(chosen)])
    if broken:
        write("900001_000001", label=False)
        fx.broken.add(("900001_000001", "file_exists"))
        write("900002_000002", bad=25)
        fx.broken.add(("900002_000002", "known_class_id"))
        write("900003_000003", map_size=(size[0] // 2, size[1] // 2))
        fx.broken |= {(f"900003_000003_{name.replace('-', '')}", "mask_size_matches_image") for _, name in chosen}
    (root / "TrainVal_images" / "train_id.txt").write_text("\n".join(ids) + "\n")
    return fx


# --- Open Images V7 -----------------------------------------------------------------------------------------
OI_CLASSES = [("/m/01fb_0", "Bagel"), ("/m/0jy4k", "Doughnut"), ("/m/01g317", "Person"), ("/m/0k4j", "Car")]
OI_HEADER = ["MaskPath", "ImageID", "LabelName", "BoxID", "BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax",
             "PredictedIoU", "Clicks"]


def openimages(root: Path, n: int, size: tuple[int, int] = (64, 48), k: int = 4, broken: bool = True) -> Fixture:
    """Masks stored at half the photo's resolution (Open Images masks need not match the photo's size)."""
    fx = Fixture(root)
    (root / "validation").mkdir(parents=True)
    (root / "validation-masks").mkdir()
    with open(root / "oidv7-class-descriptions.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["LabelName", "DisplayName"], *OI_CLASSES])
    rows: list[list[str]] = []

    def write(image_id: str, mask_size: tuple[int, int] | None = None, bad_mid: bool = False,
              missing: bool = False) -> list[tuple[str, str, np.ndarray]]:
        photo(size, int(image_id[:6], 16) % 1000).save(root / "validation" / f"{image_id}.jpg", quality=90)
        stripe = stripes(mask_size or (size[0] // 2, size[1] // 2), k)
        out = []
        for j in range(1, k + 1):
            mid, name = ("/m/unknown", "") if bad_mid and j == 1 else OI_CLASSES[(j - 1) % len(OI_CLASSES)]
            mask_path = f"{image_id}_{mid.replace('/m/', 'm')}_{j:08x}.png"
            rows.append([mask_path, image_id, mid, f"{j:08x}", "0.1", "0.5", "0.1", "0.5", "0.9", ""])
            mask = Image.fromarray(stripe == j)  # mode '1', as the released PNGs
            if not (missing and j == 1):
                mask.save(root / "validation-masks" / mask_path)
            full = np.asarray(mask.convert("L").resize(size, Image.NEAREST)) > 0
            out.append((mask_path.removesuffix(".png"), name.lower(), full))
        return out

    for i in range(n):
        image_id = f"{i:06x}d9f29e2462e"
        masks = write(image_id)
        labels = list(dict.fromkeys(m[1] for m in masks))
        fx.twin(image_id, root / "validation" / f"{image_id}.jpg", labels, labels, masks)
    if broken:
        fx.broken.add((write("f00001aaaaaaaaaa", bad_mid=True)[0][0], "known_class_id"))
        fx.broken.add((write("f00002aaaaaaaaaa", missing=True)[0][0], "file_exists"))
        fx.broken |= {(m[0], "mask_size_matches_image")
                      for m in write("f00003aaaaaaaaaa", mask_size=(size[0] // 2, size[1] // 4))}
    with open(root / "validation-annotations-object-segmentation.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerows([OI_HEADER, *rows])
        if broken:
            writer.writerow(["short_row.png", "f00004aaaaaaaaaa"])
            fx.broken.add((None, "csv_row_shape"))
    return fx


# --- SUN RGB-D ----------------------------------------------------------------------------------------------
SUN_NAMES = ["wall", "chair", "chair", "table", "headphones", "floor", "lamp", "box"]


def sunrgbd(root: Path, n: int, size: tuple[int, int] = (64, 48), k: int = 5, broken: bool = True) -> Fixture:
    from scipy.io import savemat

    fx = Fixture(root)
    names = SUN_NAMES[:k]

    def write(frame_id: str, map_size: tuple[int, int] | None = None, bad: int | None = None,
              seg: bool = True) -> tuple[Path, np.ndarray]:
        frame = root / "kv1" / "NYUdata" / frame_id
        (frame / "image").mkdir(parents=True)
        photo(size, zlib.crc32(frame_id.encode()) % 1000).save(frame / "image" / f"{frame_id}.jpg", quality=90)
        (frame / "scene.txt").write_text("living_room\n")
        labels = stripes(map_size or size, k).astype(np.uint16)
        if bad:
            labels[labels == 1] = bad
        if seg:
            savemat(frame / "seg.mat", {"seglabel": labels, "names": np.array(names, dtype=object).reshape(1, -1)})
        return frame, labels

    for i in range(n):
        frame_id = f"NYU{i + 1:04d}"
        frame, labels = write(frame_id)
        image_id = f"kv1__NYUdata__{frame_id}"
        fx.twin(image_id, frame / "image" / f"{frame_id}.jpg", by_area(labels, dict(enumerate(names, 1))),
                ["living_room"], [(f"{image_id}_{v:03d}", names[v - 1], labels == v) for v in range(1, k + 1)])
    if broken:
        write("NYU9001", seg=False)
        fx.broken.add(("kv1__NYUdata__NYU9001", "file_exists"))
        write("NYU9002", bad=k + 4)
        fx.broken.add(("kv1__NYUdata__NYU9002", "known_class_id"))
        write("NYU9003", map_size=(size[0] // 2, size[1] // 2))
        fx.broken |= {(f"kv1__NYUdata__NYU9003_{v:03d}", "mask_size_matches_image") for v in range(1, k + 1)}
    return fx


WRITERS: dict[str, Callable[..., Fixture]] = {
    "ade20k": ade20k, "cityscapes": cityscapes, "celebamask_hq": celebamask_hq, "lip": lip,
    "openimages": openimages, "sunrgbd": sunrgbd,
}


def write(adapter: str, root: Path, n: int, **kwargs) -> Fixture:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    fixture = WRITERS[adapter](root, n, **kwargs)
    fixture.write_twin()
    return fixture
