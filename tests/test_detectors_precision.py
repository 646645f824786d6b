"""Detectors score on the `gpu` resource's device, dtype and batch size, and every row says which."""

from __future__ import annotations

import polars as pl
import pytest
import torch
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.detectors import build_detector, random_spec
from tests.conftest import TEST_CONFIG


def test_fp16_on_the_cpu_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"gpu\.dtype: float16 on the CPU is refused.*bfloat16"):
        GpuResource(dtype="float16").scoring("cpu", 16)


def test_dtype_and_batch_size_come_from_the_gpu_resource():
    default = GpuResource().scoring("cpu", 16)
    assert (default.device.type, default.dtype, default.batch_size) == ("cpu", torch.float32, 16)  # auto: fp32
    bf16 = GpuResource(dtype="bf16", detector_batch_size=3).scoring("cpu", 16)
    assert (bf16.dtype, bf16.dtype_name, bf16.batch_size) == (torch.bfloat16, "bfloat16", 3)
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        GpuResource(detector_batch_size=-1).scoring("cpu", 16)


def test_the_dtype_is_part_of_the_cache_key_except_float32(tmp_path):
    spec = random_spec("npr", tmp_path)
    fp32, bf16 = build_detector(spec), build_detector(spec, dtype=torch.bfloat16)
    assert fp32.score_signature() == fp32.preprocessing_signature()  # float32 keys stay as they were
    assert bf16.score_signature().endswith("|dtype=bfloat16") and fp32.cache_key("a" * 64) != bf16.cache_key("a" * 64)
    assert next(bf16.model.parameters()).dtype == torch.bfloat16


@pytest.mark.slow  # materializes assets
def test_bf16_on_the_cpu_through_the_asset_scores_close_to_fp32_and_rows_record_it(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "sources": {"sample": {"adapter": "embedded"}},
        "detectors": {"registry": str(tmp_path / "registry"), "weights": str(tmp_path / "weights")}}
    (tmp_path / "semitruths.yaml").write_text(yaml.safe_dump(config))
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
    for dtype, batch in (("auto", 0), ("bfloat16", 3)):
        gpu = GpuResource(dtype=dtype, detector_batch_size=batch)
        result = materialize([detector_predictions], partition_key=key, resources=base | {"gpu": gpu},
                             instance=instance)
        metadata = result.asset_materializations_for_node("detector_predictions")[0].metadata
        rows = project.tables().read("detector_predictions", where).sort("image_id")
        assert rows.height == 4 and not rows["reused_from_cache"].any()  # bf16 keys differ: scored anew
        scores[dtype] = rows["score"].to_numpy()
        expected = {"auto": ("float32", 16), "bfloat16": ("bfloat16", 3)}[dtype]
        assert rows.select("dtype", "batch_size").unique().rows() == [expected]
        assert (rows["device"] == "cpu").all() and (rows["images_per_s"] > 0).all()
        assert metadata["dtype"].value == expected[0] and metadata["images_per_s"].value > 0
    assert scores["bfloat16"] == pytest.approx(scores["auto"], abs=0.01)  # bf16: ~3 significant digits
    assert (scores["bfloat16"] != scores["auto"]).any()  # really computed in another precision

    # a rerun in bf16 reuses every score and keeps the provenance of the run that computed it
    gpu = GpuResource(dtype="bfloat16", detector_batch_size=5)
    assert materialize([detector_predictions], partition_key=key, resources=base | {"gpu": gpu}, instance=instance).success
    rows = project.tables().read("detector_predictions", where)
    assert rows["reused_from_cache"].all() and rows.filter(pl.col("batch_size") != 3).is_empty()
