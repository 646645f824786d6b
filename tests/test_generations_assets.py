"""`generations` on the tiny profile: real diffusers pipelines on random weights, resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from dagster import MultiPartitionKey, materialize

from assets.generations import generations
from assets.masks import masks
from assets.prompts import perturbed_prompts, prompt_filters
from assets.sources import source_images
from resources import GpuResource, ModelsResource, ProjectResource
from tests.conftest import REPO, TEST_CONFIG, share_tiny_models

pytestmark = pytest.mark.slow  # materializes generations with tiny pipelines; a killed subprocess


@pytest.fixture(scope="module")
def upstream(tmp_path_factory, tiny_models) -> ProjectResource:
    """The embedded sample through source_images, masks, perturbed_prompts and prompt_filters."""
    project = ProjectResource(config_path=str(TEST_CONFIG), storage_root=str(tmp_path_factory.mktemp("gen") / "storage"))
    share_tiny_models(project.storage_root, tiny_models)
    resources = {"project": project, "models": ModelsResource()}
    assert materialize([source_images, masks, perturbed_prompts], partition_key="sample", resources=resources).success
    assert materialize([prompt_filters], resources=resources).success
    return project


def generate(project: ProjectResource, generator: str, force: bool = False):
    key = MultiPartitionKey({"dataset": "sample", "generator": generator})
    result = materialize([generations], partition_key=key, resources={"project": project, "gpu": GpuResource(), "models": ModelsResource()},
                         run_config={"ops": {"generations": {"config": {"force": force}}}})
    assert result.success
    return result.asset_materializations_for_node("generations")[0].metadata


def test_every_row_links_image_mask_prompt_seed_and_parameters(upstream):
    metadata = generate(upstream, "sd14")
    rows = upstream.tables().read("generations", {"dataset": "sample", "generator": "sd14"})
    kept = upstream.tables().read_all("prompt_filters").filter("kept")
    assert rows.height == kept.height  # sd14 does both methods: one image per kept request
    assert set(rows["method"]) == {"inpainting", "p2p"}
    assert rows.filter(pl.col("method") == "inpainting")["mask_id"].is_not_null().all()
    assert rows.filter(pl.col("method") == "p2p")["mask_id"].is_null().all()
    assert rows["generation_id"].is_unique().all() and rows["random_weights"].all()
    for column in ("seed", "steps", "guidance", "scheduler", "image_sha256", "params", "code_version"):
        assert rows[column].is_not_null().all(), column
    store = upstream.images()
    originals = upstream.tables().read("source_images", {"dataset": "sample"})
    sizes = dict(zip(originals["image_id"], zip(originals["width"], originals["height"], strict=True), strict=True))
    for row in rows.iter_rows(named=True):
        with store.open(row["image_path"]) as image:
            assert image.size == sizes[row["image_id"]]  # resized back to the original's size
    assert "thumbnails" in metadata and metadata["made_this_run"].value == rows.height

    again = generate(upstream, "sd14")  # a finished partition: nothing to do
    assert again["made_this_run"].value == 0 and again["already_done"].value == rows.height
    forced = generate(upstream, "sd14", force=True)
    assert forced["made_this_run"].value == rows.height
    redone = upstream.tables().read("generations", {"dataset": "sample", "generator": "sd14"})
    assert redone.sort("generation_id")["image_sha256"].equals(rows.sort("generation_id")["image_sha256"])  # seeded


def test_inpainting_only_generator_skips_p2p_requests(upstream):
    generate(upstream, "kandinsky22")
    rows = upstream.tables().read("generations", {"dataset": "sample", "generator": "kandinsky22"})
    assert set(rows["method"]) == {"inpainting"} and rows["pipeline"].str.contains("Kandinsky").all()


def test_killed_run_resumes_with_exactly_the_expected_rows(upstream):
    storage = Path(upstream.config().storage_root)
    env = dict(os.environ, SEMITRUTHS_CONFIG=str(TEST_CONFIG), SEMITRUTHS_STORAGE=str(storage),
               DAGSTER_HOME=str(storage.parent / "dagster_home"))
    subprocess.run([Path(sys.executable).parent / "semitruths", "env"], env=env, check=True, capture_output=True)
    cmd = [Path(sys.executable).parent / "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
           "--select", "generations", "--partition", "sample|sd15"]
    chunks = storage / "tables" / "generations" / "dataset=sample" / "generator=sd15" / "_chunks"
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(chunks.glob("chunk-*.parquet"))) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9, the run and its step process, mid-partition
    proc.wait()
    committed = len(list(chunks.glob("chunk-*.parquet")))
    assert committed >= 3, "the run should have committed a few chunks before the kill"
    assert not (chunks.parent / "part.parquet").exists()

    finished = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = upstream.tables().read("generations", {"dataset": "sample", "generator": "sd15"})
    kept = upstream.tables().read_all("prompt_filters").filter("kept")
    assert rows.height == kept.height and rows["generation_id"].is_unique().all()
    assert rows["request_id"].is_unique().all()
    assert "already done" in finished.stderr and f"{committed * 4} already done" in finished.stderr
    assert not list(chunks.glob("*"))  # chunks folded into part.parquet, leftovers removed
    for path in rows["image_path"]:
        assert upstream.images().abspath(path).is_file()
