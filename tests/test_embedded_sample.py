"""The embedded sample: spec validation, and the standardized layout it renders (no download needed)."""

from __future__ import annotations

import ast
import copy
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semitruths_dagster.sources import embedded
from semitruths_dagster.sources.embedded import (
    METADATA_COLUMNS,
    VERSION_MARKER,
    load_embedded_spec,
    render_embedded_sample,
    validate_embedded_spec,
)

MIN_AREA = 0.05  # the pipeline's default minimum mask area


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    return render_embedded_sample(tmp_path_factory.mktemp("embedded") / "sample", dataset="demo")


@pytest.fixture(scope="module")
def rows(rendered) -> list[dict[str, str]]:
    with open(rendered / "metadata.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_csv_header_is_the_standardized_one(rendered):
    with open(rendered / "metadata.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == list(METADATA_COLUMNS)
    assert ",".join(header) == "image_id,image_path,dataset,entities,class,mask_id,mask_path,mask_name,ratio"


def test_one_row_per_mask_in_spec_order(rows):
    spec = load_embedded_spec()
    expected = [(img["image_id"], m["mask_id"], m["label"]) for img in spec["images"] for m in img["masks"]]
    assert [(r["image_id"], r["mask_id"], r["mask_name"]) for r in rows] == expected
    by_image = {img["image_id"]: img for img in spec["images"]}
    for row in rows:
        image = by_image[row["image_id"]]
        assert row["dataset"] == "demo"
        assert row["image_path"] == f"images/demo/{row['image_id']}.png"
        assert row["mask_path"] == f"masks/demo/{row['mask_id']}.png"
        # Lists are written as Python-list strings, like the released Semi-Truths metadata.
        assert row["entities"].startswith("[") and ast.literal_eval(row["entities"]) == image["entities"]
        assert ast.literal_eval(row["class"]) == image["class"]


def test_every_file_exists_with_the_right_size_and_mode(rendered, rows):
    size = load_embedded_spec()["size"]
    for path in {r["image_path"] for r in rows}:
        with Image.open(rendered / path) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (size, size)), path
    for row in rows:
        with Image.open(rendered / row["mask_path"]) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "L", (size, size)), row["mask_path"]


def test_masks_are_binary_non_empty_and_ratios_match_the_pixels(rendered, rows):
    for row in rows:
        mask = np.asarray(Image.open(rendered / row["mask_path"]))
        assert set(np.unique(mask).tolist()) <= {0, 255}, row["mask_id"]
        area = np.count_nonzero(mask)
        assert 0 < area < mask.size, row["mask_id"]
        assert float(row["ratio"]) == pytest.approx(area / mask.size, abs=1e-12), row["mask_id"]


def test_images_match_the_cropped_source(rendered):
    # The image really is skimage's photo: crop, then LANCZOS resize (catches a swapped crop order).
    from skimage import data as skdata

    spec = load_embedded_spec()
    for image in spec["images"]:
        left, top, side = image["crop"]
        source = getattr(skdata, image["skimage"])()[top:top + side, left:left + side]
        expected = np.asarray(Image.fromarray(source).resize((spec["size"],) * 2, Image.Resampling.LANCZOS))
        got = np.asarray(Image.open(rendered / f"images/demo/{image['image_id']}.png"))
        assert np.array_equal(got, expected), image["image_id"]


def test_area_mix_gives_the_filter_something_to_drop(rows):
    ratios: dict[str, list[float]] = {}
    for row in rows:
        ratios.setdefault(row["image_id"], []).append(float(row["ratio"]))
    assert len(ratios) >= 4
    for image_id, values in ratios.items():
        assert len(values) >= 3, image_id
        assert any(r >= MIN_AREA for r in values), image_id
    flat = [r for values in ratios.values() for r in values]
    small = [r for r in flat if r < MIN_AREA]
    assert small and all(r >= 0.01 for r in small)  # deliberately small, but not specks
    assert len(flat) - len(small) > len(flat) / 2  # most masks pass the default filter


def test_spec_content_follows_the_authoring_rules():
    spec = load_embedded_spec()
    for image in spec["images"]:
        masks = image["masks"]
        assert 3 <= len(masks) <= 5, image["image_id"]
        assert len(set(image["entities"])) > len(masks), image["image_id"]  # unmasked classes listed too
        assert len({m["label"] for m in masks}) == len(masks), image["image_id"]
        for mask in masks:
            label = mask["label"]
            assert label == label.lower() and 1 <= len(label.split()) <= 3, mask["mask_id"]
            assert mask["mask_id"].startswith(image["image_id"] + "_")
            for polygon in mask["polygons"]:
                assert 10 <= len(polygon) <= 40, mask["mask_id"]


