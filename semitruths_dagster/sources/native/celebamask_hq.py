"""CelebAMask-HQ as distributed (switchablenorms/CelebAMask-HQ): `root` is the CelebAMask-HQ folder.

Layout: `CelebA-HQ-img/<n>.jpg` (1024x1024, n = 0..29999) and one 512x512 PNG per face part present,
`CelebAMask-HQ-mask-anno/<n // 2000>/<n:05d>_<part>.png` (non-zero = the part), parts as the authors'
`g_mask.py` lists them. A part's mask is its file, resized (nearest) to the photo: same aspect ratio
required (`MaskEntry.scaled`).

One mask per part file, labelled with the part's readable name (`l_brow` -> `left_eyebrow`); the image's
class is `person`. Rejected: a part file whose image is missing (`file_exists`), a part the authors'
list does not have (`known_class_id`), a file in the wrong numbered folder (`folder_matches_id`), a
file name that is not `<id>_<part>.png` (`file_name_format`). Areas are not read at listing time, so
entities follow the authors' part order.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...config import SourceConfig
from ..base import ImageEntry, MaskEntry, Rejection, SourceAdapter, SourceListing
from .common import STAGE, need_folder, rel, root_of

IMAGES, MASKS = "CelebA-HQ-img", "CelebAMask-HQ-mask-anno"
PER_FOLDER = 2000
PARTS = {  # the authors' part names (g_mask.py's order) -> readable labels
    "skin": "skin", "nose": "nose", "eye_g": "eyeglasses", "l_eye": "left_eye", "r_eye": "right_eye",
    "l_brow": "left_eyebrow", "r_brow": "right_eyebrow", "l_ear": "left_ear", "r_ear": "right_ear",
    "mouth": "mouth", "u_lip": "upper_lip", "l_lip": "lower_lip", "hair": "hair", "hat": "hat",
    "ear_r": "earring", "neck_l": "necklace", "neck": "neck", "cloth": "cloth",
}
ORDER = {part: i for i, part in enumerate(PARTS)}
FILE_RE = re.compile(r"^(\d{5})_([a-z_]+)\.png$")


class CelebAMaskHQAdapter(SourceAdapter):
    ROOT = "the CelebAMask-HQ folder holding CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        root = root_of(source)
        images_dir = need_folder(source, root / IMAGES, "CelebAMask-HQ's photos")
        # the release's folder; the authors' g_mask.py spells it without the dash
        anno = next((root / n for n in (MASKS, MASKS.replace("-HQ", "HQ")) if (root / n).is_dir()), root / MASKS)
        need_folder(source, anno, "CelebAMask-HQ's part masks")
        parts: dict[int, list[tuple[str, Path]]] = {}
        rejections: list[Rejection] = []

        def reject(item: str, path: Path, rule: str, message: str) -> None:
            rejections.append(Rejection(STAGE, source.name, item, str(path), rule, message))

        for path in sorted(anno.glob("*/*.png")):
            match = FILE_RE.match(path.name)
            if not match:
                reject(path.stem, path, "file_name_format", "expected <5-digit id>_<part>.png")
                continue
            number, part = int(match[1]), match[2]
            if part not in PARTS:
                reject(path.stem, path, "known_class_id", f"part '{part}' is not one of {', '.join(PARTS)}")
            elif path.parent.name != str(number // PER_FOLDER):
                reject(path.stem, path, "folder_matches_id",
                       f"image {number}'s parts belong in folder {number // PER_FOLDER}/")
            else:
                parts.setdefault(number, []).append((part, path))
        images: list[ImageEntry] = []
        for number, found in sorted(parts.items()):
            image = images_dir / f"{number}.jpg"
            if not image.is_file():
                for _, path in found:
                    reject(path.stem, path, "file_exists", f"its photo {image} not found")
                continue
            found.sort(key=lambda pair: ORDER[pair[0]])
            masks = [MaskEntry(path.stem, PARTS[part], rel(root, path), scaled=True) for part, path in found]
            images.append(ImageEntry(str(number), source.name, "CelebAHQ", rel(root, image),
                                     [PARTS[p] for p, _ in found], ["person"], masks))
        return SourceListing(root=root, images=images, rejections=rejections)
