"""This run's detector figures beside the Semi-Truths paper's (Table 3, Table 4, the text on Figures 5-7).

The paper's values are data (`paper_results.yaml`: table, row, column, value, protocol). A run's detector
stands for a paper detector when its plugin is one the file lists for it. Each of its figures is
recomputed from its clean prediction rows by `evaluate_detector` (the project's cluster bootstrap by
source image for Table 3, Wilson intervals for a group's recall, Newcombe's interval for a difference of
two group recalls) and set beside the paper's: the difference, this run's 95% interval, and whether the
paper's value, as printed (give or take half a unit of its last digit), lies in it. Orderings the text
states without numbers are checked as orderings.

Nothing can be compared (and the first line says so) when no detector stands for a paper detector, when
a detector has random weights, when the run has too few rows, or when its images are not the released
evaluation set (`adapter: released`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .evaluate import EvaluationResult, evaluate_detector

PAPER_RESULTS = Path(__file__).with_name("paper_results.yaml")
# Fewer edited / real images than this: intervals too wide to say anything against the paper's 60,000 / 27,000.
MIN_EDITED, MIN_REAL = 1000, 500
TABLE3_COLUMNS = {  # Table 3 column -> this run's metric ("All" is the mean of the two classes)
    "precision_all": "macro_precision", "precision_real": "real_precision", "precision_fake": "fake_precision",
    "recall_all": "balanced_accuracy", "recall_real": "real_recall", "recall_fake": "fake_recall",
}
ATTRIBUTES = ("benchmark", "generator", "method", "scene_complexity_bin", "scene_diversity_bin", "area_ratio_bin",
              "dreamsim_bin")  # the breakdowns the paper's figures show
NO_PREDICTIONS = "no predictions for this detector"
CLAIM_KINDS = ("best", "worst", "lower", "increasing", "decreasing")


@dataclass(frozen=True)
class PaperResults:
    """The paper's values as `paper_results.yaml` holds them."""

    protocol: str
    detectors: dict[str, dict[str, Any]]
    table3: list[dict[str, Any]]
    table4: list[dict[str, Any]]
    figures: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    evaluation_set: dict[str, Any] = field(default_factory=dict)

    def values(self) -> list[dict[str, Any]]:
        """Every number as one row: table, row, column, value, protocol."""
        rows = [{"table": "Table 3", "row": r["detector"], "column": c, "value": r[c]}
                for r in self.table3 for c in TABLE3_COLUMNS]
        for r in self.table4:
            row = f"{r['detector']} #{r['rank']}: {pair_key(r['original'], r['edited'])}"
            rows += [{"table": "Table 4", "row": row, "column": c, "value": r[c]} for c in ("count", "recall")]
        rows += [{"table": f["figure"], "row": f["detector"] or "evaluation set", "column": _figure_column(f),
                  "value": f["value"]} for f in self.figures]
        return [r | {"protocol": self.protocol} for r in rows]

    def detector_of(self, plugin: str) -> str | None:
        """The paper detector a plugin stands for (None: not one of the paper's)."""
        return next((name for name, d in self.detectors.items() if plugin in d["plugins"]), None)


def _figure_column(f: Mapping[str, Any]) -> str:
    return f"recall({f['a']}) - recall({f['b']})" if f["kind"] == "difference" else f"largest {f['attribute']} count"


def load_paper_results(path: str | Path = PAPER_RESULTS) -> PaperResults:
    """Read and check the data file: every Table 3 row has its six columns, every row names a known detector."""
    data = yaml.safe_load(Path(path).read_text())
    out = PaperResults(data["protocol"], data["detectors"], data["table3"], data["table4"], data["figures"],
                       data["claims"], data.get("evaluation_set", {}))
    known = set(out.detectors)
    for table in ("table3", "table4", "figures", "claims"):
        for i, row in enumerate(getattr(out, table)):
            if row.get("detector") is not None and row["detector"] not in known:
                raise ValueError(f"{path}: {table}[{i}] names detector {row['detector']!r}, not one of {sorted(known)}")
            if table == "table3" and set(TABLE3_COLUMNS) - set(row):
                raise ValueError(f"{path}: table3[{i}] lacks {sorted(set(TABLE3_COLUMNS) - set(row))}")
            if table == "claims" and row["kind"] not in CLAIM_KINDS:
                raise ValueError(f"{path}: claims[{i}] kind {row['kind']!r} is not one of {CLAIM_KINDS}")
    return out


