"""The paper's results as data, and `semitruths compare-paper`: this run beside Table 3, Table 4 and the
values and orderings the text gives for Figures 5-7."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from semitruths_dagster.evaluation import evaluate_detector
from semitruths_dagster.evaluation.paper import (
    NO_PREDICTIONS,
    TABLE3_COLUMNS,
    RunDetector,
    compare,
    evaluate_run,
    load_paper_results,
)
from semitruths_dagster.evaluation.paper_report import render_html, render_text
from semitruths_dagster.evaluation.report import render_html as render_report
from tests.conftest import REPO, TEST_CONFIG

PAPER_TEXT = (REPO / ".." / "shared" / "reference" / "semi-truths-paper.txt").resolve()
PAPER = load_paper_results()


def test_table3_all_is_the_mean_of_the_classes_and_macro_precision_is_scikit_learns():
    from sklearn.metrics import precision_score

    for row in PAPER.table3:  # a transcription check: every printed "All" is the mean to its rounding
        for metric in ("precision", "recall"):
            mean = (row[f"{metric}_real"] + row[f"{metric}_fake"]) / 2
            assert abs(row[f"{metric}_all"] - mean) <= 0.0051, (row["detector"], metric)
    y, pred = np.array([0, 0, 0, 1, 1, 1, 1]), np.array([0, 1, 0, 1, 1, 0, 1])
    result = evaluate_detector(y, pred.astype(float), threshold=0.5, n_boot=0)
    assert result.metrics["default"]["macro_precision"] == pytest.approx(precision_score(y, pred, average="macro"))
    values = PAPER.values()
    assert {v["protocol"] for v in values} == {"paper"} and len(values) == 6 * 6 + 18 * 2 + 3
    assert {"table", "row", "column", "value"} <= set(values[0])


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason="the paper's text is not beside the repository")
def test_every_number_is_the_papers_text():
    text = PAPER_TEXT.read_text()
    lines = {row["detector"]: next(line for line in text.splitlines() if line.startswith(
        f"{PAPER.detectors[row['detector']]['row']} {row['detector']} [")) for row in PAPER.table3}
    for row in PAPER.table3:  # the printed row holds the six numbers in the order of the columns
        printed = re.findall(r"\d+\.\d+", lines[row["detector"]])
        assert [float(v) for v in printed] == [row[c] for c in TABLE3_COLUMNS], row["detector"]
    table4 = text[text.index("Easy cases"):text.index("Table 4:")]
    for row in PAPER.table4:
        assert re.search(rf"{row['count']}\s+{re.escape(str(row['recall']))}", table4), row
        assert all(word in table4 for word in f"{row['original']} {row['edited']}".split())
    for f in PAPER.figures:  # "a 10% difference", "a 12% drop", "as frequently as 445 times"
        assert re.search(rf"\b{f['value']}(% difference in Recall|% drop in performance| times)", text), f


# ------------------------------------------------------------------------------- a synthetic run

# Table 3's rows as confusion matrices on 27,000 real images: (TN, FP, TP, FN) whose per-class precision and
# recall round to the printed values (checked below). Each fits 45,600-49,600 edited images, not 60,000.
CONFUSION = {"DINOv2": (26989, 11, 3, 45611), "CNNSpot": (26997, 3, 1, 49536), "DIRE": (26997, 3, 1, 45605),
             "CrossEfficientViT": (16976, 10024, 13755, 31673), "UniversalFakeDetect": (9211, 17789, 43121, 6429),
             "DE-FAKE": (14116, 12884, 35416, 14131)}
LEVELS = ("small", "medium", "large")


def _table(rows: list[dict]) -> dict[str, list]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def _group(value: str, n: int, recall: float) -> dict:
    detected = round(n * recall)
    return {"value": value, "n_fake": n, "detected": detected, "recall": detected / n,
            "recall_lo": detected / n - 0.05, "recall_hi": detected / n + 0.05}


def _blocks(detector: str) -> list[tuple[str, object, int, float]]:
    """(attribute, value, edited images, recall) of the groups the paper's figures and Table 4 speak of,
    with recalls that differ and order as the text says; each block of edits carries only its attribute."""
    generator = {"UniversalFakeDetect": {"kandinsky22": 0.90, "sd15": 0.80, "sd14": 0.85},
                 "CrossEfficientViT": {"sd14": 0.62, "kandinsky22": 0.50, "sd15": 0.55},
                 "DE-FAKE": {"sd15": 0.9, "kandinsky22": 0.6, "sd14": 0.7}}.get(detector, {})
    ordered = {"UniversalFakeDetect": (0.9, 0.8, 0.7), "CrossEfficientViT": (0.5, 0.6, 0.7)}.get(detector)
    benchmark = {"DE-FAKE": {"CelebAHQ": 0.2, "HumanParsing": 0.3, "ADE20K": 0.8, "SUN_RGBD": 0.9},
                 "UniversalFakeDetect": {"SUN_RGBD": 0.3, "CityScapes": 0.6, "ADE20K": 0.9}}.get(detector, {})
    method = {"UniversalFakeDetect": {"p2p": 0.7, "inpainting": 0.9}}.get(detector, {"inpainting": 0.6, "p2p": 0.8})
    out = [("generator", g, 400, r) for g, r in generator.items()]
    out += [("benchmark", g, 400, r) for g, r in benchmark.items()]
    out += [("method", g, 400, r) for g, r in method.items()] if generator else []
    for attribute in ("scene_complexity_bin", "scene_diversity_bin", "dreamsim_bin", "area_ratio_bin") if ordered else ():
        recalls = ordered[::-1] if attribute == "area_ratio_bin" else ordered
        out += [(attribute, level, 400, r) for level, r in zip(LEVELS, recalls, strict=True)]
    out += [("pair", (r["original"], r["edited"].upper()), r["count"], r["recall"] / 100)
            for r in PAPER.table4 if r["detector"] == detector]
    # the largest directional edit, 445 times (missed by the detectors that detect almost nothing)
    return out + [("pair", ("road", "river"), 445, 0.5 if CONFUSION[detector][2] > 1000 else 0.0)]


def synthetic_rows(detector: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Labels, scores and attributes of a run whose figures are the paper's: Table 3's confusion matrix,
    Table 4's pairs at the paper's counts and recalls, and the figures' groups (the rest of the edits
    carry no attribute)."""
    tn, fp, tp, fn = CONFUSION[detector]
    fakes: list[tuple[bool, str, object]] = []  # (detected, attribute, value)
    for attribute, value, n, recall in _blocks(detector):
        hits = round(n * recall)
        fakes += [(True, attribute, value)] * hits + [(False, attribute, value)] * (n - hits)
    left_hits, left_misses = tp - sum(f[0] for f in fakes), fn - sum(not f[0] for f in fakes)
    assert left_hits >= 0 and left_misses >= 0
    fakes += [(True, "", None)] * left_hits + [(False, "", None)] * left_misses
    labels = np.r_[np.zeros(tn + fp, dtype=int), np.ones(len(fakes), dtype=int)]
    scores = np.r_[np.full(tn, 0.1), np.full(fp, 0.9), [0.9 if hit else 0.1 for hit, _, _ in fakes]]
    names = ("benchmark", "generator", "method", "scene_complexity_bin", "scene_diversity_bin", "dreamsim_bin",
             "area_ratio_bin", "original_label", "perturbed_label")
    columns = {c: np.full(labels.size, None, dtype=object) for c in names}
    for i, (_, attribute, value) in enumerate(fakes, start=tn + fp):
        if attribute == "pair":
            columns["original_label"][i], columns["perturbed_label"][i] = value
        elif attribute:
            columns[attribute][i] = value
    return labels, scores, {c: v for c, v in columns.items() if any(x is not None for x in v)}


