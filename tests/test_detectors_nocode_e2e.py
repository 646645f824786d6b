"""The three detectors without code end to end, as a user adds them: `semitruths detector add <spec>` for a
tiny Hugging Face classifier saved in the hub layout, a tiny ONNX export and a Python script as the external
process; the `detector_registry` sensor's tick (through Dagster's API) requests their predictions and
refuses the bad specs (unknown label, wrong input shape, a process that dies) with one line naming the spec;
the requested runs write predictions, and the images the process failed on land in the quarantine."""

from __future__ import annotations

import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, SensorResult, build_sensor_context

from assets.detectors import detector_predictions, detector_registry
from assets.masks import masks
from assets.released import released_edits
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster import cli
from semitruths_dagster.detectors import load_spec, verify_spec
from tests.conftest import TEST_CONFIG
from tests.test_detectors_add_random import DATASET, mini_released_set, run
from tests.test_detectors_nocode import SmallCNN, export, save_vit, write_spec

pytestmark = pytest.mark.slow  # sensor + materialization

# Request 2 gets an error answer; request 4 kills the process once (then it is restarted).
SCRIPT = """
import json, os, sys
import numpy as np
from PIL import Image

print(json.dumps({"name": "brightness", "version": "2"}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req["id"] == "2":
        print(json.dumps({"id": req["id"], "error": "cannot decide"}), flush=True)
        continue
    if req["id"] == "4" and not os.path.exists(sys.argv[1]):
        open(sys.argv[1], "w").close()
        sys.exit(5)
    p = float(np.asarray(Image.open(req["path"]).convert("RGB"), dtype=np.float64).mean() / 255)
    print(json.dumps({"id": req["id"], "score": p}), flush=True)
"""


def test_detector_add_then_the_sensor_for_hf_onnx_and_command_detectors(tmp_path, monkeypatch):
    released = mini_released_set(tmp_path)
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "sources": {DATASET: {"adapter": "released", "root": str(released)}},
        "detectors": {"registry": str(tmp_path / "registry"), "weights": str(tmp_path / "weights")}}
    (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(tmp_path / "semitruths.yaml"))
    project = ProjectResource(config_path=str(tmp_path / "semitruths.yaml"), storage_root=str(tmp_path / "storage"))
    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    run([source_images, released_edits, masks], DATASET, resources, None)

    mine = tmp_path / "my-detectors"  # the user's folder: relative paths, as a spec is usually written
    mine.mkdir()
    save_vit(mine / "vit", {0: "real", 1: "fake"})
    export(SmallCNN(), mine / "cnn.onnx", (1, 3, 32, 32))
    (mine / "brightness.py").write_text(SCRIPT)
    (mine / "dies.py").write_text("import sys\nsys.exit('no model here')\n")
    good = {
        "hf-vit": {"plugin": "hf_image_classifier", "weights": {"model": "vit"}, "options": {"fake_labels": ["fake"]}},
        "onnx-cnn": {"plugin": "onnx", "weights": {"model": "cnn.onnx"}, "options": {"resize": 40, "crop": 32}},
        "cmd": {"plugin": "command", "weights": {"program": "brightness.py"},
                "options": {"command": ["{python}", "{program}", str(tmp_path / "crashed-once")], "timeout_s": 20}},
    }
    bad = {
        "hf-typo": ({"plugin": "hf_image_classifier", "weights": {"model": "vit"}, "options": {"fake_labels": ["Fake"]}},
                    "'Fake' is not a label of the model"),
        "onnx-64": ({"plugin": "onnx", "weights": {"model": "cnn.onnx"}, "options": {"crop": 64}},
                    "[N, 3, 64, 64]"),
        "cmd-dies": ({"plugin": "command", "weights": {"program": "dies.py"}, "options": {"command": ["{python}",
                     "{program}"]}}, "exited before its handshake"),
    }
    for name, data in [*good.items(), *((n, d) for n, (d, _) in bad.items())]:
        cli.main(["detector", "add", str(write_spec(mine, {"name": name, "version": "1", **data}))])

    instance = DagsterInstance.ephemeral()
    context = build_sensor_context(instance=instance, resources={"project": project})
    result = detector_registry(context)
    assert isinstance(result, SensorResult)
    assert sorted(r.partition_key for r in result.run_requests) == sorted(f"{DATASET}|{n}" for n in good)
    for request in result.dynamic_partitions_requests:
        if request.partition_keys and type(request).__name__.startswith("Add"):
            instance.add_dynamic_partitions("detectors", list(request.partition_keys))
    registry = tmp_path / "registry"
    for name, (_, words) in bad.items():  # the line the sensor refuses each with (it logs it and skips it)
        reason = verify_spec(load_spec(registry / f"{name}.yaml")).reason()
        assert words in reason and str(registry / f"{name}.yaml") in reason and "\n" not in reason, reason

    for request in result.run_requests:
        run([detector_predictions], request.partition_key, resources, instance)
    predictions = project.tables().read_all("detector_predictions")
    counts = dict(predictions.group_by("detector").len().iter_rows())
    assert set(counts) == set(good) and counts["hf-vit"] == counts["onnx-cnn"] == counts["cmd"] + 2
    assert predictions["score"].is_between(0, 1).all() and not predictions["random_weights"].any()
    assert predictions.group_by("detector").agg(pl.col("label").n_unique())["label"].to_list() == [2, 2, 2]
    assert predictions.filter(pl.col("detector") == "onnx-cnn")["crop_box"].drop_nulls().len() > 0  # mask-aware
    quarantined = project.tables().read_all("quarantine").filter(pl.col("stage") == "detector_predictions.cmd")
    assert quarantined["rule"].to_list() == ["detector_failed"] * 2
    messages = " ".join(quarantined["message"])
    assert "cannot decide" in messages and "exited with code 5" in messages
