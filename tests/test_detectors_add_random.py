"""`semitruths detector add-random <plugin>` for every registered plugin, then what the daemon of `semitruths ui`
does: the `detector_registry` sensor's tick (evaluated through Dagster's own API) adds the partition and
requests the predictions, the requested runs execute, the `evaluation_automation` conditions request the
evaluation and then the leaderboard, and each evaluated detector has its report.

Kept cheap: a released-format set of the embedded sample at 128 px (4 real images, 12 edits, no
generation), 20 bootstrap resamples. About 100 s for all 25 plugins beside the rest of the suite on 2 cores.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import (
    AssetSelection,
    DagsterInstance,
    SensorResult,
    build_sensor_context,
    evaluate_automation_conditions,
)
from dagster import materialize as dagster_materialize
from PIL import Image

from assets.detectors import detector_predictions, detector_registry, evaluation, leaderboard
from assets.masks import masks
from assets.released import released_edits
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster import cli
from semitruths_dagster.detectors import DETECTOR_PLUGINS
from semitruths_dagster.sources.embedded import render_embedded_sample
from tests.conftest import TEST_CONFIG
from tests.released_inputs import make_released_set

pytestmark = pytest.mark.slow  # the sensor + materialization path of every plugin

DATASET = "released"  # a dataset partition of the test configuration
SIDE = 128  # of the images scored (the embedded sample's are 512 px)


def mini_released_set(root: Path) -> Path:
    """A released-format set of the embedded sample: one mask per image, three edits per image."""
    sample = render_embedded_sample(root / "embedded")
    one = root / "one-mask-each"
    # At a quarter of their side: the map-output detectors (PSCC-Net, TruFor, ...) run at the image's own
    # size, and at 512 px they took most of this test's time; every plugin's path is the same at 128 px.
    for folder, resample in (("images", Image.BILINEAR), ("masks", Image.NEAREST)):
        for path in (sample / folder).rglob("*.png"):
            target = one / path.relative_to(sample)
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.open(path).resize((SIDE, SIDE), resample).save(target)
    with open(sample / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = {r["image_id"]: r for r in reversed(rows)}  # the first row of each image
    with open(one / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(sorted(first.values(), key=lambda r: r["image_id"]))
    make_released_set(root / "released", one)
    return root / "released"


def run(selection, key, resources, instance) -> None:
    """One requested run, as the daemon's run worker would execute it (same assets, partition, instance)."""
    result = dagster_materialize(selection, partition_key=key, resources=resources, instance=instance,
                                 raise_on_error=False)
    failures = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, f"{[a.key.to_user_string() for a in selection]} {key}: {failures}"


def test_add_random_then_the_daemons_sensor_and_automation_for_every_plugin(tmp_path, monkeypatch):
    released = mini_released_set(tmp_path)
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "sources": {DATASET: {"adapter": "released", "root": str(released)}},
        "detectors": {"registry": str(tmp_path / "registry"), "weights": str(tmp_path / "weights"), "n_boot": 20}}
    (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(tmp_path / "semitruths.yaml"))  # what the CLI reads
    project = ProjectResource(config_path=str(tmp_path / "semitruths.yaml"), storage_root=str(tmp_path / "storage"))
    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    run([source_images, released_edits, masks], DATASET, resources, None)

    instance = DagsterInstance.ephemeral()
    from semitruths_dagster.definitions import defs  # the code location the daemon evaluates

    automation = AssetSelection.assets(evaluation, leaderboard)
    cursor = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=automation).cursor
    context = build_sensor_context(instance=instance, resources={"project": project})
    assert not isinstance(detector_registry(context), SensorResult)  # an empty registry: nothing to do

    names = {}
    for plugin in sorted(DETECTOR_PLUGINS):
        cli.main(["detector", "add-random", plugin])
        names[plugin] = f"{plugin.replace('_', '-')}-random"
    # Ticks until every spec is verified (a tick stops starting verifications after its time budget).
    sensor_cursor, requests, ticks = context.cursor, [], 0
    while len(requests) < len(names) and ticks < 5:
        context = build_sensor_context(instance=instance, cursor=sensor_cursor, resources={"project": project})
        result = detector_registry(context)
        ticks += 1
        sensor_cursor = context.cursor
        if isinstance(result, SensorResult):
            sensor_cursor = result.cursor
            for request in result.dynamic_partitions_requests:  # what the daemon applies
                if request.partition_keys and type(request).__name__.startswith("Add"):
                    instance.add_dynamic_partitions("detectors", list(request.partition_keys))
            requests += result.run_requests
    assert sorted(r.partition_key for r in requests) == sorted(f"{DATASET}|{n}" for n in names.values())
    assert set(instance.get_dynamic_partitions("detectors")) == set(names.values())

    for request in requests:
        run([detector_predictions], request.partition_key, resources, instance)
    predictions = project.tables().read_all("detector_predictions")
    assert predictions.group_by("detector").agg(pl.col("label").n_unique())["label"].to_list() == [2] * len(names)
    assert predictions.select("device", "dtype").unique().rows() == [("cpu", "float32")]
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=automation, cursor=cursor)
    requested = result.get_requested_partitions(evaluation.key)
    assert set(requested) == set(names.values())  # every plugin's, once its predictions landed

    for name in sorted(requested):
        run([evaluation], name, resources, instance)
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=automation,
                                            cursor=result.cursor)
    assert result.get_num_requested(leaderboard.key) == 1  # the leaderboard follows
    run([leaderboard], None, resources, instance)

    for name in names.values():
        report = project.tables().read("evaluation", {"detector": name}).row(0, named=True)["report_path"]
        text = Path(report).read_text()
        assert "random weights" in text.split("<body>", 1)[-1][:600].lower(), name
    board = project.tables().read_all("leaderboard")
    assert set(board["detector"]) == set(names.values())
