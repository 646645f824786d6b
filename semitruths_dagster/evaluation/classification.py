"""Threshold metrics from confusion counts, vectorised so the bootstrap can reuse them on many resamples.

Convention: y_true 1 = fake (the positive class), 0 = real; a row is predicted fake iff P(fake) > threshold
(as the detectors' own evaluation code does). Undefined ratios (no predicted fakes, ...) are 0.0, as
scikit-learn's `zero_division` default gives.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("real", "fake")


def as_inputs(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated (bool y_true, float64 scores) arrays of equal length."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D of equal length, got {y.shape} and {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (real) and 1 (fake)")
    if np.isnan(s).any():
        raise ValueError(f"{int(np.isnan(s).sum())} scores are NaN")
    return y.astype(bool), s


def confusion(y_true: np.ndarray, predicted_fake: np.ndarray) -> dict[str, int]:
    """tp / fp / fn / tn with fake as the positive class."""
    y, p = y_true.astype(bool), predicted_fake.astype(bool)
    tp = int(np.count_nonzero(y & p))
    fp = int(np.count_nonzero(~y & p))
    fn = int(np.count_nonzero(y)) - tp
    tn = int(y.size - np.count_nonzero(y)) - fp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def metrics_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-class precision / recall / F1 and overall accuracy, balanced accuracy, macro F1 (broadcasting)."""
    out: dict[str, np.ndarray] = {}
    # For the real class the roles swap: its "true positives" are the true negatives.
    for name, (t, f_pos, f_neg) in {"fake": (tp, fp, fn), "real": (tn, fn, fp)}.items():
        precision = _div(t, np.add(t, f_pos))
        recall = _div(t, np.add(t, f_neg))
        out[f"{name}_precision"] = precision
        out[f"{name}_recall"] = recall
        out[f"{name}_f1"] = _div(2 * precision * recall, precision + recall)
    total = np.add(np.add(tp, fp), np.add(fn, tn))
    out["accuracy"] = _div(np.add(tp, tn), total)
    # balanced accuracy = mean recall over the classes present (scikit-learn drops absent classes).
    has_fake = np.add(tp, fn) > 0
    has_real = np.add(tn, fp) > 0
    n_classes = has_fake.astype(float) + has_real.astype(float)
    out["balanced_accuracy"] = _div(out["fake_recall"] * has_fake + out["real_recall"] * has_real, n_classes)
    out["macro_f1"] = (out["fake_f1"] + out["real_f1"]) / 2
    out["macro_precision"] = (out["fake_precision"] + out["real_precision"]) / 2  # Table 3's "All" precision
    return out


def threshold_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """All threshold metrics at one threshold, plus the confusion counts and class supports."""
    y, s = as_inputs(y_true, scores)
    return metrics_at(y, s > threshold, threshold)


def metrics_at(y: np.ndarray, predicted_fake: np.ndarray, threshold: float) -> dict[str, float]:
    """`threshold_metrics` from the labels and the predictions at `threshold` (both bool)."""
    counts = confusion(y, predicted_fake)
    values = metrics_from_counts(**{k: np.asarray(v) for k, v in counts.items()})
    out: dict[str, float] = {k: float(v) for k, v in values.items()}
    out.update({k: float(v) for k, v in counts.items()})
    out["n_real"], out["n_fake"] = float(counts["tn"] + counts["fp"]), float(counts["tp"] + counts["fn"])
    out["threshold"] = float(threshold)
    return out
