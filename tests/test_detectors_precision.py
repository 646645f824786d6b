"""Detectors score in their own precision (`detectors.dtype`, default: the authors'), never generation's (the
`gpu` resource's dtype); batch size from the `gpu` resource; every row says which."""

from __future__ import annotations

import polars as pl
import pytest
import torch
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.detectors import DETECTOR_PLUGINS, build_detector, random_spec
from semitruths_dagster.detectors.plugins.rine import MIXED
from tests.conftest import TEST_CONFIG


def test_fp16_on_the_cpu_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"detectors\.dtype: float16 on the CPU is refused.*bfloat16"):
        GpuResource().scoring("cpu", "float16", 16)


def test_precision_comes_from_detectors_dtype_not_from_generation():
    # generation in bfloat16 (the gpu resource) leaves the detectors in the authors' precision
    default = GpuResource(dtype="bfloat16").scoring("cpu", "authors", 16)
    assert (default.device.type, default.dtype, default.batch_size) == ("cpu", "authors", 16)
    bf16 = GpuResource(detector_batch_size=3).scoring("cpu", "bfloat16", 16)
    assert (bf16.dtype, bf16.batch_size) == (torch.bfloat16, 3)
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        GpuResource(detector_batch_size=-1).scoring("cpu", "authors", 16)
    with pytest.raises(ValueError, match=r"detectors\.dtype: expected one of authors"):
        GpuResource().scoring("cpu", "fp16", 16)


def test_the_authors_precision_is_float32_on_the_cpu_and_keys_stay_as_they_were(tmp_path):
    spec = random_spec("npr", tmp_path)
    authors, fp32, bf16 = (build_detector(spec, dtype=d) for d in ("authors", torch.float32, torch.bfloat16))
    assert authors.dtype_name == "float32" and next(authors.model.parameters()).dtype == torch.float32
    assert authors.cache_key("a" * 64) == fp32.cache_key("a" * 64)
    assert fp32.score_signature() == fp32.preprocessing_signature()  # float32 keys stay as they were
    assert bf16.score_signature().endswith("|dtype=bfloat16") and fp32.cache_key("a" * 64) != bf16.cache_key("a" * 64)
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert {cls.AUTHORS_PRECISION for name, cls in DETECTOR_PLUGINS.items() if name != "rine"} == {"float32"}


def test_rine_authors_precision_is_float32_on_the_cpu(tmp_path):
    det = build_detector(random_spec("rine", tmp_path), dtype="authors")  # clip.load casts to float on the CPU
    assert det.dtype_name == "float32" and {p.dtype for p in det.model.parameters()} == {torch.float32}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="RINE's mixed precision is the authors' on CUDA only")
def test_rine_authors_precision_on_cuda_is_a_float16_clip_with_a_float32_head(tmp_path):
    det = build_detector(random_spec("rine", tmp_path), device="cuda", dtype="authors")
    assert det.dtype_name == MIXED and det.score_signature().endswith(f"|dtype={MIXED}")
    assert {p.dtype for p in det.model.clip.parameters()} == {torch.float16}
    assert {p.dtype for p in det.model.head.parameters()} == {torch.float32}
    from PIL import Image

    assert 0.0 <= det.score([Image.new("RGB", (256, 256), (90, 120, 30))])[0] <= 1.0


