"""`adapter: folder`: a folder of photos whose labelled masks come from the tiny random-weight segmenter
(Mask2Former, the `segmenter` role), through every stage; the filters on hand-made segments."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml
from dagster import MultiPartitionKey, materialize

from tests.conftest import TEST_CONFIG, share_tiny_models


def _segment(label: str, score: float, rows: slice, thing: bool = True):
    from semitruths_dagster.sources.segmenter import Segment

    mask = np.zeros((10, 10), dtype=bool)
    mask[rows] = True
    return Segment(label, 0, score, thing, mask)


def test_filters_keep_or_drop_each_segment_with_its_reason():
    segments = [
        _segment("person", 0.9, slice(0, 4)),  # 40 %: kept
        _segment("car", 0.8, slice(2, 6)),  # half of it under the person: overlap 0.5, not > 0.5: kept
        _segment("dog", 0.7, slice(1, 4)),  # all of it under kept masks
        _segment("sky", 0.95, slice(6, 10), thing=False),  # stuff
        _segment("cat", 0.6, slice(9, 10)),  # 10 % < 20 %
        _segment("cup", 0.1, slice(6, 9)),  # score
        _segment("bus", 0.65, slice(6, 9)),  # third thing: over max_masks
    ]
    from semitruths_dagster.sections import SegmentParams
    from semitruths_dagster.sources.segmenter import filter_segments

    params = SegmentParams(min_score=0.5, min_area_ratio=0.2, classes="things", max_masks=2, max_overlap=0.5)

    verdicts = {seg.label: reason for seg, reason in filter_segments(segments, params)}
    assert verdicts["person"] is None and verdicts["car"] is None
    assert verdicts["dog"].startswith("max_overlap") and verdicts["sky"].startswith("classes")
    assert verdicts["cat"].startswith("min_area_ratio") and verdicts["cup"].startswith("min_score")
    assert verdicts["bus"].startswith("max_masks")
    both = {s.label: r for s, r in filter_segments(segments, SegmentParams(min_area_ratio=0.2, max_masks=3))}
    assert both["sky"] is None  # classes: both


def test_stuff_classes_come_from_the_label_set():
    from semitruths_dagster.label_sets import ADE20K_150, stuff_ids

    ade = dict(enumerate(ADE20K_150))
    assert {ADE20K_150[i] for i in stuff_ids(ade)} >= {"sky", "wall", "road", "grass"}
    assert not {"person", "car", "chair"} & {ADE20K_150[i] for i in stuff_ids(ade)}
    coco = {0: "person", **{i: f"c{i}" for i in range(1, 133)}}
    assert stuff_ids(coco) == frozenset(range(80, 133))
    assert stuff_ids(ade, ("Person",)) == frozenset({12})


def test_folder_adapter_lists_photos_and_mirrors_an_object_store_prefix(photos, tmp_path):
    import fsspec

    from semitruths_dagster.config import SourceConfig
    from semitruths_dagster.sources import automatic_masks, list_source

    listing = list_source(SourceConfig("p", "folder", root=photos), tmp_path)
    ids = [e.image_id for e in listing.images]
    assert len(ids) == 4 and any(i.startswith("more__") for i in ids) and listing.adapter == "folder"
    assert all(not e.masks for e in listing.images) and automatic_masks(SourceConfig("p", "folder"))
    memory = fsspec.filesystem("memory")
    for path in sorted(photos.rglob("*.png")):
        memory.pipe(f"/bucket/photos/{path.relative_to(photos).as_posix()}", path.read_bytes())
    remote = list_source(SourceConfig("r", "folder", options={"url": "memory://bucket/photos"}), tmp_path)
    assert [e.image_id for e in remote.images] == ids
    assert remote.root == (tmp_path / "sources" / "folder" / "r").resolve()


def test_folder_source_end_to_end_through_prompts_and_generations(photos, tmp_path, tiny_models):
    from assets.generations import generations
    from assets.masks import masks
    from assets.prompts import perturbed_prompts, prompt_filters
    from assets.segments import segments
    from assets.sources import source_images
    from resources import GpuResource, ModelsResource, ProjectResource

    # The test configuration's `photos` source, with the demo's generation cap (one edit per method), and
    # filters that keep the random segmenter's segments (it scores every class near 1/150).
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["sources"] = {"photos": config["sources"]["photos"]}
    config["generation"] = {**config["generation"], "max_per_method": 1}
    config["segments"] = {"min_score": 0.0, "min_mask_share": 0.0, "max_masks": 2}
    (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(tmp_path / "semitruths.yaml"), storage_root=str(tmp_path / "storage"))
    share_tiny_models(project.storage_root, tiny_models)
    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    assert materialize([source_images, segments, masks, perturbed_prompts], partition_key="photos",
                       resources=resources).success
    tables = project.tables()
    segs = tables.read("segments", {"dataset": "photos"})
    assert set(segs["image_id"]) == {e for e in tables.read("source_images", {"dataset": "photos"})["image_id"]}
    assert segs["segmenter"].str.starts_with("facebook/mask2former-swin-large-ade-panoptic").all()
    assert segs["random_weights"].all() and segs["kept"].any()
    assert segs.group_by("image_id").agg(pl.col("kept").sum())["kept"].max() <= 2  # max_masks from the config
    mask_rows = tables.read("masks", {"dataset": "photos"})
    kept = segs.filter("kept")
    assert sorted(mask_rows["mask_id"]) == sorted(kept["segment_id"])
    assert (mask_rows["mask_source"] == "folder").all() and mask_rows["segmenter"].is_not_null().all()
    by_id = dict(zip(kept["segment_id"], kept["label"], strict=True))
    assert all(by_id[m] == label for m, label in zip(mask_rows["mask_id"], mask_rows["label"], strict=True))
    diversity = segs.filter(pl.col("label").is_not_null()).group_by("image_id").agg(pl.col("label").n_unique())
    expected = dict(zip(diversity["image_id"], diversity["label"], strict=True))
    assert all(expected[i] == d for i, d in zip(mask_rows["image_id"], mask_rows["scene_diversity"], strict=True))
    prompts = tables.read("perturbed_prompts", {"dataset": "photos"})
    assert set(prompts.filter(pl.col("mask_id").is_not_null())["mask_id"]) <= set(mask_rows["mask_id"])
    assert materialize([prompt_filters], resources=resources).success
    key = MultiPartitionKey({"dataset": "photos", "generator": "sd14"})
    assert materialize([generations], partition_key=key, resources=resources).success
    made = tables.read("generations", {"dataset": "photos", "generator": "sd14"})
    inpainted = made.filter(pl.col("method") == "inpainting")
    assert inpainted.height and set(inpainted["mask_id"]) <= set(mask_rows["mask_id"])

    again = materialize([segments], partition_key="photos", resources=resources)  # all done: nothing redone
    assert again.asset_materializations_for_node("segments")[0].metadata["segmented_this_run"].value == 0
    config["segments"]["max_masks"] = 1  # other filters: the partition is redone (from the cache)
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(config))
    one = ProjectResource(config_path=str(tmp_path / "one.yaml"), storage_root=project.storage_root)
    redone = materialize([segments], partition_key="photos", resources={**resources, "project": one})
    assert redone.asset_materializations_for_node("segments")[0].metadata["segmented_this_run"].value == 4
    assert tables.read("segments", {"dataset": "photos"}).group_by("image_id").agg(
        pl.col("kept").sum())["kept"].max() <= 1


def test_a_source_with_its_own_masks_gets_no_segments(project):
    from assets.segments import segments
    from resources import ModelsResource

    assert materialize([segments], partition_key="sample", resources={"project": project,
                                                                      "models": ModelsResource()}).success
    assert project.tables().read("segments", {"dataset": "sample"}).height == 0


@pytest.mark.parametrize("bad", [b"", b"not an image"])
def test_an_unreadable_photo_is_quarantined_and_the_rest_goes_on(bad, photos, tmp_path):
    from semitruths_dagster.config import SourceConfig
    from semitruths_dagster.sources import ingest_stage, list_source
    from semitruths_dagster.storage import ImageStore

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(bad)
    (folder / "good.png").write_bytes(next(photos.glob("*.png")).read_bytes())
    listing = list_source(SourceConfig("p", "folder", root=folder), tmp_path)
    rows, rejections = ingest_stage.ingest_images(listing, ImageStore(tmp_path / "store"))
    assert [r["image_id"] for r in rows] == ["good.png"]
    assert [(r.item_id, r.rule) for r in rejections] == [("broken.jpg", "file_not_empty" if not bad else "decodable")]


def test_the_report_breaks_recall_down_by_mask_source_and_segmenter():
    from semitruths_dagster.evaluation.stage import attribute_frame

    predictions = pl.DataFrame({"image_id": ["a", "a", "b", "b"], "dataset": ["photos", "photos", "sample", "sample"],
                                "generation_id": [None, "g1", None, "g2"], "label": [0, 1, 0, 1],
                                "score": [0.1, 0.9, 0.2, 0.8]})
    generations = pl.DataFrame({"generation_id": ["g1", "g2"], "dataset": ["photos", "sample"], "mask_id": ["a#0", "m"],
                                "method": ["inpainting"] * 2, "generator": ["sd14"] * 2, "magnitude": ["small"] * 2,
                                "original_text": ["car", "dog"], "prompt": ["bus", "cat"], "random_weights": [True] * 2})
    masks = pl.DataFrame({"mask_id": ["a#0", "m"], "image_id": ["a", "b"], "dataset": ["photos", "sample"],
                          "mask_source": ["folder", "embedded"], "segmenter": ["facebook/m2f", None],
                          "scene_diversity": [1, 1], "scene_complexity": [1, 1]})
    frame = attribute_frame(predictions, generations, pl.DataFrame(), masks).sort("image_id", "generation_id")
    assert frame["mask_source"].to_list() == ["folder", "folder", "embedded", "embedded"]
    assert frame["segmenter"].to_list() == [None, "facebook/m2f", None, None]