def pair_key(original: str | None, edited: str | None) -> str:
    """A directional edit as the evaluation names it ('original -> edited'), lower case, single spaces."""
    return " -> ".join(re.sub(r"\s+", " ", str(v or "")).strip().lower() for v in (original, edited))


@dataclass
class RunDetector:
    """One evaluated detector of this run, with what decides whether it can be compared."""

    name: str
    plugin: str
    protocol: str
    random_weights: bool
    result: EvaluationResult


def evaluate_run(labels: np.ndarray, scores: np.ndarray, attributes: Mapping[str, Any], clusters: Sequence[str] | None,
                 *, name: str, plugin: str, protocol: str, random_weights: bool, threshold: float,
                 n_boot: int = 1000, seed: int = 0) -> RunDetector:
    """Evaluate one detector's clean rows for the comparison: the metrics and cluster-bootstrap intervals at
    its default threshold, breakdowns by the figures' `ATTRIBUTES`, and the directional edits (from the
    `original_label` / `perturbed_label` attributes). Every group is shown, small ones too. `clusters`: the
    source image of each row (the cluster bootstrap), or None for rows with none (the row bootstrap)."""
    keep = {k: v for k, v in attributes.items() if k in ATTRIBUTES or k in ("original_label", "perturbed_label")}
    result = evaluate_detector(labels, scores, keep, detector=name, random_weights=random_weights,
                               threshold=threshold, n_boot=n_boot, seed=seed,
                               clusters=None if clusters is None else list(clusters),
                               pair_columns=("original_label", "perturbed_label"), min_group_count=1)
    return RunDetector(name, plugin, protocol, random_weights, result)


# ------------------------------------------------------------------------------------------------ comparing


def _pct(value: Any) -> float:
    return math.nan if value is None else 100.0 * float(value)


def rounding(value: float, decimals: int | None = None) -> float:
    """Half a unit of the last digit the paper printed (`decimals`, else as the value reads: 50.0 -> 0.05)."""
    if decimals is None:
        text = repr(float(value))
        decimals = 0 if float(value).is_integer() and "." not in str(value) else len(text.split(".")[1])
    return 0.5 * 10.0 ** -decimals


def _inside(paper: float, lo: float, hi: float, tolerance: float = 0.0) -> str:
    """Whether the paper's value, as printed (+- `tolerance`, its rounding), meets this run's interval."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "-"
    return "inside" if lo - tolerance - 1e-9 <= paper <= hi + tolerance + 1e-9 else "outside"


def _rows(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A column table (arrays or lists) as rows."""
    names = list(table)
    return [{c: table[c][i] for c in names} for i in range(len(table[names[0]]))] if names else []


def _group(result: EvaluationResult, attribute: str) -> dict[str, dict[str, Any]]:
    """value -> its breakdown row (n_fake, detected, recall, Wilson interval) at the default threshold."""
    return {str(r["value"]): r for r in _rows(result.breakdowns.get("default", {}).get(attribute, {}))}


def table3_rows(paper: PaperResults, runs: Mapping[str, RunDetector | None]) -> list[dict[str, Any]]:
    out = []
    for row in paper.table3:
        run = runs.get(row["detector"])
        for column, metric in TABLE3_COLUMNS.items():
            line = {"detector": row["detector"], "column": column, "paper": float(row[column])}
            if run is None:
                out.append(line | {"run": NO_PREDICTIONS})
                continue
            value = _pct(run.result.metrics.get("default", {}).get(metric))
            lo, hi = (_pct(v) for v in run.result.intervals.get("default", {}).get(metric, [None, None]))
            out.append(line | {"run": value, "difference": value - line["paper"], "lo": lo, "hi": hi,
                               "inside": _inside(line["paper"], lo, hi, rounding(line["paper"], 2)),
                               "detector_run": run.name})
    return out


