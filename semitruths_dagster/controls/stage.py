"""The `controls` stage: one (dataset, generator) partition of control images, resumable in chunks.

For each partition, every kind in `kinds.CONTROLS` that the configuration asks for: every real image of
the dataset through the generator's VAE (`vae_roundtrip`, label 0) or resized to the generator's working
size and back (`resampled`, label 0; only the images the generator resamples), every inpainting edit of
the generator pasted back into its original under the soft mask the inpainting used (`pasted_back`,
label 1), and every edit of the generator saved in its original's format and quality (`format_matched`,
label 1). Each row records its provenance: the VAE's model ref, the format and JPEG quality, the mask,
the working size and filters. A killed run resumes from its committed chunks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
from PIL import Image

from ..provenance import code_version, utc_now
from ..sections import ControlParams  # noqa: F401 - the section this stage reads (defined with the others)
from ..storage import ImageStore
from ..storage.resumable import ResumablePartition
from .base import ControlInputs
from .kinds import CONTROLS

TABLE = "controls"
SCHEMA: dict[str, pl.DataType] = {
    "control_id": pl.Utf8, "dataset": pl.Utf8, "generator": pl.Utf8, "control": pl.Utf8, "label": pl.Int8,
    "image_id": pl.Utf8, "generation_id": pl.Utf8, "method": pl.Utf8, "image_path": pl.Utf8,
    "image_sha256": pl.Utf8, "vae": pl.Utf8, "format": pl.Utf8, "quality": pl.Int32, "subsampling": pl.Int32,
    "mask_path": pl.Utf8, "working_size": pl.List(pl.Int32), "resample_filter": pl.Utf8,
    "random_weights": pl.Boolean, "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}



@dataclass(frozen=True)
class ControlItem:
    control_id: str
    control: str
    label: int
    image_id: str
    source_path: str  # the real image
    generation_id: str | None = None
    method: str | None = None
    edit_path: str | None = None
    mask_path: str | None = None  # the soft (blurred) mask the inpainting used


def control_id(control: str, generator: str, item: str) -> str:
    return hashlib.sha256(json.dumps([control, generator, item]).encode()).hexdigest()[:24]


WorkingSize = Callable[[tuple[int, int]], tuple[int, int]]


def plan_controls(images: pl.DataFrame, edits: pl.DataFrame, soft_masks: dict[str, str], generator: str,
                  controls: Sequence[str], limit: int | None = None,
                  working_size: WorkingSize | None = None) -> list[ControlItem]:
    """The control items of one (dataset, generator): `images` are the dataset's real images (with
    `width` / `height` for a kind that needs resampling), `edits` the generator's edits of them,
    `soft_masks` mask_id -> the preprocessed (blurred) mask path, `working_size` the generator's
    working size of an original size (as the generation stage chooses it)."""
    kinds = [CONTROLS[name] for name in controls]
    sources = dict(zip(images["image_id"], images["image_path"], strict=True))
    items: list[ControlItem] = []
    for kind in (k for k in kinds if k.source == "real"):
        keep = set(sources)
        if kind.needs_resampling:
            if working_size is None or not {"width", "height"} <= set(images.columns):
                raise ValueError(f"control '{kind.name}' needs the generator's working size and the images' "
                                 "width and height")
            keep = {r["image_id"] for r in images.iter_rows(named=True)
                    if tuple(working_size((r["width"], r["height"]))) != (r["width"], r["height"])}
        items += [ControlItem(control_id(kind.name, generator, i), kind.name, kind.label, i, p)
                  for i, p in sorted(sources.items()) if i in keep]
    for r in edits.sort("generation_id").iter_rows(named=True) if edits.height else []:
        if r["image_id"] not in sources:
            continue
        common = {"image_id": r["image_id"], "source_path": sources[r["image_id"]],
                  "generation_id": r["generation_id"], "method": r["method"], "edit_path": r["image_path"]}
        mask = soft_masks.get(r.get("mask_id") or "")
        for kind in kinds:
            if kind.source == "edit" or (kind.source == "inpainting_edit" and r["method"] == "inpainting" and mask):
                items.append(ControlItem(control_id(kind.name, generator, r["generation_id"]), kind.name,
                                         label=kind.label, mask_path=mask if kind.source == "inpainting_edit" else None,
                                         **common))
    if limit is None:
        return items
    kept = [i for kind in controls for i in sorted((i for i in items if i.control == kind),
                                                    key=lambda i: i.control_id)[:limit]]
    return sorted(kept, key=items.index)


def _make(item: ControlItem, store: ImageStore, vae: Callable[[], object] | None,
          working_size: WorkingSize | None) -> tuple[Image.Image | bytes, dict]:
    """The control image (or encoded bytes) and its provenance."""
    with store.open(item.source_path) as original:
        original.load()
        edited = mask = None
        if item.edit_path:
            with store.open(item.edit_path) as opened:
                edited = opened.convert("RGB")
        if item.mask_path:
            with store.open(item.mask_path) as opened:
                mask = opened.convert("L")
        return CONTROLS[item.control].make(ControlInputs(original, edited, mask, vae, working_size))


def run_controls(items: Sequence[ControlItem], partition: ResumablePartition, store: ImageStore, dataset: str,
                 generator: str, load_vae: Callable[[], object], vae_ref: str, random_weights: bool,
                 chunk_size: int = 16, force: bool = False, log: Callable[[str], None] = print,
                 working_size: WorkingSize | None = None,
                 ) -> tuple[pl.DataFrame, dict, list[tuple[ControlItem, str]]]:
    """Make the items not yet done, committing every `chunk_size`; returns the partition, counts and
    the items that failed (with why: the caller quarantines them; the rest go on). The VAE loads only
    if a `vae_roundtrip` item is still to make. `working_size`: as for `plan_controls`."""
    if force:
        partition.reset()
    done = partition.done_keys()
    todo = [i for i in items if i.control_id not in done]
    log(f"{len(items)} control items, {len(items) - len(todo)} already done, {len(todo)} to make")
    vae_cache: list[object] = []

    def vae() -> object:
        if not vae_cache:
            vae_cache.append(load_vae())
        return vae_cache[0]

    now, version = utc_now(), code_version()
    pending, failed, made = [], [], 0
    for item in todo:
        try:
            image, provenance = _make(item, store, vae, working_size)
        except (OSError, ValueError, RuntimeError) as exc:
            failed.append((item, f"{item.control}: {type(exc).__name__}: {exc}"))
            continue
        if isinstance(image, bytes):
            ext = ".jpg" if provenance["format"] == "JPEG" else f".{provenance['format'].lower()}"
            path, sha = store.put_bytes(image, ext)
        else:
            path, sha = store.put_png(image)
        pending.append({
            "control_id": item.control_id, "dataset": dataset, "generator": generator, "control": item.control,
            "label": item.label, "image_id": item.image_id, "generation_id": item.generation_id,
            "method": item.method, "image_path": path, "image_sha256": sha,
            "vae": vae_ref if CONTROLS[item.control].uses_vae else None, "format": provenance.get("format", "PNG"),
            "quality": provenance.get("quality"), "subsampling": provenance.get("subsampling"),
            "mask_path": item.mask_path, "working_size": provenance.get("working_size"),
            "resample_filter": provenance.get("resample_filter"), "random_weights": random_weights,
            "code_version": version, "created_at": now})
        if len(pending) >= chunk_size:
            partition.write_chunk(pending)
            made += len(pending)
            pending = []
    partition.write_chunk(pending)
    made += len(pending)
    frame = partition.finalize(keep={i.control_id for i in items})
    return frame, {"items": len(items), "made": made, "resumed_from": len(items) - len(todo),
                   "failed": len(failed)}, failed


def pipeline_vae(pipe: object) -> object:
    """The autoencoder of a loaded diffusers pipeline (`vae`; Kandinsky's `movq`)."""
    for name in ("vae", "movq"):
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    raise ValueError(f"{type(pipe).__name__} has no VAE (looked for 'vae' and 'movq')")