def synthetic_runs(missing: tuple[str, ...] = ()) -> dict[str, RunDetector]:
    runs = {}
    for name in PAPER.detectors:
        if name in missing:
            continue
        labels, scores, columns = synthetic_rows(name)
        runs[name] = evaluate_run(labels, scores, columns, None,  # no source images: the row bootstrap
                                  name=f"{name.lower()}-synthetic", plugin=PAPER.detectors[name]["plugins"][0],
                                  protocol="paper", random_weights=False, threshold=0.5, n_boot=200, seed=0)
    return runs


@pytest.fixture(scope="module")
def runs() -> dict[str, RunDetector]:
    return synthetic_runs()


def test_a_run_whose_figures_are_the_papers_is_inside_everywhere(runs):
    comparison = compare(PAPER, runs, n_real=27000, n_edited=49548)
    assert comparison.comparable and not comparison.reasons
    judged = [*comparison.table3, *comparison.table4, *comparison.figures]
    assert len(comparison.table3) == 36 and len(comparison.table4) == 18 and len(comparison.figures) == 3
    assert [r["inside"] for r in judged] == ["inside"] * (len(judged) - 1) + ["equal"]  # the 445 count: equal
    for r in comparison.table3:  # the confusion matrices give Table 3 to its printed rounding
        assert abs(r["difference"]) <= (0.01 if r["column"].endswith("_all") else 0.005), r
    assert all(c["verdict"] == "agrees" for c in comparison.claims), [c for c in comparison.claims
                                                                        if c["verdict"] != "agrees"]
    assert comparison.first_line == ("Compared with the paper: 56 of 56 values inside this run's 95% interval; "
                                     f"{len(PAPER.claims)} of {len(PAPER.claims)} stated orderings agree "
                                     "(27000 real, 49548 edited images).")
    text = render_text(comparison)
    assert text.splitlines()[0] == comparison.first_line and "outside" not in text
    page = render_html(comparison)
    assert page.count("<td class=inside>") == 56 and "<td class=differs>" not in page


