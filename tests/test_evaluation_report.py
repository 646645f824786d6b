"""HTML reports (self-contained; random-weight warning on the first line), figures, leaderboard."""

from __future__ import annotations

import numpy as np

from semitruths_dagster.evaluation import (
    evaluate_detector,
    leaderboard,
    leaderboard_markdown,
    make_figures,
    write_html_report,
    write_leaderboard_html,
)


def _result(name: str, random_weights: bool, skill: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 600
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + skill * y, 0.2), 0, 1)
    attrs = {
        "dataset": rng.choice(["ADE20K", "CityScapes"], n),
        "generator": np.where(y == 1, rng.choice(["StableDiffusion_v4", "OpenJourney"], n), None),
        "method": np.where(y == 1, rng.choice(["inpainting", "p2p"], n), None),
        "area_ratio_bin": np.where(y == 1, rng.choice(["small", "medium", "large"], n), None),
        "ssim_bin": np.where(y == 1, rng.choice(["small", "large"], n), None),
        "localization": np.where(y == 1, rng.choice(["localized", "diffused"], n), None),
        "original_label": np.where(y == 1, rng.choice(["cat", "dog"], n), None),
        "perturbed_label": np.where(y == 1, rng.choice(["tree", "bus"], n), None),
    }
    return evaluate_detector(y, s, attrs, detector=name, random_weights=random_weights, n_boot=50)


def test_random_weights_report_says_so_on_first_line(tmp_path):
    path = write_html_report(_result("npr-random", True), tmp_path / "npr.html")
    text = path.read_text()
    first = text.splitlines()[0]
    assert "RANDOM WEIGHTS" in first and "ran with random weights" in first and "npr-random" in first
    assert text.count("data:image/png;base64,") >= 5  # bins, dataset, generator, method, ROC, PR
    assert 'src="http' not in text and "<link" not in text  # self-contained
    assert "cat -&gt; tree" in text or "cat -> tree" in text


def test_real_weights_report_has_no_warning(tmp_path):
    text = write_html_report(_result("ufd", False), tmp_path / "ufd.html").read_text()
    assert "random weights" not in text.lower()


def test_figures_written(tmp_path):
    paths = make_figures(_result("ufd", False), tmp_path)
    assert set(paths) == {
        "recall_by_bin",
        "recall_by_dataset",
        "recall_by_generator",
        "recall_by_method",
        "roc",
        "pr",
    }
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths.values())


def test_leaderboard_one_row_per_detector_both_thresholds(tmp_path):
    results = [
        _result("weak", False, 0.05, 1),
        _result("strong", False, 0.4, 2),
        _result("rand", True, 0.0, 3),
    ]
    table = leaderboard(results)
    assert table["detector"][0] == "strong" and len(table["detector"]) == 3
    assert table["roc_auc"] == sorted(table["roc_auc"], reverse=True)
    for col in ("default_threshold", "calibrated_threshold", "default_fake_recall", "calibrated_fake_recall"):
        assert len(table[col]) == 3
    assert table["random_weights"][table["detector"].index("rand")] is True
    md = leaderboard_markdown(table)
    assert md.count("\n") == 4 and "| strong |" in md
    first = write_leaderboard_html(table, tmp_path / "lb.html").read_text().splitlines()[0]
    assert "RANDOM WEIGHTS" in first
