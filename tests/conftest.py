"""Test settings: offline model hub, and a project configuration naming every test source.

The configuration must exist before `assets` is imported (partitions are read from it), so it is
written at import time; the broken source's files are made by the `broken_source` fixture.
"""

import os
import tempfile
from pathlib import Path

import pytest
import yaml

# No model hub in tests: a missing hub id must fail at once, not retry for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# Under pytest-xdist the workers share the cores: torch (and the processes tests start) take one share
# each instead of every core each. Set before torch is imported, so its thread pool starts at that size.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, CORES // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = (REPO / ".." / "shared" / "data" / "semitruths-sample").resolve()
SAMPLE_DATASETS = ["ADE20K", "CelebAHQ", "CityScapes", "HumanParsing", "OpenImages", "SUN_RGBD"]

_WORK = Path(tempfile.mkdtemp(prefix="semitruths-tests-"))
BROKEN_ROOT = _WORK / "broken"
RELEASED_ROOT = _WORK / "released"
NATIVE_ADE20K_ROOT = _WORK / "native_ade20k"
PHOTOS_ROOT = _WORK / "photos"  # `adapter: folder`: the embedded sample's photos, no masks (`photos` fixture)
TEST_CONFIG = _WORK / "semitruths.yaml"


def _write_test_config() -> None:
    sources = {"sample": {"adapter": "embedded"}, "broken": {"adapter": "standardized", "root": str(BROKEN_ROOT)},
               "released": {"adapter": "released", "root": str(RELEASED_ROOT)},
               "native_ade20k": {"adapter": "ade20k", "root": str(NATIVE_ADE20K_ROOT)},
               "photos": {"adapter": "folder", "root": str(PHOTOS_ROOT)}}
    for name in SAMPLE_DATASETS:
        sources[name] = {"adapter": "standardized", "root": str(SHARED_SAMPLE), "dataset": name}
    # Generation at the demo's tiny settings (semitruths.yaml `demo:`): random weights make noise at any
    # step count, and what the tests check (rows, links, seeds, resumes) does not depend on it.
    generation = {"tiny": yaml.safe_load((REPO / "semitruths.yaml").read_text())["demo"]["generation"]["tiny"]}
    TEST_CONFIG.write_text(yaml.safe_dump({"storage": {"root": "${SEMITRUTHS_STORAGE:-%s}" % (_WORK / "storage")},
                                           "sources": sources, "generation": generation}))


_write_test_config()
os.environ["SEMITRUTHS_CONFIG"] = str(TEST_CONFIG)

# The whole suite (`pytest` without paths) runs on one xdist worker per core, plus one, up to WORKERS: run
# one at a time, the tests keep only ~1.1 of 2 cores busy (single-threaded Python, process start-up), and
# the browser test spends most of its 5 minutes waiting for the backfill daemon's 30 s ticks.
WORKERS = 4
# Modules run whole on one worker (`--dist loadscope`: their module fixtures are built once), longest
# first, so the others fill in around them instead of one long module starting last.
LONGEST_FIRST = ["test_ui_browser.py", "test_scaleout_stack.py", "test_cli.py", "test_generations_assets.py", "test_robustness_assets.py",
                 "test_detectors_add_random.py", "test_detectors_assets.py", "test_gpu_benchmark.py"]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`pytest -q` (the README's command) runs on xdist workers; `-n 0`, `-p no:xdist` or naming test files
    runs in this one process, for a debugging loop."""
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    workers = min(CORES + 1, WORKERS)
    if (config.pluginmanager.hasplugin("xdist") and whole_suite and config.option.numprocesses is None
            and not os.environ.get("PYTEST_XDIST_WORKER")  # a worker itself: never start workers of its own
            and CORES > 1 and not config.option.collectonly and not config.option.usepdb):
        config.option.numprocesses = workers
        if config.option.dist == "no":
            config.option.dist = "loadscope"
            config.option.loadscopereorder = False  # keep LONGEST_FIRST's order


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order otherwise


@pytest.fixture
def project(tmp_path):
    """The project resource on the test configuration, with storage in this test's temp dir."""
    from resources import ProjectResource

    return ProjectResource(config_path=str(TEST_CONFIG), storage_root=str(tmp_path / "storage"))


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    if not (SHARED_SAMPLE / "metadata.csv").is_file():
        pytest.skip(f"real sample data not found at {SHARED_SAMPLE}")
    return SHARED_SAMPLE


@pytest.fixture(scope="session")
def broken_source() -> dict[str, str]:
    """A standardized-layout source with one item per rule; returns item id -> expected rule."""
    from tests.broken_inputs import make_broken_source

    return make_broken_source(BROKEN_ROOT)


@pytest.fixture(scope="session")
def native_ade20k():
    """ADE20K in its own format (tests/native_inputs.py), two good images and three broken ones."""
    from tests.native_inputs import write

    return write("ade20k", NATIVE_ADE20K_ROOT, 2)


@pytest.fixture(scope="session")
def photos() -> Path:
    """The embedded sample's four photos in a plain folder (one in a subfolder), with no mask or metadata."""
    import shutil

    from semitruths_dagster.sources.embedded import render_embedded_sample

    if not PHOTOS_ROOT.is_dir():
        rendered = render_embedded_sample(_WORK / "photos-render", dataset="photos")
        files = sorted((rendered / "images" / "photos").glob("*.png"))
        (PHOTOS_ROOT / "more").mkdir(parents=True)
        for i, path in enumerate(files):
            shutil.copy(path, PHOTOS_ROOT / ("more" if i == 0 else "") / path.name)
    return PHOTOS_ROOT


@pytest.fixture(scope="session")
def released_set(shared_sample):
    """A released-format evaluation set built from the shared sample (see tests/released_inputs.py)."""
    from tests.released_inputs import make_released_set

    return make_released_set(RELEASED_ROOT, shared_sample)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """One folder of tiny random-weight models (generators, CLIP, ...) for the whole session: built on first
    use by whichever test needs one, then loaded from disk by the others (building them is the slow part)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.mktemp("tiny-models")
    # One folder for all xdist workers (beside their own temp folders): models build atomically
    # (`hub.build_once`), so a worker finds the other's finished model or builds its own copy in place.
    shared = tmp_path_factory.getbasetemp().parent / "tiny-models"
    shared.mkdir(exist_ok=True)
    return shared


def share_tiny_models(storage_root: str | Path, tiny_models: Path) -> None:
    """Point `<storage_root>/models/tiny` (where a project builds its tiny models) at the session's folder."""
    models = Path(storage_root) / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "tiny").symlink_to(tiny_models, target_is_directory=True)