def table4_rows(paper: PaperResults, runs: Mapping[str, RunDetector | None]) -> list[dict[str, Any]]:
    out = []
    for row in paper.table4:
        key = pair_key(row["original"], row["edited"])
        line = {"detector": row["detector"], "rank": row["rank"], "case": row["case"], "pair": key,
                "paper_count": row["count"], "paper": float(row["recall"])}
        run = runs.get(row["detector"])
        if run is None:
            out.append(line | {"run": NO_PREDICTIONS})
            continue
        pairs = _rows(run.result.pairs.get("default", {}))
        found = {pair_key(*str(p["pair"]).split(" -> ", 1)): p for p in pairs if " -> " in str(p["pair"])}
        hit = found.get(key)
        if hit is None:
            out.append(line | {"run": "pair not in this run", "run_count": 0})
            continue
        # This run's rank of the pair among all its pairs, highest recall first (the paper's easy cases first).
        by_recall = sorted(found.values(), key=lambda p: (-float(p["recall"]), -int(p["n_fake"])))
        value, lo, hi = _pct(hit["recall"]), _pct(hit["recall_lo"]), _pct(hit["recall_hi"])
        out.append(line | {"run_count": int(hit["n_fake"]), "run": value, "difference": value - line["paper"],
                           "lo": lo, "hi": hi, "inside": _inside(line["paper"], lo, hi, rounding(row["recall"])),
                           "run_rank": f"{by_recall.index(hit) + 1} of {len(by_recall)}"})
    return out


def figure_rows(paper: PaperResults, runs: Mapping[str, RunDetector | None]) -> list[dict[str, Any]]:
    from statsmodels.stats.proportion import confint_proportions_2indep

    out = []
    for f in paper.figures:
        line = {"figure": f["figure"], "detector": f["detector"] or "evaluation set", "column": _figure_column(f),
                "paper": float(f["value"]), "approximate": bool(f.get("approximate"))}
        if f["kind"] == "count":  # a count over the evaluation set: the largest over the detectors' rows
            present = [r for r in runs.values() if r is not None]
            pairs = [p for r in present for p in _rows(r.result.pairs.get("default", {}))]
            if not pairs:
                out.append(line | {"run": "no directional edits" if present else NO_PREDICTIONS})
                continue
            count = max(int(p["n_fake"]) for p in pairs)
            out.append(line | {"run": float(count), "difference": count - line["paper"],
                               "inside": "equal" if count == line["paper"] else "differs"})
            continue
        run = runs.get(f["detector"])
        if run is None:
            out.append(line | {"run": NO_PREDICTIONS})
            continue
        groups = _group(run.result, f["attribute"])
        a, b = groups.get(f["a"]), groups.get(f["b"])
        if a is None or b is None or not a["n_fake"] or not b["n_fake"]:
            missing = [g for g, r in ((f["a"], a), (f["b"], b)) if r is None or not r["n_fake"]]
            out.append(line | {"run": f"no edited images of {', '.join(missing)}"})
            continue
        value = _pct(a["recall"]) - _pct(b["recall"])
        lo, hi = confint_proportions_2indep(int(a["detected"]), int(a["n_fake"]), int(b["detected"]),
                                            int(b["n_fake"]), method="newcomb", compare="diff", alpha=0.05)
        lo, hi = 100.0 * float(lo), 100.0 * float(hi)
        out.append(line | {"run": value, "difference": value - line["paper"], "lo": lo, "hi": hi,
                           "inside": _inside(line["paper"], lo, hi, rounding(f["value"]))})
    return out