@pytest.mark.slow  # materializes assets
def test_bf16_on_the_cpu_through_the_asset_scores_close_to_fp32_and_rows_record_it(tmp_path):
    def configure(dtype: str) -> None:  # the run reads the file when it starts
        config = yaml.safe_load(TEST_CONFIG.read_text()) | {
            "sources": {"sample": {"adapter": "embedded"}},
            "detectors": {"registry": str(tmp_path / "registry"), "weights": str(tmp_path / "weights"),
                          "dtype": dtype}}
        (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))

    configure("authors")
    project = ProjectResource(config_path=str(tmp_path / "semitruths.yaml"), storage_root=str(tmp_path / "storage"))
    from assets.detectors import detector_predictions
    from assets.masks import masks
    from assets.sources import source_images
    from semitruths_dagster.detectors import write_random_detector

    base = {"project": project, "models": ModelsResource()}
    assert materialize([source_images, masks], partition_key="sample", resources=base | {"gpu": GpuResource()}).success
    write_random_detector("npr", tmp_path / "registry", tmp_path / "weights")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", ["npr-random"])
    key, where = MultiPartitionKey({"dataset": "sample", "detector": "npr-random"}), {"dataset": "sample",
                                                                                      "detector": "npr-random"}
    scores = {}
    for dtype, batch in (("authors", 0), ("bfloat16", 3)):
        configure(dtype)
        gpu = GpuResource(dtype="bfloat16", detector_batch_size=batch)  # generation's dtype: not the detectors'

        result = materialize([detector_predictions], partition_key=key, resources=base | {"gpu": gpu},
                             instance=instance)
        metadata = result.asset_materializations_for_node("detector_predictions")[0].metadata
        rows = project.tables().read("detector_predictions", where).sort("image_id")
        assert rows.height == 4 and not rows["reused_from_cache"].any()  # bf16 keys differ: scored anew
        scores[dtype] = rows["score"].to_numpy()
        expected = {"authors": ("float32", 16), "bfloat16": ("bfloat16", 3)}[dtype]
        assert rows.select("dtype", "batch_size").unique().rows() == [expected]
        assert (rows["device"] == "cpu").all() and (rows["images_per_s"] > 0).all()
        assert metadata["dtype"].value == expected[0] and metadata["images_per_s"].value > 0
    assert scores["bfloat16"] == pytest.approx(scores["authors"], abs=0.01)  # bf16: ~3 significant digits
    assert (scores["bfloat16"] != scores["authors"]).any()  # really computed in another precision

    # a rerun in bf16 reuses every score and keeps the provenance of the run that computed it
    gpu = GpuResource(detector_batch_size=5)
    assert materialize([detector_predictions], partition_key=key, resources=base | {"gpu": gpu}, instance=instance).success
    rows = project.tables().read("detector_predictions", where)
    assert rows["reused_from_cache"].all() and rows.filter(pl.col("batch_size") != 3).is_empty()


def test_detectors_load_from_the_model_source_every_loader_takes(tmp_path):
    from semitruths_dagster.hub import ModelSource

    spec = random_spec("npr", tmp_path)
    bf16 = build_detector(spec, ModelSource(device="cpu", dtype="bfloat16"))
    assert (bf16.device.type, next(bf16.model.parameters()).dtype) == ("cpu", torch.bfloat16)
    assert bf16.cache_key("a" * 64) == build_detector(spec, dtype=torch.bfloat16).cache_key("a" * 64)
    # a source's default dtype 'auto' is the authors' precision (float32 for NPR), keyed as before
    auto = build_detector(spec, ModelSource(device="cpu"))
    assert auto.cache_key("a" * 64) == build_detector(spec).cache_key("a" * 64) and auto.dtype_name == "float32"
    with pytest.raises(TypeError, match="not both"):
        build_detector(spec, ModelSource(device="cpu"), dtype=torch.float32)
    with pytest.raises(TypeError, match="by keyword"):
        build_detector(spec, "cpu")
    with pytest.raises(ValueError, match=r"detectors\.dtype: float16 on the CPU is refused"):
        build_detector(spec, ModelSource(device="cpu", dtype="float16"))
    scoring = GpuResource(detector_batch_size=3).scoring(ModelSource(device="cpu", dtype="bfloat16"))
    assert (scoring.device.type, scoring.dtype, scoring.batch_size) == ("cpu", torch.bfloat16, 3)
    assert GpuResource().scoring(ModelSource(device="cpu"), default_batch_size=5).dtype == "authors"
    with pytest.raises(TypeError, match="its own dtype"):
        GpuResource().scoring(ModelSource(device="cpu"), "float32")
