"""The leaderboard page, read as a browser would (stdlib html.parser): red random-weights warning first,
a sortable table with the columns a reader ranks by (intervals beside values, counts as integers), the
forest plot, the recall heatmap in natural level order, relative links that open the reports, and the
column-provider extension point."""

from __future__ import annotations

import re
from urllib.parse import unquote

import numpy as np

from semitruths_dagster.evaluation import evaluate_detector, write_html_report
from semitruths_dagster.evaluation.leaderboard import (
    ROBUSTNESS,
    Column,
    ColumnProvider,
    leaderboard,
    leaderboard_markdown,
    provider_values,
    text_columns,
    write_leaderboard_html,
)
from semitruths_dagster.metrics.bins import LEVELS
from tests.page_dom import parse, table_rows

NEEDED = ("rank", "detector", "random_weights", "roc_auc", "average_precision", "calibrated_balanced_accuracy",
          "tpr_at_1fpr", "tpr_at_5fpr", "worst_condition", "worst_condition_roc_auc_drop", "pasted_back_recall",
          "vae_roundtrip_flagged", "images_per_s", "n_rows")
INTEGER = re.compile(r"^\d+$")


def _result(name: str, random_weights: bool, skill: float, seed: int):
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + skill * y, 0.2), 0, 1)
    fake = y == 1
    attrs = {
        "dataset": rng.choice(["ADE20K", "CityScapes"], n),
        "area_ratio_bin": np.where(fake, rng.choice(list(LEVELS[5]), n), None),
        "magnitude": np.where(fake, rng.choice(["large", "small", "medium"], n), None),
        "localization": np.where(fake, rng.choice(["diffused", "localized"], n), None),
        "method": np.where(fake, rng.choice(["p2p", "inpainting"], n), None),
        "generator": np.where(fake, rng.choice(["OpenJourney", "StableDiffusion_v4"], n), None),
    }
    return evaluate_detector(y, s, attrs, detector=name, random_weights=random_weights, n_boot=30,
                             clusters=np.arange(n) // 2)


def _board(tmp_path, random: bool = True, providers=None):
    results = [_result("weak", False, 0.05, 1), _result("strong one", False, 0.4, 2)]
    if random:
        results.append(_result("rand", True, 0.0, 3))
    reports = {r.detector: write_html_report(r, tmp_path / "reports" / r.detector / "report.html", figures=False)
               for r in results}
    table = leaderboard(results)
    rows = [{k: table[k][i] for k in table} | provider_values(tmp_path / "reports" / name / "result.json", providers)
            | {"images_per_s": 12.5 + i} for i, name in enumerate(table["detector"])]
    table = {k: [r[k] for r in rows] for k in rows[0]}
    page = write_leaderboard_html(table, tmp_path / "reports" / "leaderboard.html", results, reports,
                                  providers=providers)
    return table, page


def test_random_weights_warning_first_and_red(tmp_path):
    table, page = _board(tmp_path)
    text = page.read_text()
    assert "RANDOM WEIGHTS" in text.splitlines()[0]
    body = parse(page).find("body")
    first = next(c for c in body.children if not isinstance(c, str))
    assert first.tag == "p" and "banner" in first.attrs["class"]
    assert "RANDOM WEIGHTS" in first.text() and "rand" in first.text()
    assert re.search(r"background:\s*#c00", first.attrs["style"]) and "color:#fff" in first.attrs["style"]
    _, clean = _board(tmp_path / "clean", random=False)
    assert not parse(clean).find_all(cls="banner") and "RANDOM WEIGHTS" not in clean.read_text()


def test_sortable_table_has_the_ranking_columns_with_intervals_and_integer_counts(tmp_path):
    table, page = _board(tmp_path)
    dom = parse(page)
    board = dom.find("table", cls="sortable")
    heads = [th.attrs["data-key"] for th in board.find("thead").find_all("th")]
    assert set(NEEDED) <= set(heads) and heads[:2] == ["rank", "detector"]
    assert all(th.attrs.get("title") for th in board.find("thead").find_all("th"))  # each header says what it is
    rows = board.find("tbody").find_all("tr")
    assert len(rows) == 3
    cells = {key: [tr.find_all("td")[heads.index(key)] for tr in rows] for key in heads}
    assert all("data-sort" in td.attrs for column in cells.values() for td in column)  # every cell sortable
    assert [td.text() for td in cells["detector"]] == ["strong one", "weak", "rand"]  # best ROC-AUC first
    roc = [td.text() for td in cells["roc_auc"]]
    assert all(re.fullmatch(r"0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\]", t) for t in roc), roc
    assert [float(td.attrs["data-sort"]) for td in cells["roc_auc"]] == table["roc_auc"]
    assert all(INTEGER.match(td.text()) for key in ("rank", "n_rows") for td in cells[key])
    assert [td.text() for td in cells["random_weights"]] == ["no", "no", "yes"]
    assert [td.text() for td in cells["images_per_s"]] == ["12.5", "13.5", "14.5"]
    assert all(td.text() == "-" and td.attrs["data-sort"] == "" for td in cells["tpr_at_1fpr"])  # not judged: blank
    script = dom.find("script").text()
    assert "addEventListener" in script and "data-sort" not in script and "dataset.sort" in script
    text = page.read_text()
    assert 'src="http' not in text and "<link" not in text and "<script src" not in text  # self-contained
    md = leaderboard_markdown(table)
    assert md.count("\n") == 4 and "| 1 | strong one | no |" in md


def test_forest_plot_and_heatmap_in_natural_level_order(tmp_path):
    table, page = _board(tmp_path)
    dom = parse(page)
    svg = dom.find("figure", id="forest").find("svg")
    labels = svg.text()
    assert all(name in labels for name in ("strong one", "weak", "rand (random weights)"))
    heat = dom.find("div", id="heatmap").find("table", cls="heatmap")
    assert [th.text() for th in heat.find_all("th", cls="row")] == ["strong one", "weak", "rand random weights"]
    groups = [th.text() for th in heat.find_all("th", cls="group")]
    assert groups == ["area", "magnitude", "localization", "method", "generator"]
    levels = [th.text() for th in heat.find_all("th", **{"data-attribute": "area_ratio_bin"})]
    assert levels == list(LEVELS[5])
    assert [th.text() for th in heat.find_all("th", **{"data-attribute": "magnitude"})] == ["small", "medium", "large"]
    assert [th.text() for th in heat.find_all("th", **{"data-attribute": "localization"})] == ["localized", "diffused"]
    cells = heat.find_all("td")
    assert len(cells) == 3 * (5 + 3 + 2 + 2 + 2)
    assert all(re.fullmatch(r"\d+%", td.text()) and "hsl(" in td.attrs["style"] for td in cells)
    assert all(re.search(r"\(\d+ of \d+ edits detected\)", td.attrs["title"]) for td in cells)


def test_links_open_each_report(tmp_path):
    table, page = _board(tmp_path)
    hrefs = [a.attrs["href"] for a in parse(page).find_all("a")]
    assert len(hrefs) == 6  # the table and the heatmap, one per detector each
    assert "strong%20one/report.html" in hrefs and all(not h.startswith(("/", "http")) for h in hrefs)
    for href in hrefs:
        target = page.parent / unquote(href)
        assert target.is_file() and "Semi-Truths evaluation" in target.read_text()


def test_a_column_provider_adds_a_sortable_column(tmp_path):
    extra = ColumnProvider("localization", (
        Column("localization_f1", "localization F1", "pixel F1 of the predicted map", interval=True),
        Column("localization_model", "map from", "what made the map", kind="text"),
    ), lambda path: {"localization_f1": 0.5, "localization_f1_lo": 0.25, "localization_f1_hi": 0.75,
                     "localization_model": "head"})
    table, page = _board(tmp_path, providers=[ROBUSTNESS, extra])
    board = parse(page).find("table", cls="sortable")
    heads = [th.attrs["data-key"] for th in board.find("thead").find_all("th")]
    assert heads.index("vae_roundtrip_flagged") < heads.index("localization_f1") < heads.index("images_per_s")
    assert table_rows(board)[1][heads.index("localization_f1")] == "0.500 [0.250, 0.750]"
    assert {"localization_model", "worst_condition", "detector"} <= text_columns([ROBUSTNESS, extra])
