"""benchmarks/sources.py at the fixtures' tiny size: a row for every raw adapter and its baseline."""

from __future__ import annotations

import runpy
import sys

from tests.conftest import REPO
from tests.native_inputs import WRITERS


def test_sources_benchmark_prints_every_adapter_beside_its_baseline(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sources.py", "--images", "1", "--masks", "3", "--workers", "2", "--small",
                                      "--segmenter", "1", "--segmenter-size", "48"])
    runpy.run_path(str(REPO / "benchmarks" / "sources.py"), run_name="__main__")
    out = capsys.readouterr().out
    for adapter in WRITERS:
        assert f"| {adapter} | 1 |" in out and f"| {adapter}: standardized twin (baseline) | 1 |" in out
    assert "27,600 images and 223,400 masks" in out
    assert "| Mask2Former (tiny) (baseline) |" in out and "| Mask2Former + SAM refine (tiny) |" in out
