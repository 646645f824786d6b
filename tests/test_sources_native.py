"""The six benchmarks read in their own formats: the same rows as the standardized layout, broken items
quarantined with their rule while the rest goes on (fixtures: tests/native_inputs.py)."""

from __future__ import annotations

import polars as pl
import pytest

from semitruths_dagster.config import SourceConfig
from semitruths_dagster.masks.stage import build_masks
from semitruths_dagster.sections import MaskParams
from semitruths_dagster.sources import list_source
from semitruths_dagster.sources.ingest_stage import ingest_images
from semitruths_dagster.storage import ImageStore
from tests import native_inputs

IMAGE_COLUMNS = ("image_sha256", "width", "height", "entities", "classes", "scene_diversity", "masks_listed")
MASK_COLUMNS = ("image_id", "label", "area_ratio", "mask_sha256", "eligible", "scene_diversity", "scene_complexity")


def land(source: SourceConfig, store: ImageStore, tmp_path):
    listing = list_source(source, tmp_path)
    images, rejected = ingest_images(listing, store, workers=2)
    masks, mask_rejected = build_masks(listing, images, store, MaskParams(min_area_ratio=0.05), workers=2)
    return {r["image_id"]: r for r in images}, {r["mask_id"]: r for r in masks}, rejected + mask_rejected


@pytest.mark.parametrize("adapter", [*native_inputs.WRITERS, "cityscapes polygons"])
def test_raw_format_lands_like_its_standardized_twin_and_quarantines_its_broken_items(adapter, tmp_path):
    adapter, _, variant = adapter.partition(" ")  # `cityscapes polygons`: gtFine polygons, no instanceIds
    fixture = native_inputs.write(adapter, tmp_path / adapter, 2, **({"polygons": True} if variant else {}))
    store = ImageStore(tmp_path / "store")
    raw_images, raw_masks, rejected = land(SourceConfig(name="raw", adapter=adapter, root=fixture.root), store, tmp_path)
    twin_images, twin_masks, twin_rejected = land(
        SourceConfig(name="twin", adapter="standardized", root=fixture.root), store, tmp_path)
    assert not twin_rejected and set(twin_images) == set(fixture.good)

    # Good images: the same image, entities, main classes, masks (same pixels), areas and scene counts.
    for image_id in fixture.good:
        assert {c: raw_images[image_id][c] for c in IMAGE_COLUMNS} == {c: twin_images[image_id][c] for c in IMAGE_COLUMNS}
    good_masks = {m for m, row in raw_masks.items() if row["image_id"] in fixture.good}
    assert good_masks == set(twin_masks)
    for mask_id in twin_masks:
        assert {c: raw_masks[mask_id][c] for c in MASK_COLUMNS} == {c: twin_masks[mask_id][c] for c in MASK_COLUMNS}
    assert all(row["source_path"] != twin_masks[m]["source_path"] for m, row in raw_masks.items() if m in twin_masks)

    # Each broken item is rejected with its rule, naming its file; nothing else is rejected.
    assert {(r.item_id, r.rule) for r in rejected} == fixture.broken
    assert all(r.file and r.message for r in rejected)
    assert all(r.dataset == "raw" for r in rejected)


def test_scene_diversity_counts_classes_and_complexity_counts_instances(tmp_path):
    fixture = native_inputs.write("ade20k", tmp_path / "ade", 1, k=6, broken=False)
    images, masks, rejected = land(SourceConfig(name="a", adapter="ade20k", root=fixture.root),
                                   ImageStore(tmp_path / "store"), tmp_path)
    (row,) = images.values()
    assert not rejected
    # six stripes of growing width, four classes (wall and person twice): diversity 4, complexity 6
    assert row["scene_diversity"] == 4 and row["entities"][0] == "person" and set(row["classes"]) <= set(row["entities"])
    assert {m["scene_complexity"] for m in masks.values()} == {6}
    assert sorted(m["label"] for m in masks.values()) == ["person", "person", "plant", "tree", "wall", "wall"]


def test_sunrgbd_seg37_keeps_the_benchmark_classes_only(tmp_path):
    fixture = native_inputs.write("sunrgbd", tmp_path / "sun", 1, broken=False)
    source = SourceConfig(name="s", adapter="sunrgbd", root=fixture.root, options={"seg37": True})
    (image,) = list_source(source, tmp_path).images
    assert sorted(m.label for m in image.masks) == ["chair", "chair", "table", "wall"]  # not `headphones`


def test_a_missing_benchmark_folder_is_one_clear_error(tmp_path):
    from semitruths_dagster.sources import SourceError

    for adapter in native_inputs.WRITERS:
        with pytest.raises(SourceError, match=f"source 'x': .*{tmp_path}/absent"):
            list_source(SourceConfig(name="x", adapter=adapter, root=tmp_path / "absent"), tmp_path)


