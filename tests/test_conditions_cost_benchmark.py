"""benchmarks/conditions_cost.py (printed by benchmarks/evaluation.py): the judging rows and the table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "conditions_cost.py"


def _module():
    spec = importlib.util.spec_from_file_location("conditions_cost", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("conditions_cost", module)
    spec.loader.exec_module(module)
    return module


def test_judging_cost_rows_and_table(capsys):
    bench = _module()
    frame = bench.predictions(12)
    # a real and an edit per image under every condition, three controls per image
    assert frame.height == 12 * 2 * len(bench.CONDITIONS) + 3 * 12
    rows = bench.evaluation_rows(n_boot=20, images=12)
    assert [name for name, _ in rows] == ["judge: tables, no intervals", "judge: tables, + intervals, n_boot 20"]
    assert all(seconds > 0 for _, seconds in rows)
    bench.print_table([("condition clean", 1.0), ("condition jpeg_q75", 3.0), *rows], 64)
    out = capsys.readouterr().out
    assert "s / 1,000 images" in out and "(x   3.0 clean)" in out and "(x   1.0 no intervals)" in out
