"""benchmarks/evaluation.py: the project's side of the comparison does exactly the notebook-style
baseline's work, and gives the same numbers (overall, per group of every attribute, per edit pair)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semitruths_dagster.evaluation import prepare_table

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluation.py"


def _module():
    spec = importlib.util.spec_from_file_location("evaluation_benchmark", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("evaluation_benchmark", module)
    spec.loader.exec_module(module)
    return module


def test_project_does_the_baselines_work_with_the_same_numbers():
    bench = _module()
    y, cols = bench.synthetic_rows(200, seed=2)
    scores = bench.synthetic_scores(y, 3, seed=2)
    frame = pd.DataFrame({"y": y.astype(int), **cols, "score": scores})
    group_cols = [c for c in cols if c not in ("original_label", "perturbed_label")]
    base = bench.baseline_detector(frame, "y", "score", group_cols, ("original_label", "perturbed_label"))
    ours = bench.project_baseline_work(y, scores, prepare_table(y, cols))
    for name in ("accuracy", "roc_auc", "average_precision"):
        assert ours[name] == pytest.approx(base[name], abs=1e-12)
    assert (ours["fake_precision"], ours["fake_recall"], ours["fake_f1"]) == pytest.approx(
        (base["precision"], base["recall"], base["f1"]), abs=1e-12)
    tn, fp, fn, tp = base["confusion"].ravel()
    assert (ours["tn"], ours["fp"], ours["fn"], ours["tp"]) == (tn, fp, fn, tp)
    assert set(ours["breakdowns"]) == set(group_cols)
    for col in group_cols:
        table = ours["breakdowns"][col]
        expected = base[col]
        assert sorted(table["value"]) == sorted(expected.index)  # pandas sorts by name, the project in level order
        expected = expected.reindex(list(table["value"]))
        np.testing.assert_allclose(table["recall"], [r for r, _ in expected], equal_nan=True)
        np.testing.assert_allclose(table["fpr"], [f for _, f in expected], equal_nan=True)
    pairs = ours["pairs"]
    recall = dict(zip(pairs["pair"], pairs["recall"], strict=True))
    assert len(recall) == len(base["pairs"])
    for (orig, pert), value in base["pairs"].items():
        assert recall[f"{orig} -> {pert}"] == pytest.approx(value)