def test_native_source_through_the_assets_fills_the_quarantine(project, native_ade20k):
    from dagster import materialize

    from assets.masks import masks
    from assets.sources import source_images

    assert materialize([source_images, masks], partition_key="native_ade20k", resources={"project": project}).success
    tables = project.tables()
    assert set(tables.read("source_images", {"dataset": "native_ade20k"})["image_id"]) == set(native_ade20k.good) | {
        "ADE_train_90000003"}
    quarantined = tables.read_all("quarantine")
    assert {(r["item_id"], r["rule"]) for r in quarantined.iter_rows(named=True)} == native_ade20k.broken
    assert quarantined.filter(pl.col("rule") == "known_class_id")["file"].item().endswith("ADE_train_90000002_seg.png")


def test_semitruths_yaml_shows_every_adapter_and_its_examples_load(tmp_path):
    import re

    from semitruths_dagster.config import load_config
    from semitruths_dagster.sources import SOURCE_ADAPTERS
    from tests.conftest import REPO

    text = (REPO / "semitruths.yaml").read_text()
    shown = set(re.findall(r"adapter: (\w+)", text))
    assert set(SOURCE_ADAPTERS) <= shown, f"no example in semitruths.yaml for {set(SOURCE_ADAPTERS) - shown}"
    start = text.index("  # ade20k_raw:")
    block = text[start:text.index("\n\n", start)].replace("\n  # ", "\n  ").removeprefix("  # ")
    (tmp_path / "c.yaml").write_text("sources:\n  " + block + "\n")
    config = load_config(tmp_path / "c.yaml")
    assert {config.source(n).adapter for n in config.dataset_names} >= set(native_inputs.WRITERS)
    assert config.source("photos").adapter == "folder" and config.source("photos").options == {"recursive": True}


def test_an_unknown_split_is_one_clear_error(tmp_path):
    from semitruths_dagster.sources import SourceError

    fixture = native_inputs.write("lip", tmp_path / "lip", 1, broken=False)
    for adapter, root in (("lip", fixture.root), ("ade20k", native_inputs.write("ade20k", tmp_path / "a", 1).root)):
        with pytest.raises(SourceError, match="trainn.*options.splits"):
            list_source(SourceConfig(name="x", adapter=adapter, root=root, options={"splits": ["trainn"]}), tmp_path)


def test_label_maps_keep_palette_indices_and_16_bits_and_are_reread_when_rewritten(tmp_path):
    import numpy as np
    from PIL import Image

    from semitruths_dagster.sources.base import LabelSelect, MaskEntry
    from semitruths_dagster.sources.labelmaps import load_listed_mask
    from semitruths_dagster.validation import ItemRejected

    labels = np.zeros((4, 6), np.uint8)
    labels[:, 3:] = 5
    palette = Image.fromarray(labels, mode="P")
    palette.putpalette([0, 0, 0] * 256)  # every index black: a luminance read would see nothing
    palette.save(tmp_path / "p.png")
    entry = MaskEntry("m", "x", "p.png", select=LabelSelect((5,)))
    assert (load_listed_mask(tmp_path / "p.png", (6, 4), entry) > 0).sum() == 12

    wide = np.full((4, 6), 26001, np.uint16)
    wide[0] = 26000
    Image.fromarray(wide).save(tmp_path / "ids.png")
    entry = MaskEntry("m", "car", "ids.png", select=LabelSelect((26001,)))
    assert (load_listed_mask(tmp_path / "ids.png", (6, 4), entry) > 0).sum() == 18
    wide[:] = 26001
    Image.fromarray(wide).save(tmp_path / "ids.png")  # rewritten in place: not served from the cache
    assert (load_listed_mask(tmp_path / "ids.png", (6, 4), entry) > 0).sum() == 24

    Image.new("RGB", (6, 4)).save(tmp_path / "rgb.png")
    with pytest.raises(ItemRejected, match="label_map_mode"):
        load_listed_mask(tmp_path / "rgb.png", (6, 4), MaskEntry("m", "x", "rgb.png", select=LabelSelect((1,))))


def test_lip_zips_unpacked_into_folders_of_their_own_name_are_found(tmp_path):
    import shutil

    fixture = native_inputs.write("lip", tmp_path / "lip", 2, broken=False)
    for name in ("TrainVal_images", "TrainVal_parsing_annotations"):  # TrainVal_images/TrainVal_images/...
        shutil.move(fixture.root / name, fixture.root / "moving")
        (fixture.root / name).mkdir()
        shutil.move(fixture.root / "moving", fixture.root / name / name)
    listing = list_source(SourceConfig(name="x", adapter="lip", root=fixture.root), tmp_path)
    assert sorted(image.image_id for image in listing.images) == sorted(fixture.good) and not listing.rejections