def test_rendering_is_deterministic(tmp_path, rendered):
    again = render_embedded_sample(tmp_path / "again", dataset="demo")
    first, second = _files(rendered), _files(again)
    assert first.keys() == second.keys()
    assert all(first[k] == second[k] for k in first), [k for k in first if first[k] != second[k]]


def test_same_version_returns_at_once_and_new_version_replaces(tmp_path, monkeypatch):
    dest = tmp_path / "out"
    assert render_embedded_sample(dest) == dest
    marker = (dest / VERSION_MARKER).read_text()
    csv_stat = (dest / "metadata.csv").stat()

    def fail_render(*args, **kwargs):
        raise AssertionError("a current sample must not be rendered again")

    with monkeypatch.context() as patch:
        patch.setattr(embedded, "_render_into", fail_render)
        assert render_embedded_sample(dest) == dest
    assert (dest / "metadata.csv").stat().st_mtime_ns == csv_stat.st_mtime_ns

    bumped = load_embedded_spec()
    bumped["version"] += 1
    monkeypatch.setattr(embedded, "load_embedded_spec", lambda: bumped)
    (dest / "stale.txt").write_text("from the old version")
    render_embedded_sample(dest)
    assert (dest / VERSION_MARKER).read_text() != marker
    assert not (dest / "stale.txt").exists()
    assert (dest / "metadata.csv").is_file()
    # Nothing is left beside dest: no temporary or moved-aside folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_another_dataset_name_re_renders(tmp_path):
    dest = tmp_path / "out"
    render_embedded_sample(dest, dataset="one")
    render_embedded_sample(dest, dataset="two")
    with open(dest / "metadata.csv", newline="", encoding="utf-8") as fh:
        assert {r["dataset"] for r in csv.DictReader(fh)} == {"two"}
    assert not (dest / "images" / "one").exists()


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "precious.txt").write_text("not ours")
    with pytest.raises(FileExistsError, match="not empty"):
        render_embedded_sample(dest)
    assert (dest / "precious.txt").read_text() == "not ours"


def test_a_failed_render_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(embedded, "_render_into", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        render_embedded_sample(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset", ["", "a/b", "..", "has space"])
def test_rejects_a_dataset_that_is_not_a_folder_name(tmp_path, dataset):
    with pytest.raises(ValueError, match="dataset"):
        render_embedded_sample(tmp_path / "out", dataset=dataset)


def _break(edit):
    spec = copy.deepcopy(load_embedded_spec())
    edit(spec)
    return spec


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["images"][0]["masks"][0].update(polygons=[[[0, 0], [10, 10]]]),
         r"image 'astronaut' mask 'astronaut_face' polygon 0: needs at least 3 vertices, got 2"),
        (lambda s: s["images"][1]["masks"][2]["polygons"][0].append([600, 10]),
         r"image 'chelsea' mask 'chelsea_nose' polygon 0: vertex \[600, 10\] outside 0..512"),
        (lambda s: s["images"][2]["masks"][1].update(mask_id="coffee_cup"),
         r"image 'coffee' mask 'coffee_cup': duplicate mask_id"),
        (lambda s: s["images"][3].update(image_id="astronaut"),
         r"image 'astronaut': duplicate image_id"),
        (lambda s: s["images"][0]["masks"][0]["polygons"][0].__setitem__(0, [1.5, 2]),
         r"mask 'astronaut_face' polygon 0: vertex must be \[x, y\] integers"),
        (lambda s: s["images"][0].update(skimage="download_all"),
         r"image 'astronaut': skimage must name a bundled image"),
        (lambda s: s["images"][0].update(crop=[0, 0]),
         r"image 'astronaut': crop must be \[left, top, side\]"),
        (lambda s: s["images"][0]["masks"][0].update(label=""),
         r"mask 'astronaut_face': label must be a non-empty string"),
        (lambda s: s["images"][0].update(image_id="../escape"),
         r"images\[0\]: image_id must match"),
        (lambda s: s.update(version=0), r"version: must be an integer >= 1"),
    ],
)
def test_validation_names_the_item_and_the_rule(edit, message):
    with pytest.raises(ValueError, match=message):
        validate_embedded_spec(_break(edit))


def test_shipped_spec_is_valid_and_loaded_as_package_data():
    spec = load_embedded_spec()
    assert validate_embedded_spec(copy.deepcopy(spec)) == spec
    assert spec["size"] == 512 and len(spec["images"]) == 4
