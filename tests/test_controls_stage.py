"""The controls stage: items per control, provenance on every row, resumable, failures reported alone."""

import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageDraw, ImageFilter

from semitruths_dagster.controls import estimate_jpeg_quality
from semitruths_dagster.controls.stage import SCHEMA, TABLE, plan_controls, run_controls
from semitruths_dagster.storage import ImageStore
from semitruths_dagster.storage.resumable import ResumablePartition
from semitruths_dagster.storage.tables import TableStore


@pytest.fixture
def world(tmp_path):
    store = ImageStore(tmp_path / "store")
    rng = np.random.default_rng(0)
    images, edits, masks = [], [], {}
    for i in range(2):
        photo = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((64, 48), Image.BICUBIC)
        (tmp_path / "src").mkdir(exist_ok=True)
        photo.save(tmp_path / "src" / f"r{i}.jpg", quality=70)
        path, _ = store.put_file(tmp_path / "src" / f"r{i}.jpg")
        images.append({"image_id": f"r{i}", "image_path": path})
        mask = Image.new("L", (64, 48))
        ImageDraw.Draw(mask).rectangle((20, 10, 40, 30), fill=255)
        masks[f"m{i}"], _ = store.put_png(mask.filter(ImageFilter.GaussianBlur(3)))
        edit_path, _ = store.put_png(Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)))
        edits.append({"generation_id": f"g{i}", "image_id": f"r{i}", "mask_id": f"m{i}",
                      "method": "inpainting" if i == 0 else "p2p", "image_path": edit_path})
    return store, pl.DataFrame(images), pl.DataFrame(edits), masks, TableStore(tmp_path / "tables")


def test_controls_are_made_with_provenance_and_resume(world):
    from semitruths_dagster.random_weights.sd import tiny_vae

    store, images, edits, masks, tables = world
    items = plan_controls(images, edits, masks, "sd1", ["vae_roundtrip", "pasted_back", "format_matched"])
    assert sorted(i.control for i in items) == ["format_matched", "format_matched", "pasted_back",
                                                "vae_roundtrip", "vae_roundtrip"]
    loads = []

    def load_vae():
        loads.append(1)
        return tiny_vae().eval()

    part = {"dataset": "d", "generator": "sd1"}
    resumable = ResumablePartition(tables, TABLE, part, "control_id", SCHEMA)
    run_controls(items[:2], resumable, store, "d", "sd1", load_vae, "tiny:sd1", True, chunk_size=1)
    # a second run (as after a kill) makes only the rest
    frame, counts, failed = run_controls(items, resumable, store, "d", "sd1", load_vae, "tiny:sd1", True,
                                         chunk_size=1)
    assert counts["resumed_from"] == 2 and counts["made"] == 3 and not failed and frame.height == 5
    assert len(loads) == 1  # the second run had no round trip left to make: no VAE loaded
    rows = {(r["control"], r["image_id"]): r for r in frame.iter_rows(named=True)}
    vae_row = rows[("vae_roundtrip", "r0")]
    assert vae_row["vae"] == "tiny:sd1" and vae_row["label"] == 0 and vae_row["random_weights"]
    matched = rows[("format_matched", "r0")]
    assert matched["format"] == "JPEG" and abs(matched["quality"] - 70) <= 2
    with store.open(matched["image_path"]) as reread:
        assert reread.format == "JPEG" and abs(estimate_jpeg_quality(reread) - 70) <= 2
    pasted = rows[("pasted_back", "r0")]
    assert pasted["mask_path"] == masks["m0"] and pasted["label"] == 1
    m = np.asarray(store.open(masks["m0"]).convert("L"))
    out = np.asarray(store.open(pasted["image_path"]).convert("RGB"))
    original = np.asarray(store.open(images["image_path"][0]).convert("RGB"))
    assert np.array_equal(out[m == 0], original[m == 0])


def test_a_broken_edit_fails_alone(world):
    store, images, edits, masks, tables = world
    edits = edits.with_columns(pl.when(pl.col("generation_id") == "g1").then(pl.lit("images/xx/missing.png"))
                               .otherwise(pl.col("image_path")).alias("image_path"))
    items = plan_controls(images, edits, masks, "sd1", ["format_matched"])
    resumable = ResumablePartition(tables, TABLE, {"dataset": "d", "generator": "sd1"}, "control_id", SCHEMA)
    frame, counts, failed = run_controls(items, resumable, store, "d", "sd1", lambda: None, "-", False)
    assert frame.height == 1 and len(failed) == 1 and "format_matched" in failed[0][1]


def test_limit_keeps_the_first_of_each_control_by_id(world):
    from semitruths_dagster.controls.stage import ControlParams

    store, images, edits, masks, tables = world
    everything = plan_controls(images, edits, masks, "sd1", ["vae_roundtrip", "format_matched"])
    one = plan_controls(images, edits, masks, "sd1", ["vae_roundtrip", "format_matched"], limit=1)
    assert sorted(i.control for i in one) == ["format_matched", "vae_roundtrip"]
    assert all(i in everything for i in one)
    assert min((i for i in everything if i.control == "vae_roundtrip"), key=lambda i: i.control_id) in one
    with pytest.raises(ValueError, match="controls.kinds"):
        ControlParams(kinds=["blur"])
    with pytest.raises(ValueError, match="controls.limit"):
        ControlParams(limit=0)
