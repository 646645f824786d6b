"""The demo console: exact-message warning filters, one line per stage, the demo settings overlay."""

from __future__ import annotations

import io
import logging
import warnings

import pytest
import yaml

from semitruths_dagster.config import DEMO_ENV, ConfigError, load_config
from semitruths_dagster.console import (
    HARMLESS_LOG_RECORDS,
    HARMLESS_WARNINGS,
    StageConsole,
    filter_harmless_warnings,
)
from semitruths_dagster.generation.stage import GenerationParams, plan
from semitruths_dagster.prompts.stage import largest_masks


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_only_the_listed_warnings_are_filtered():
    filter_harmless_warnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        filter_harmless_warnings()  # inside catch_warnings: its filters apply to this block
        for message, _why in HARMLESS_WARNINGS:
            warnings.warn(message + " (and the rest of it)", UserWarning, stacklevel=1)
        warnings.warn("Class `MultiToSingleDimensionPartitionMapping` is something else", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["Class `MultiToSingleDimensionPartitionMapping` is something else"]
    name, prefix, _why = HARMLESS_LOG_RECORDS[0]
    logger, collect = logging.getLogger(name), _Collect()
    logger.addHandler(collect)  # the logger's own filters run before any of its handlers
    try:
        logger.warning(prefix + " can lead to inconsistent results")
        logger.warning("There are modules in AutoencoderKL that should be kept in float32: ['x'].")
    finally:
        logger.removeHandler(collect)
    assert collect.messages == ["There are modules in AutoencoderKL that should be kept in float32: ['x']."]


def test_one_line_per_stage_with_rows_and_seconds():
    out = io.StringIO()
    console = StageConsole(total=2, out=out)
    with console.stage("generations,change_metrics") as rows:
        for _ in console.progress(range(3), "generations", 3):  # no terminal: no bar, nothing printed
            rows["generations"] = rows.get("generations", 0) + 2
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[1/2] generations,change_metrics") and lines[0].endswith("rows: generations 6")
    assert " s " in lines[0]


def test_demo_section_is_laid_over_only_for_the_demo(tmp_path, monkeypatch):
    path = tmp_path / "semitruths.yaml"
    path.write_text(yaml.safe_dump({"sources": {"s": {"adapter": "embedded"}}, "prompts": {"retries": 3},
                                    "demo": {"prompts": {"masks_per_image": 1}}}))
    monkeypatch.delenv(DEMO_ENV, raising=False)
    assert load_config(path).section("prompts") == {"retries": 3}
    monkeypatch.setenv(DEMO_ENV, "1")
    assert load_config(path).section("prompts") == {"retries": 3, "masks_per_image": 1}
    path.write_text(yaml.safe_dump({"sources": {"s": {"adapter": "embedded"}}, "demo": {"prompts": 1}}))
    with pytest.raises(ConfigError, match="'demo' must map section names"):
        load_config(path)


def test_largest_masks_per_image():
    masks = [{"image_id": "a", "mask_id": "a1", "area_ratio": 0.1}, {"image_id": "a", "mask_id": "a2", "area_ratio": 0.3},
             {"image_id": "b", "mask_id": "b1", "area_ratio": 0.2}, {"image_id": "a", "mask_id": "a3", "area_ratio": 0.3}]
    assert [m["mask_id"] for m in largest_masks(masks, 1)] == ["a2", "b1"]
    assert [m["mask_id"] for m in largest_masks(masks, 2)] == ["a2", "b1", "a3"]
    assert largest_masks(masks, None) == masks


def test_max_per_method_caps_each_method():
    prompts = [{"request_id": f"r{i}", "method": method, "valid": True, "image_id": "img", "mask_id": "m"}
               for i, method in enumerate(["inpainting", "p2p"] * 4)]
    kwargs = {"masks": {"m": "m.png"}, "images": {"img": "img.png"}, "generator": "sd14", "model_ref": "x", "seed": 0}
    assert len(plan(prompts, params=GenerationParams(), **kwargs)) == 8
    capped = plan(prompts, params=GenerationParams(max_per_method=2), **kwargs)
    assert [i.request["request_id"] for i in capped] == ["r0", "r1", "r2", "r3"]


def test_capped_plan_spreads_edits_over_images():
    """With a cap, the first edits of each method come from different images (the demo's variety)."""
    prompts = [{"request_id": f"{img}{i}", "method": "inpainting", "valid": True, "image_id": img, "mask_id": "m"}
               for img in ("a", "b", "c") for i in range(3)]
    kwargs = {"masks": {"m": "m.png"}, "images": {k: f"{k}.png" for k in "abc"}, "generator": "sd14",
              "model_ref": "x", "seed": 0}
    capped = plan(prompts, params=GenerationParams(max_per_method=4), **kwargs)
    assert [i.request["request_id"] for i in capped] == ["a0", "b0", "c0", "a1"]


def test_max_per_method_caps_instruction_edits():
    prompts = [{"request_id": f"r{i}", "method": "inpainting", "valid": True, "image_id": "img", "mask_id": "m",
                "original": "dog", "perturbed": "cat", "edit_mode": "replace", "magnitude": "small"}
               for i in range(4)]
    kwargs = {"masks": {"m": "m.png"}, "images": {"img": "img.png"}, "generator": "instruct_pix2pix",
              "model_ref": "x", "seed": 0}
    capped = plan(prompts, params=GenerationParams(generators=("instruct_pix2pix",), methods=("instruction",),
                                                   max_per_method=2), **kwargs)
    assert len(capped) == 2 and {i.method for i in capped} == {"instruction"}
