"""What the Dagster UI shows, without a browser: every column described from one place (the README's text),
the random-weights warning first, report links served over HTTP, demo runs in the code location, a compact
registry cursor, a detector partition without a spec refused at once, one dataset's backfill slice."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, Failure, MultiPartitionKey, RunsFilter, job, materialize, op
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

REPO = Path(__file__).resolve().parents[1]


def test_every_column_of_every_table_has_a_description():
    from assets.common import column_schema
    from semitruths_dagster import columns

    tables = columns.fixed_schemas()
    assert set(tables) == set(columns.ASSETS) - {"leaderboard"}  # its columns come from its rows
    for table, names in tables.items():
        schema = column_schema(table, dict.fromkeys(names, pl.Utf8))
        assert [c.name for c in schema.columns] == names
        missing = [c.name for c in schema.columns if not c.description]
        assert not missing, f"{table}: {missing}"
    leaderboard = ["rank", "detector", "random_weights", "roc_auc", "roc_auc_low", "calibrated_fake_recall",
                   "default_balanced_accuracy", "worst_condition", "pasted_back_recall", "images_per_s"]
    assert all(columns.describe("leaderboard", c) for c in leaderboard)
    with pytest.raises(KeyError, match="'nonsense' of 'masks' has no description"):
        columns.describe("masks", "nonsense")


def test_the_readme_shows_the_same_table_and_column_text():
    from semitruths_dagster import columns

    readme = (REPO / "README.md").read_text()
    assert columns.readme_markdown() in readme, "README out of date: python -m semitruths_dagster.columns"


def test_the_random_weights_warning_is_the_first_metadata_row():
    from assets.common import warning_first

    metadata = {"dagster/row_count": 3, "preview": "x", "warning": "random weights"}
    assert list(warning_first(metadata)) == ["warning", "dagster/row_count", "preview"]
    assert list(warning_first({"a": 1})) == ["a"]


def test_report_links_point_at_the_report_server_which_serves_only_its_folder(tmp_path):
    from semitruths_dagster.report_server import make_server
    from semitruths_dagster.sections import ReportParams

    assert ReportParams(port=4000).url("npr/report.html") == "http://127.0.0.1:4000/npr/report.html"
    assert ReportParams(base_url="https://lab.example/reports/").url("leaderboard.html") == \
        "https://lab.example/reports/leaderboard.html"
    (tmp_path / "secret.txt").write_text("outside")
    root = tmp_path / "reports"
    (root / "npr").mkdir(parents=True)
    (root / "npr" / "report.html").write_text("<h1>npr report</h1>")
    server = make_server(root, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/npr/report.html", timeout=10) as response:
            assert response.read() == b"<h1>npr report</h1>"
            assert response.headers["Cache-Control"] == "no-store"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../secret.txt", timeout=10)
        with pytest.raises(urllib.error.HTTPError, match="501"):  # read-only
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/x", b"data", method="POST"))
    finally:
        server.shutdown()
        server.server_close()


def test_in_process_runs_get_the_code_locations_origin(tmp_path):
    """What `semitruths demo` does after each run: the UI's Overview lists runs by their origin."""
    from assets.demo_run import code_location_origin, tag_with_code_location

    @op
    def noop() -> None:
        pass

    @job
    def demo_like() -> None:
        noop()

    origin = code_location_origin("__repository__")
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = demo_like.execute_in_process(instance=instance, tags={REPOSITORY_LABEL_TAG: origin.get_label()})
        tag_with_code_location(instance, result.run_id, origin)
        run = instance.get_run_by_id(result.run_id)
        assert run.remote_job_origin.repository_origin.code_location_origin.location_name == "semitruths"
        assert run.remote_job_origin.job_name == "demo_like"
        found = instance.get_runs(RunsFilter(tags={REPOSITORY_LABEL_TAG: "__repository__@semitruths"}))
        assert [r.run_id for r in found] == [result.run_id]


def test_the_registry_cursor_holds_digests_not_spec_files(tmp_path):
    from semitruths_dagster.detectors.registry_review import read_cursor, review_registry
    from semitruths_dagster.detectors.verify import VerifyReport

    registry = tmp_path / "registry"
    registry.mkdir()
    padding = "# " + "a long comment line of a spec file\n# " * 200
    (registry / "broken.yaml").write_text(f"name: broken\nplugin: npr\n{padding}")  # no version, no weights
    review = review_registry(registry, {}, {}, verify=lambda spec: VerifyReport(spec.name))
    cursor = review.cursor()
    assert "long comment" not in cursor and len(cursor) < 400, cursor
    from semitruths_dagster.detectors.registry_review import digest

    seen, refused = read_cursor(cursor)
    assert seen == {str(registry / "broken.yaml"): digest((registry / "broken.yaml").read_text())}
    # A cursor of the previous form (whole file texts) reads as the same digests: nothing is re-verified.
    old = json.dumps({"seen": {"npr-random": "1:name: npr-random\n"}, "refused": {}})
    assert read_cursor(old)[0] == {"npr-random": digest("1:name: npr-random\n")}


def test_a_detector_partition_without_a_spec_fails_at_once_naming_the_registry(project):
    from assets.detectors import detector_predictions, registry_dir
    from resources import GpuResource

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["ghost"])  # what "Add a partition" in the UI does
    started = time.monotonic()
    with pytest.raises(Failure) as exc:
        materialize([detector_predictions], partition_key=MultiPartitionKey({"dataset": "sample", "detector": "ghost"}),
                    resources={"project": project, "gpu": GpuResource()}, instance=instance)
    assert time.monotonic() - started < 30
    text = exc.value.description
    assert "\n" not in text and "detector 'ghost' has no spec in the registry" in text
    assert str(registry_dir(project)) in text


def test_one_datasets_backfill_takes_its_partitions_and_no_other_datasets():
    from assets.backfill import dataset_slice
    from semitruths_dagster.config import load_config
    from semitruths_dagster.definitions import defs
    from semitruths_dagster.generation.stage import GenerationParams

    asset_graph = defs.get_repository_def().asset_graph
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["npr-random", "ufd-random"])
    chosen = dataset_slice(asset_graph, "sample", instance)
    by_asset: dict[str, set] = {}
    for item in chosen:
        by_asset.setdefault(item.asset_key.to_user_string(), set()).add(item.partition_key)
    config = load_config()
    generators = config.params("generation", GenerationParams).generators
    assert len(config.dataset_names) > 2
    assert by_asset["source_images"] == by_asset["masks"] == {"sample"}
    assert {k.keys_by_dimension["generator"] for k in by_asset["generations"]} == set(generators)
    assert {k.keys_by_dimension["dataset"] for k in by_asset["generations"] | by_asset["detector_predictions"]} \
        == {"sample"}
    assert by_asset["evaluation"] == {"npr-random", "ufd-random"}
    assert by_asset["prompt_filters"] == by_asset["bins"] == by_asset["leaderboard"] == {None}
    assert set(by_asset) == {k.to_user_string() for k in asset_graph.materializable_asset_keys}
