"""Materialize `perturbed_prompts` and `prompt_filters` on real slices of the graph."""

from __future__ import annotations

import polars as pl
import yaml
from dagster import materialize

from assets.masks import masks
from assets.prompts import perturbed_prompts, prompt_filters
from assets.sources import source_images
from resources import ModelsResource, ProjectResource
from tests.conftest import TEST_CONFIG

UPSTREAM = [source_images, masks, perturbed_prompts]


def project_with(tmp_path, **sections) -> ProjectResource:
    """The test configuration plus extra sections (e.g. prompts backends), storage in tmp_path."""
    config = yaml.safe_load(TEST_CONFIG.read_text()) | sections
    path = tmp_path / "semitruths.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return ProjectResource(config_path=str(path), storage_root=str(tmp_path / "storage"))


def run(project: ProjectResource, dataset: str):
    result = materialize(UPSTREAM, partition_key=dataset, resources={"project": project, "models": ModelsResource()})
    assert result.success
    return result


def test_rule_based_offline_default_gives_valid_edits_at_every_magnitude(project):
    result = run(project, "sample")
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["every_magnitude_valid"] and checks["valid_rows_pass_validation"] and checks["unique_request_ids"]
    rows = project.tables().read("perturbed_prompts", {"dataset": "sample"})
    eligible = project.tables().read("masks", {"dataset": "sample"})["eligible"].sum()
    inpainting = rows.filter(pl.col("method") == "inpainting")
    assert inpainting.height == 3 * eligible  # one request per eligible mask and magnitude
    assert rows.filter(pl.col("method") == "p2p").height == 3 * 4
    assert set(inpainting["edit_mode"]) == {"alter", "replace"}
    assert rows["valid"].all() and (rows["perturbed"] != rows["original"]).all()
    assert rows["template_version"].is_not_null().all() and rows["code_version"].is_not_null().all()
    # MiniLM runs on its real weights: similarity is a real number in [-1, 1] for every row.
    assert rows["sentence_model"].unique().to_list() == ["sentence-transformers/all-MiniLM-L6-v2"]
    assert rows["sentence_similarity"].is_between(-1, 1).all()
    # The CLIP of the tiny profile has random weights, and every row says so.
    assert rows["clip_random_weights"].all()
    metadata = result.asset_materializations_for_node("perturbed_prompts")[0].metadata
    assert {"by_magnitude", "by_backend", "by_rejection_reason"} <= set(metadata)


def test_same_seed_same_rows(tmp_path, project):
    run(project, "ADE20K")
    again = project_with(tmp_path / "again")
    run(again, "ADE20K")
    cols = ["request_id", "perturbed", "seed", "edit_mode"]
    first = project.tables().read("perturbed_prompts", {"dataset": "ADE20K"}).select(cols)
    second = again.tables().read("perturbed_prompts", {"dataset": "ADE20K"}).select(cols)
    assert first.equals(second)


def test_tiny_model_backends_run_the_real_code_end_to_end(tmp_path, shared_sample):
    project = project_with(tmp_path, prompts={"label_backend": "llava", "captioner": "blip",
                                              "caption_backend": "llm", "retries": 1})
    run(project, "HumanParsing")
    rows = project.tables().read("perturbed_prompts", {"dataset": "HumanParsing"})
    assert set(rows["backend"]) == {"llava", "llm"}
    assert rows["random_weights"].all()  # labelled: random-weight text means nothing
    assert rows["model_ref"].str.contains("tiny").all()
    # Every invalid output carries the reason of each failed attempt (retries=1: two attempts).
    invalid = rows.filter(~pl.col("valid"))
    assert (invalid["rejection_reasons"].list.len() >= 2).all()


def test_filters_use_cutoffs_over_every_dataset(project, shared_sample):
    for dataset in ("ADE20K", "CityScapes", "HumanParsing", "sample"):
        run(project, dataset)
    assert materialize([prompt_filters], resources={"project": project}).success
    filters = project.tables().read_all("prompt_filters")
    prompts = project.tables().read_all("perturbed_prompts")
    assert filters.height == prompts.height and set(filters["dataset"]) == {"ADE20K", "CityScapes", "HumanParsing", "sample"}
    assert (filters["rows_considered"] == prompts.height).all()
    assert filters["cutoff_source"].unique().to_list() == ["percentile"]
    # 5th-95th percentile window over the whole dataset drops about a tenth of the scored rows.
    dropped = filters.filter(pl.col("filter_reasons").list.len() > 0).height
    assert 0 < dropped < prompts.height // 4


def test_fixed_thresholds_replace_percentiles(tmp_path):
    project = project_with(tmp_path, prompts={"text_sim_bounds": [0.0, 0.5], "clipscore_min": 99.0})
    run(project, "sample")
    assert materialize([prompt_filters], resources={"project": project}).success
    filters = project.tables().read_all("prompt_filters").join(
        project.tables().read_all("perturbed_prompts").select("request_id", "clip_text_similarity", "clip_score"),
        on="request_id")
    assert filters["cutoff_source"].unique().to_list() == ["fixed"]
    inside = filters["clip_text_similarity"].is_between(0.0, 0.5)
    p2p_low = (pl.col("method") == "p2p") & (pl.col("clip_score") < 99.0)
    expected = filters.with_columns(expect=inside & ~filters.select(p2p_low).to_series())
    assert (expected["kept"] == expected["expect"]).all()
