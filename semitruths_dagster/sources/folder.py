"""`adapter: folder`: any folder (or object-store prefix) of photos, with no masks of its own; their labelled
masks come from the `segments` stage (a panoptic segmenter, `sources/segments_stage.py`) and are attached to
this listing by `attach_segments` when `masks` runs.

`root`: a local folder; or `options.url`: an object-store prefix (s3://bucket/photos, any fsspec URL), whose
images are mirrored once into `<storage>/sources/folder/<name>/` (a file already there with the object's size
is kept). `options.recursive` (default true): subfolders too. The image id is the file's path under the root,
'/' written '__', so ids are stable and unique across subfolders.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..config import ConfigError, SourceConfig
from ..storage.location import inside, storage_path, write_atomic
from .base import ImageEntry, Rejection, SourceAdapter, SourceListing

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
STAGE = "source_images"


def image_id_of(relpath: str) -> str:
    return relpath.replace("/", "__")


def _mirror(url: str, dest: Path) -> Path:
    """Copy the prefix's images into `dest` (each file written atomically; same-size files skipped)."""
    prefix = storage_path(url)
    for obj in sorted(p for p in prefix.rglob("*") if p.suffix.lower() in EXTENSIONS):
        rel = obj.relative_to(prefix).as_posix()
        target = inside(dest, rel)
        size = obj.stat().st_size
        if not (target.is_file() and target.stat().st_size == size):
            write_atomic(target, lambda fh, obj=obj: fh.write(obj.read_bytes()))
    return dest


class FolderAdapter(SourceAdapter):
    """Photos without masks; the `segments` stage makes them (AUTOMATIC_MASKS)."""

    AUTOMATIC_MASKS: ClassVar[bool] = True

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        url = source.options.get("url")
        if url:
            root = _mirror(str(url), Path(storage_root) / "sources" / "folder" / source.name)
        elif source.root is not None:
            root = Path(source.root)
        else:
            raise ConfigError(f"source '{source.name}': the folder adapter needs a 'root' (a folder of images) "
                              "or options.url (an object-store prefix)")
        if not root.is_dir():
            raise ConfigError(f"source '{source.name}': root {root} is not a folder")
        pattern = "**/*" if source.options.get("recursive", True) else "*"
        images, rejections = [], []
        seen: dict[str, str] = {}
        for path in sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in EXTENSIONS):
            rel = path.relative_to(root).as_posix()
            image_id = image_id_of(rel)
            if image_id in seen:  # 'a/b.jpg' and 'a__b.jpg' would share an id
                rejections.append(Rejection(STAGE, source.name, image_id, str(path), "unique_image_id",
                                            f"id {image_id} already names {seen[image_id]}"))
                continue
            seen[image_id] = rel
            images.append(ImageEntry(image_id, source.name, source.dataset or source.name, rel, [], []))
        return SourceListing(root=root.resolve(), images=images, rejections=rejections)
