"""Robustness and controls tables, and the report section with its figures."""

import math

import numpy as np
import polars as pl
import pytest

from semitruths_dagster.evaluation.robustness import (
    controls_table,
    draw_figures,
    response_curves,
    robustness_html,
    robustness_table,
    worst_condition,
)


def _frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for condition, shift in (("clean", 2.0), ("jpeg_q75", 0.5)):
        for label in (0, 1):
            for _i in range(100):
                score = 1 / (1 + np.exp(-(rng.normal(0, 1) + label * shift - 1)))
                rows.append({"condition": condition, "control": None, "label": label, "score": score,
                             "area_ratio": rng.uniform(0, 0.3) if label else None})
    for control, label, shift in (("pasted_back", 1, 0.0), ("vae_roundtrip", 0, 2.0)):
        for _ in range(50):
            rows.append({"condition": "clean", "control": control, "label": label,
                         "score": 1 / (1 + np.exp(-(rng.normal(0, 1) + shift - 1))), "area_ratio": None})
    return pl.DataFrame(rows, schema={"condition": pl.Utf8, "control": pl.Utf8, "label": pl.Int8,
                                      "score": pl.Float64, "area_ratio": pl.Float64})


def test_robustness_table_drops_from_clean_at_the_clean_threshold():
    table = robustness_table(_frame(), default_threshold=0.5, target_fpr=0.05)
    assert table["condition"] == ["clean", "jpeg_q75"]
    assert table["roc_auc_drop"][0] == 0.0
    assert table["roc_auc_drop"][1] == pytest.approx(table["roc_auc"][0] - table["roc_auc"][1])
    assert table["roc_auc_drop"][1] > 0.1  # the weaker condition separates worse
    assert worst_condition(table) == ("jpeg_q75", table["roc_auc"][1])


def test_controls_table_reads_like_the_confounds():
    table = controls_table(_frame(), target_fpr=0.05)
    rows = dict(zip(table["rows"], table["flagged_fake"], strict=True))
    assert set(rows) == {"real", "edits", "pasted_back", "vae_roundtrip"}
    assert rows["real"] <= 0.05
    # the made-up detector sees the VAE: round trips are flagged like edits, pasted-back edits are not
    assert rows["vae_roundtrip"] > 0.3 and rows["pasted_back"] < rows["edits"]
    assert all(table["meaning"]) and math.isnan(table["auroc_vs_real"][0])


def test_report_section_has_tables_and_figures(tmp_path):
    frame = _frame()
    table = robustness_table(frame, 0.5, 0.05)
    curves = response_curves(frame, threshold=0.5, n_boot=20, seed=0)
    assert set(curves) == {"area_ratio"}
    figures = draw_figures(frame, table, curves, tmp_path, random_weights=True)
    assert {"reliability", "robustness", "response_area_ratio"} <= set(figures)
    assert all(p.stat().st_size > 1000 for p in figures.values())
    page = robustness_html(table, controls_table(frame, 0.05), curves, figures, random_weights=True)
    assert "Robustness to post-processing" in page and "pasted_back" in page and "Random weights" in page


def test_evaluate_robustness_writes_summary_section_and_leaderboard_columns(tmp_path):
    from semitruths_dagster.evaluation.robustness import (
        append_to_report,
        evaluate_robustness,
        leaderboard_columns,
    )

    frame = _frame()
    attributes = frame.filter(pl.col("control").is_null() & (pl.col("condition") == "clean"))
    summary = evaluate_robustness(frame, attributes, 0.5, 0.05, 10, 0, tmp_path / "robustness", random_weights=True)
    assert summary["worst_condition"] == "jpeg_q75" and 0 <= summary["pasted_back_recall"] <= 1
    report = tmp_path / "report.html"
    report.write_text("<html><body><h1>x</h1></body></html>")
    assert summary["verdicts"][0].startswith("Worst condition: jpeg_q75, ROC-AUC ")
    verdicts = " ".join(summary["verdicts"])  # the made-up detector sees the VAE, not the edit
    assert "Pasted-back edits: " in verdicts and "responds to what this control removes" in verdicts
    assert "VAE round-tripped reals: " in verdicts and "responds to this processing" in verdicts
    report.write_text('<html><body><h1>x</h1><ul class="verdicts"><!-- verdicts --></ul></body></html>')
    append_to_report(report, summary["html"], summary["verdicts"])
    text = report.read_text()
    assert text.index("Controls: the edit or the pipeline?") < text.index("</body></html>")
    assert text.index(summary["verdicts"][0].split(",")[0]) < text.index("<details>")  # sentences in the summary
    columns = leaderboard_columns(tmp_path / "result.json")
    assert columns["worst_condition"] == "jpeg_q75"
    assert columns["pasted_back_recall"] == pytest.approx(summary["pasted_back_recall"])
    assert columns["vae_roundtrip_flagged"] == pytest.approx(summary["vae_roundtrip_flagged"])
    table = summary["robustness"]
    assert columns["worst_condition_roc_auc_drop"] == pytest.approx(table["roc_auc"][0] - table["roc_auc"][1])
    assert columns["tpr_at_1fpr"] == pytest.approx(table["tpr_at_1fpr"][0])
    for key in ("tpr_at_1fpr", "tpr_at_5fpr", "worst_condition_roc_auc_drop", "pasted_back_recall",
                "vae_roundtrip_flagged"):
        assert columns[f"{key}_lo"] <= columns[key] <= columns[f"{key}_hi"], key
    assert leaderboard_columns(tmp_path / "nowhere" / "result.json")["worst_condition"] is None


def test_by_bin_table_judges_each_bins_edits_against_every_real():
    from semitruths_dagster.evaluation.decision import decision_metrics
    from semitruths_dagster.evaluation.robustness import by_bin_table

    frame = _frame().filter(pl.col("control").is_null() & (pl.col("condition") == "clean")).with_columns(
        pl.when(pl.col("label") == 1).then(pl.when(pl.col("area_ratio") > 0.15).then(pl.lit("large"))
                                           .otherwise(pl.lit("small"))).alias("area_ratio_bin"))
    table = by_bin_table(frame, 0.5, 0.6)
    assert table["bin"] == ["small", "large"] and sum(table["n_fake"]) == 100  # levels in their natural order
    large = frame.filter((pl.col("label") == 0) | (pl.col("area_ratio_bin") == "large"))
    expected = decision_metrics(large["label"].to_numpy(), large["score"].to_numpy(), 0.5, 0.6)
    assert table["roc_auc"][1] == pytest.approx(expected["roc_auc"])