def check_claim(claim: Mapping[str, Any], result: EvaluationResult) -> tuple[str, str]:
    """(verdict, what this run shows) of one ordering the paper states: 'agrees', 'differs' or 'missing'."""
    groups = {g: r for g, r in _group(result, claim["attribute"]).items() if r["n_fake"]}
    recall = {g: float(r["recall"]) for g, r in groups.items()}
    kind = claim["kind"]
    if kind in ("best", "worst"):
        if len(recall) < len(claim["groups"]) + 1:
            return "missing", f"{len(recall)} groups with edited images"
        order = sorted(recall, key=recall.get, reverse=kind == "best")
        top = order[:len(claim["groups"])]
        shown = ", ".join(f"{g} {100 * recall[g]:.1f}" for g in order)
        return ("agrees" if set(top) == set(claim["groups"]) else "differs"), f"{kind} first: {shown}"
    names = [claim["a"], claim["b"]] if kind == "lower" else list(claim["levels"])
    missing = [g for g in names if g not in recall]
    if missing:
        return "missing", f"no edited images of {', '.join(missing)}"
    values = [recall[g] for g in names]
    shown = ", ".join(f"{g} {100 * v:.1f}" for g, v in zip(names, values, strict=True))
    steps = np.diff(values)
    ok = {"lower": values[0] < values[1], "increasing": bool((steps > 0).all()),
          "decreasing": bool((steps < 0).all())}[kind]
    return ("agrees" if ok else "differs"), shown


def claim_rows(paper: PaperResults, runs: Mapping[str, RunDetector | None]) -> list[dict[str, Any]]:
    out = []
    for c in paper.claims:
        run = runs.get(c["detector"])
        line = {"figure": c["figure"], "detector": c["detector"], "claim": c["text"]}
        if run is None:
            out.append(line | {"verdict": "-", "run": NO_PREDICTIONS})
        else:
            verdict, shown = check_claim(c, run.result)
            out.append(line | {"verdict": verdict, "run": shown})
    return out


@dataclass
class Comparison:
    """The comparison: its first line (whether anything can be compared, and why not), and its tables."""

    first_line: str
    comparable: bool
    reasons: list[str]
    protocols: dict[str, str]  # run detector -> protocol it was scored under
    table3: list[dict[str, Any]]
    table4: list[dict[str, Any]]
    figures: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    paper_protocol: str = "paper"


def nothing_comparable(runs: Mapping[str, RunDetector | None], n_real: int, n_edited: int,
                       not_released: Sequence[str]) -> list[str]:
    """Why this run's figures say nothing about the paper's (empty: they can be compared)."""
    reasons = []
    present = {k: r for k, r in runs.items() if r is not None}
    if not present:
        reasons.append("no predictions for any of the paper's detectors")
    noise = sorted(r.name for r in present.values() if r.random_weights)
    if noise:
        reasons.append(f"random weights (its scores are noise): {', '.join(noise)}")
    if n_edited < MIN_EDITED or n_real < MIN_REAL:
        reasons.append(f"too few rows: {n_real} real and {n_edited} edited images (the comparison needs at least "
                       f"{MIN_REAL} and {MIN_EDITED}; the paper scored 27,000 and 60,000)")
    if not_released:
        reasons.append(f"not the released evaluation set (adapter: released): {', '.join(not_released)}")
    return reasons


def compare(paper: PaperResults, runs: Mapping[str, RunDetector | None], n_real: int, n_edited: int,
            not_released: Sequence[str] = ()) -> Comparison:
    """Every comparison table; `runs`: paper detector -> this run's detector standing for it (or None)."""
    runs = {name: runs.get(name) for name in paper.detectors}
    reasons = nothing_comparable(runs, n_real, n_edited, not_released)
    t3, t4, figs, claims = (f(paper, runs) for f in (table3_rows, table4_rows, figure_rows, claim_rows))
    protocols = {r.name: r.protocol for r in runs.values() if r is not None}
    if reasons:
        first = "NOTHING CAN BE COMPARED with the paper: " + "; ".join(reasons) + "."
    else:
        judged = [r for r in [*t3, *t4, *figs] if r.get("inside") in ("inside", "outside")]
        inside = sum(r["inside"] == "inside" for r in judged)
        agree = sum(c["verdict"] == "agrees" for c in claims)
        first = (f"Compared with the paper: {inside} of {len(judged)} values inside this run's 95% interval; "
                 f"{agree} of {len(claims)} stated orderings agree ({n_real} real, {n_edited} edited images).")
    other = sorted({p for p in protocols.values() if p != paper.protocol})
    if other:
        first += (f" Scored under detectors.protocol {', '.join(other)}; the paper's values under "
                  f"{paper.protocol}: differences are expected.")
    return Comparison(first, not reasons, reasons, protocols, t3, t4, figs, claims, paper.protocol)
