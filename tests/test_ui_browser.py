"""The Dagster UI in a real browser (Playwright driving Debian's chromium, no browser download) on a tiny
project with two sources: the asset graph, one partition materialized from its asset page, a demo-style
run in the Overview, one dataset backfilled through the whole graph with the `backfill_dataset` job (the
other dataset's partitions untouched), the evaluation report and the leaderboard opened from their assets'
links. Screenshots go to $SEMITRUTHS_UI_SHOTS (default: <pytest temp>/ui-screenshots); the path is printed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ui_stack import CHROMIUM, CHROMIUM_ARGS, DETECTOR, Stack, ui_stack

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} missing (apt-get install chromium)")]
playwright = pytest.importorskip("playwright.sync_api")
# The whole graph for one dataset: ~7 runs, each a process importing the code location and loading its tiny
# models. Measured 6-8 min on 2 cores shared with other jobs (load ~15); far less on 2 free cores.
BACKFILL_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_models):
    with ui_stack(tmp_path_factory.mktemp("ui"), tiny_models) as s:
        yield s


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SEMITRUTHS_UI_SHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def page(stack):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()


def instance(stack: Stack):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(stack.home))


def pick_partition(page, name: str, close_on: str | None = None) -> None:
    """Dagster's partition picker in the open dialog: filter by `name`, tick it, close the list (Escape, or
    a click on the text `close_on` where Escape would close the whole dialog)."""
    page.get_by_text("Select a partition or create one").click()
    page.keyboard.type(name)
    page.locator(".dagster-popover span", has_text=name).first.click()
    if close_on:
        page.locator(".dagster-dialog").get_by_text(close_on).first.click()
    else:
        page.keyboard.press("Escape")
    page.locator(".dagster-popover").wait_for(state="detached")  # the list faded: a clean screenshot


def wait_for(check, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout} s")


def test_the_ui_end_to_end(stack, page, shots):
    try:
        _walk_through(stack, page, shots)
    except Exception:
        page.screenshot(path=shots / "failure.png", full_page=True)
        print((stack.root / "dagster_dev.log").read_text()[-4000:])
        raise


def _walk_through(stack, page, shots):
    from dagster import AssetKey, DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus

    # 1. The asset graph.
    page.goto(f"{stack.ui}/asset-groups", wait_until="networkidle")
    page.get_by_text("Global asset lineage").first.wait_for()
    for group in ("sources", "prompts", "generation", "metrics", "detectors"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=shots / "01_asset_graph.png")

    # 2. A demo-style run (in process, as `semitruths demo` makes them) shows in the Overview. It makes the
    # upstream of `masks` (its source and its automatic segments, empty for an embedded source), so that
    # step 3's dialog asks nothing more.
    subprocess.run([sys.executable, "-c", "from assets.demo_run import materialize_steps; "
                    "from semitruths_dagster.console import StageConsole; "
                    "materialize_steps([('source_images,segments', ['sample'])], StageConsole(1))"],
                   env=stack.env, check=True, capture_output=True, cwd=Path(__file__).parents[1])
    runs = stack.graphql("{ runsOrError { ... on Runs { results { runId repositoryOrigin { repositoryLocationName } } } } }")
    assert [r["repositoryOrigin"] for r in runs["runsOrError"]["results"]] == [{"repositoryLocationName": "semitruths"}]
    page.goto(f"{stack.ui}/overview/activity/timeline", wait_until="networkidle")
    page.get_by_text("Jobless asset materializations").first.wait_for(timeout=60_000)  # in the code location's rows
    page.screenshot(path=shots / "02_overview_demo_run.png")

    # 3. One partition materialized from the asset's page.
    page.goto(f"{stack.ui}/assets/masks", wait_until="networkidle")
    page.get_by_role("button", name="Materialize…").first.click()
    pick_partition(page, "sample")
    page.screenshot(path=shots / "03_materialize_one_partition.png")
    page.locator(".dagster-dialog").get_by_role("button", name="Launch 1 run").click()
    wait_for(lambda: instance(stack).get_materialized_partitions(AssetKey("masks")) == {"sample"}, 300,
             "masks [sample] materialized")
    page.goto(f"{stack.ui}/assets/masks", wait_until="networkidle")
    page.get_by_text("Columns", exact=True).first.wait_for()  # the schema, with each column's description
    page.get_by_text(_describe("masks", "eligible")).first.wait_for()
    page.screenshot(path=shots / "04_masks_schema.png", full_page=True)

    # 4. One dataset through the whole graph: the backfill_dataset job, partition `sample`.
    page.goto(f"{stack.ui}/locations/semitruths/jobs/backfill_dataset/partitions", wait_until="networkidle")
    page.get_by_role("button", name="Launch backfill…").first.click()
    pick_partition(page, "sample", close_on="Launch backfill_dataset backfill")  # the title: never under the list
    page.screenshot(path=shots / "05_backfill_dataset_dialog.png")
    page.locator(".dagster-dialog").get_by_role("button", name="Submit 1 run").click()
    backfill = wait_for(lambda: next((b for b in instance(stack).get_backfills()
                                      if b.tags.get("semitruths/dataset") == "sample"), None), 60, "backfill submitted")
    done = wait_for(lambda: (b := instance(stack).get_backfill(backfill.backfill_id)).status != BulkActionStatus.REQUESTED
                    and b, BACKFILL_TIMEOUT_S, "backfill finished", interval=3)
    failed = instance(stack).get_run_records(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert done.status == BulkActionStatus.COMPLETED_SUCCESS and not failed, (done.status, [r.dagster_run.run_id for r in failed])
    page.goto(f"{stack.ui}/runs/b/{backfill.backfill_id}", wait_until="networkidle")
    page.screenshot(path=shots / "06_backfill_done.png", full_page=True)
    store = instance(stack)
    for key in ("source_images", "masks", "perturbed_prompts", "generations", "change_metrics", "detector_predictions"):
        parts = store.get_materialized_partitions(AssetKey(key))
        assert parts and all("other" not in p for p in parts), (key, parts)  # the other dataset untouched
        assert all("sample" in p for p in parts), (key, parts)
    assert store.get_materialized_partitions(AssetKey("evaluation")) == {DETECTOR}

    # 5. The evaluation report, one click from its asset (the warning is its first metadata row).
    report = open_from_asset(page, f"{stack.ui}/assets/evaluation?partition={DETECTOR}",
                             f"{stack.reports}/{DETECTOR}/report.html", shots, "07_evaluation_asset", "08_evaluation_report")
    assert DETECTOR in report

    # 6. The leaderboard page, one click from the leaderboard asset.
    board = open_from_asset(page, f"{stack.ui}/assets/leaderboard", f"{stack.reports}/leaderboard.html", shots,
                            "09_leaderboard_asset", "10_leaderboard")
    assert DETECTOR in board

    # Every column of every materialized table has its description (leaderboard's come from its rows).
    for key in ("leaderboard", "evaluation", "detector_predictions"):
        event = store.get_latest_materialization_event(AssetKey(key))
        schema = event.asset_materialization.metadata["dagster/column_schema"].schema
        assert all(c.description for c in schema.columns), [c.name for c in schema.columns if not c.description]


def open_from_asset(page, asset_url: str, link: str, shots: Path, asset_shot: str, page_shot: str) -> str:
    """Open an asset's page, click its link `link` (a new tab), screenshot both; returns the tab's HTML."""
    page.goto(asset_url, wait_until="networkidle")
    anchor = page.get_by_role("link", name=link).first
    anchor.wait_for()
    page.screenshot(path=shots / f"{asset_shot}.png", full_page=True)
    with page.context.expect_page() as opened:
        anchor.click()
    tab = opened.value
    tab.wait_for_load_state()
    content = tab.content()
    tab.screenshot(path=shots / f"{page_shot}.png", full_page=True)
    tab.close()
    return content


def _describe(table: str, column: str) -> str:
    from semitruths_dagster.columns import describe

    return describe(table, column)
