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


def _separated():
    """Reals all below 0.45, fakes mostly above: no real is flagged at the default 0.5 (fp = 0)."""
    rng = np.random.default_rng(7)
    y = np.repeat([0, 1], 120)
    s = np.where(y == 1, rng.uniform(0.3, 1.0, y.size), rng.uniform(0.0, 0.45, y.size))
    levels = ["very_large", "large", "medium", "small", "very_small"]  # given in reverse, shown in order
    attrs = {"area_ratio_bin": np.where(y == 1, rng.choice(levels, y.size), None),
             "magnitude": np.where(y == 1, rng.choice(["large", "medium", "small"], y.size), None)}
    return evaluate_detector(y, s, attrs, detector="sep", n_boot=30, clusters=np.arange(y.size) % 60)


def _tables_after(parent, heading: str):
    """The table that follows the <h3> `heading` among `parent`'s elements."""
    kids = [c for c in parent.children if not isinstance(c, str)]
    return next(kids[i + 1] for i, c in enumerate(kids[:-1]) if c.tag == "h3" and c.text() == heading)


def test_report_opens_with_a_summary_then_folded_tables_counts_as_integers_levels_in_order(tmp_path):
    import re

    from semitruths_dagster.evaluation.robustness import append_to_report
    from tests.page_dom import parse, table_rows

    result = _separated()
    path = write_html_report(result, tmp_path / "sep.html", figures=False)
    append_to_report(path, "<h2>Robustness to post-processing</h2><table><tr><td>x</td></tr></table>",
                     ["Worst condition: jpeg_q75, ROC-AUC 0.6.", "Pasted-back edits: 10.0% flagged fake."])
    body = parse(path).find("body")
    blocks = [c for c in body.children if not isinstance(c, str)]
    tags = [b.tag for b in blocks]
    assert tags.index("section") < tags.index("details")  # the summary first, then the folded tables
    summary = body.find("section", id="summary")
    stats = summary.find("div", cls="stats").text()
    assert re.search(r"0\.\d{3}ROC-AUC \[0\.\d{3}, [01]\.\d{3}\]", stats)  # headline with its interval
    assert [li.text() for li in summary.find("ul", cls="verdicts").find_all("li")] == [
        "Worst condition: jpeg_q75, ROC-AUC 0.6.", "Pasted-back edits: 10.0% flagged fake."]
    heat = summary.find("table", cls="heatmap")
    assert [th.text() for th in heat.find_all("th", **{"data-attribute": "area_ratio_bin"})] == [
        "very_small", "small", "medium", "large", "very_large"]
    assert [th.text() for th in heat.find_all("th", cls="row")] == [
        f"{w} threshold {result.thresholds[w]:.3f}" for w in ("default", "calibrated")]
    for table in body.find_all("table"):  # every long table is folded
        assert table in summary.iter() or any(a.tag == "details" for a in table.ancestors())
    metrics = next(t for t in body.find_all("table") if table_rows(t)[0][:2] == ["metric", "default"])
    rows = {r[0]: r for r in table_rows(metrics)}
    assert rows["fp"][1] == "0"  # was 'tp 0.0000'
    for name in ("tp", "fp", "fn", "tn"):
        assert re.fullmatch(r"\d+", rows[name][1]) and re.fullmatch(r"\d+", rows[name][3])
    area = _tables_after(next(d for d in body.find_all("details") if "default threshold" in d.text()),
                         "area_ratio_bin")
    head, *lines = table_rows(area)
    assert [r[0] for r in lines] == ["very_small", "small", "medium", "large", "very_large"]
    for column in ("n_fake", "detected", "n_real", "flagged"):
        assert all(re.fullmatch(r"\d+", r[head.index(column)]) for r in lines)
    robustness = next(d for d in body.find_all("details") if "Robustness to post-processing" in d.text())
    assert robustness.find("summary").text().startswith("Robustness to post-processing")