def test_a_figure_off_the_paper_is_outside_and_a_missing_detector_says_so(runs):
    runs = copy.deepcopy({k: r for k, r in runs.items() if k != "DIRE"})
    ufd = runs["UniversalFakeDetect"].result
    ufd.metrics["default"]["fake_recall"] = 0.80  # the paper: 87.03
    ufd.intervals["default"]["fake_recall"] = [0.79, 0.81]
    ufd.breakdowns["default"]["generator"] = _table([_group("kandinsky22", 1000, 0.8), _group("sd15", 1000, 0.9)])
    comparison = compare(PAPER, runs, n_real=27000, n_edited=49548)
    recall = next(r for r in comparison.table3 if r["detector"] == "UniversalFakeDetect" and r["column"] == "recall_fake")
    assert recall["inside"] == "outside" and recall["difference"] == pytest.approx(80 - 87.03)
    dire = [r for r in comparison.table3 + comparison.table4 if r["detector"] == "DIRE"]
    assert len(dire) == 6 and {r["run"] for r in dire} == {NO_PREDICTIONS}
    kandinsky = next(r for r in comparison.figures if r["detector"] == "UniversalFakeDetect")
    assert kandinsky["run"] == pytest.approx(-10) and kandinsky["inside"] == "outside"
    verdicts = {(c["detector"], c["claim"]): c["verdict"] for c in comparison.claims}
    assert verdicts[("UniversalFakeDetect", "UniversalFakeDetect performs best on images augmented with Kandinsky 2.2")] \
        == "differs"
    assert comparison.first_line.startswith("Compared with the paper: 48 of 50 values inside")
    # scored under the authors' protocol: the first line says the paper's values were measured otherwise
    runs["CNNSpot"].protocol = "authors"
    assert "Scored under detectors.protocol authors" in compare(PAPER, runs, 27000, 49548).first_line


def test_the_report_says_which_protocol_made_it():
    result = evaluate_detector([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.6], n_boot=0)
    result.settings["protocol"] = "paper"
    assert "Input protocol (detectors.protocol): paper (the Semi-Truths evaluation code" in render_report(result)


# ------------------------------------------------------------------------------- the shared sample rows


def test_on_the_shared_sample_nothing_can_be_compared_and_the_first_line_says_why(
        released_set, tmp_path, monkeypatch, capsys):
    from assets.detectors import detector_predictions
    from assets.masks import masks
    from assets.released import released_edits
    from assets.sources import source_images
    from resources import GpuResource, ModelsResource, ProjectResource
    from semitruths_dagster.cli import main
    from semitruths_dagster.detectors import write_random_detector

    config = yaml.safe_load(TEST_CONFIG.read_text()) | {
        "storage": {"root": str(tmp_path / "storage")},
        "detectors": {"registry": str(tmp_path / "registry"), "weights": str(tmp_path / "weights"), "n_boot": 50,
                      "protocol": "paper"}}
    path = tmp_path / "semitruths.yaml"
    path.write_text(yaml.safe_dump(config))
    project = ProjectResource(config_path=str(path), storage_root=str(tmp_path / "storage"))
    resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
    assert materialize([source_images, released_edits, masks], partition_key="released", resources=resources).success
    spec = write_random_detector("universal_fake_detect", tmp_path / "registry", tmp_path / "weights")
    name = yaml.safe_load(spec.read_text())["name"]
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("detectors", [name])
    key = MultiPartitionKey({"dataset": "released", "detector": name})
    assert materialize([detector_predictions], partition_key=key, resources=resources, instance=instance).success
    rows = project.tables().read("detector_predictions", {"dataset": "released", "detector": name})
    assert set(rows["protocol"]) == {"paper"} and all('"clamp":[0.0,1.0]' in p for p in rows["preprocessing"])

    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(path))
    main(["compare-paper"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("NOTHING CAN BE COMPARED with the paper: ")
    assert f"random weights (its scores are noise): {name}" in out[0]
    assert f"too few rows: {released_set.n_real} real and" in out[0]
    assert "not the released evaluation set" not in out[0]  # the sample rows are in the released layout
    assert out[1].startswith(f"Input protocol of this run's detectors (detectors.protocol): {name}: paper")
    ufd = [line.split("\t") for line in out if line.startswith("UniversalFakeDetect\t")]
    assert len(ufd) == 6 + 6  # Table 3 with this run's numbers (in %); Table 4's pairs, not in the sample
    assert all(0 <= float(cells[3]) <= 100 for cells in ufd[:6]) and all("pair not in this run" in line
                                                                        for line in map("\t".join, ufd[6:]))
    for detector in ("DINOv2", "CNNSpot", "DIRE", "CrossEfficientViT", "DE-FAKE"):
        table3 = [line for line in out if line.startswith(f"{detector}\t") and NO_PREDICTIONS in line]
        assert len(table3) >= 6, detector  # the paper's rows are listed, with no run beside them
    page = Path(out[-1].removeprefix("written: "))
    assert page == tmp_path / "storage" / "reports" / "paper_comparison.html"
    assert page.read_text().count("<table>") == 4 and "NOTHING CAN BE COMPARED" in page.read_text()
