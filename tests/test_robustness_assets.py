"""Conditions and controls through the graph: predictions per condition and control, only missing
triples scored, reports with robustness and controls tables, leaderboard columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from assets.controls import controls
from assets.detectors import detector_predictions, evaluation, leaderboard
from assets.generations import generations
from assets.masks import masks
from assets.prompts import perturbed_prompts, prompt_filters
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.detectors import write_random_detector
from tests.conftest import TEST_CONFIG, share_tiny_models
from tests.page_dom import parse

pytestmark = pytest.mark.slow  # end to end: sources to the leaderboard, with conditions and controls


def _project(root, names):
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "detectors": {"registry": str(root / "registry"), "weights": str(root / "weights"), "n_boot": 50,
                      "only_salient": False},
        "conditions": {"names": names}, "controls": {"limit": 2}}
    path = root / f"semitruths-{len(names)}.yaml"
    path.write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(path), storage_root=str(root / "storage"))
    return project, {"project": project, "models": ModelsResource(), "gpu": GpuResource()}


def test_conditions_and_controls_end_to_end(tmp_path, tiny_models):
    project, resources = _project(tmp_path, ["jpeg_q75"])
    share_tiny_models(project.storage_root, tiny_models)
    assert materialize([source_images, masks, perturbed_prompts], partition_key="sample", resources=resources).success
    assert materialize([prompt_filters], resources=resources).success
    key = MultiPartitionKey({"dataset": "sample", "generator": "sd14"})
    # no saliency or bins: only_salient is off, and the evaluation reads missing tables as empty
    assert materialize([generations, controls], partition_key=key, resources=resources).success
    made = project.tables().read_all("controls")
    assert set(made["control"]) == {"vae_roundtrip", "format_matched", "pasted_back", "resampled"}
    assert made.height == 8
    assert made.filter(pl.col("control") == "vae_roundtrip")["vae"].str.starts_with("tiny:").all()
    # the resampled reals went to the working size the generations ran at, and back
    resampled = made.filter(pl.col("control") == "resampled")
    worked = project.tables().read("generations", {"dataset": "sample", "generator": "sd14"})
    sizes = {r["image_id"]: r["working_size"] for r in worked.iter_rows(named=True)}
    assert resampled["resample_filter"].to_list() == ["pil_bicubic/pil_bicubic"] * resampled.height
    assert all(sizes[r["image_id"]] == r["working_size"] for r in resampled.iter_rows(named=True)
               if r["image_id"] in sizes)

    write_random_detector("npr", tmp_path / "registry", tmp_path / "weights")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["npr-random"])
    pkey = MultiPartitionKey({"dataset": "sample", "detector": "npr-random"})
    assert materialize([detector_predictions], partition_key=pkey, resources=resources, instance=instance).success
    rows = project.tables().read("detector_predictions", {"dataset": "sample", "detector": "npr-random"})
    per_condition = rows.group_by("condition").len().sort("condition")
    assert per_condition["condition"].to_list() == ["clean", "jpeg_q75"]
    assert per_condition["len"][0] == per_condition["len"][1] and rows.select("cache_key", "control").is_unique().all()
    n_per_condition = per_condition["len"][0]
    assert rows.filter(pl.col("control").is_not_null()).height == 2 * made.height

    # adding one condition scores only that condition's images
    project2, resources2 = _project(tmp_path, ["jpeg_q75", "resize_0.5"])
    again = materialize([detector_predictions], partition_key=pkey, resources=resources2, instance=instance)
    assert again.asset_materializations_for_node("detector_predictions")[0].metadata["scored_now"].value == \
        n_per_condition

    judged = materialize([evaluation], partition_key="npr-random", resources=resources2, instance=instance)
    assert judged.success
    row = project2.tables().read("evaluation", {"detector": "npr-random"}).row(0, named=True)
    report = Path(row["report_path"]).read_text()
    assert "Robustness to post-processing" in report and "Controls: the edit or the pipeline?" in report
    # intervals from the configured n_boot, in the report and beside the values in the UI's tables
    assert "from 50 cluster-bootstrap resamples" in report
    metadata = judged.asset_materializations_for_node("evaluation")[0].metadata
    assert "| roc_auc |" in metadata["robustness"].value and " [" in metadata["robustness"].value
    assert "difference" in metadata["controls"].value and "decision_by_bin" in metadata
    assert "resize_0.5" in report and "pasted_back" in report
    assert "Flags resampled reals as fake:" in report  # the resampled control, judged like the others
    assert materialize([leaderboard], resources=resources2, instance=instance).success
    board = project2.tables().read_all("leaderboard")
    assert board["worst_condition"][0] in ("clean", "jpeg_q75", "resize_0.5")
    assert 0 <= board["pasted_back_recall"][0] <= 1
    assert board["vae_roundtrip_flagged_lo"][0] <= board["vae_roundtrip_flagged"][0] <= board["vae_roundtrip_flagged_hi"][0]
    # the report's summary has the worst condition and every control's verdict; the leaderboard page links to it
    summary = parse(report).find("section", id="summary")
    verdicts = [li.text() for li in summary.find("ul", cls="verdicts").find_all("li")]
    assert verdicts[0].startswith(("Worst condition:", "No post-processing condition lowers"))
    assert any(v.startswith("Pasted-back edits: ") for v in verdicts) and len(verdicts) == 5
    page = project2.config().storage_root / "reports" / "leaderboard.html"
    links = [a.attrs["href"] for a in parse(page).find_all("a")]
    assert links and all((page.parent / href).resolve() == Path(row["report_path"]).resolve() for href in links)
    assert parse(page).find("table", cls="sortable").find("th", **{"data-key": "tpr_at_5fpr"})
