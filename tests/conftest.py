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

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = (REPO / ".." / "shared" / "data" / "semitruths-sample").resolve()
SAMPLE_DATASETS = ["ADE20K", "CelebAHQ", "CityScapes", "HumanParsing", "OpenImages", "SUN_RGBD"]

_WORK = Path(tempfile.mkdtemp(prefix="semitruths-tests-"))
BROKEN_ROOT = _WORK / "broken"
RELEASED_ROOT = _WORK / "released"
TEST_CONFIG = _WORK / "semitruths.yaml"


def _write_test_config() -> None:
    sources = {"sample": {"adapter": "embedded"}, "broken": {"adapter": "standardized", "root": str(BROKEN_ROOT)},
               "released": {"adapter": "released", "root": str(RELEASED_ROOT)}}
    for name in SAMPLE_DATASETS:
        sources[name] = {"adapter": "standardized", "root": str(SHARED_SAMPLE), "dataset": name}
    TEST_CONFIG.write_text(yaml.safe_dump({"storage": {"root": "${SEMITRUTHS_STORAGE:-%s}" % (_WORK / "storage")}, "sources": sources}))


_write_test_config()
os.environ["SEMITRUTHS_CONFIG"] = str(TEST_CONFIG)


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
def released_set(shared_sample):
    """A released-format evaluation set built from the shared sample (see tests/released_inputs.py)."""
    from tests.released_inputs import make_released_set

    return make_released_set(RELEASED_ROOT, shared_sample)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """One folder of tiny random-weight models (generators, CLIP, ...) for the whole session: built on first
    use by whichever test needs one, then loaded from disk by the others (building them is the slow part)."""
    return tmp_path_factory.mktemp("tiny-models")


def share_tiny_models(storage_root: str | Path, tiny_models: Path) -> None:
    """Point `<storage_root>/models/tiny` (where a project builds its tiny models) at the session's folder."""
    models = Path(storage_root) / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "tiny").symlink_to(tiny_models, target_is_directory=True)
