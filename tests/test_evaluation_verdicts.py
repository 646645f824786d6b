"""The report summary's sentences: the worst condition, and each control's verdict from its paired
difference's interval (hand-made tables, known answers)."""

from __future__ import annotations

import math

from semitruths_dagster.evaluation.verdicts import control_verdicts, worst_condition_sentence


def test_worst_condition_sentence():
    table = {"condition": ["clean", "jpeg_q75", "resize_0.5"], "roc_auc": [0.8, 0.6, 0.7],
             "roc_auc_ci": [(0.75, 0.85), (0.55, 0.66), (0.6, 0.8)], "roc_auc_drop": [0.0, 0.2, 0.1],
             "roc_auc_drop_ci": [(0.0, 0.0), (0.1, 0.3), (0.0, 0.2)]}
    assert worst_condition_sentence(table) == (
        "Worst condition: jpeg_q75, ROC-AUC 0.600 [0.550, 0.660], 0.200 [0.100, 0.300] below clean.")
    easy = {**table, "roc_auc": [0.5, 0.6, 0.7]}
    assert worst_condition_sentence(easy).startswith("No post-processing condition lowers ROC-AUC below clean (0.500")
    only = {"condition": ["clean"], "roc_auc": [0.8]}
    assert worst_condition_sentence(only) == "Only the clean condition was run (ROC-AUC 0.800): no post-processing was judged."
    assert worst_condition_sentence({"condition": ["clean"], "roc_auc": [math.nan]}) is None


def test_control_verdicts_follow_the_difference_interval():
    controls = {
        "rows": ["real", "edits", "pasted_back", "vae_roundtrip", "format_matched", "resampled"],
        "flagged_fake": [0.05, 0.6, 0.2, 0.3, 0.58, 0.06],
        "difference_ci": [None, None, (-0.5, -0.3), (0.1, 0.4), (-0.1, 0.05), (-0.04, 0.06)],
    }
    assert control_verdicts(controls) == [
        "Pasted-back edits: 20.0% flagged fake vs 60.0% of the edits (difference -40.0 points [-50.0, -30.0]): "
        "the detector responds to what this control removes, not only to the edit.",
        "VAE round-tripped reals: 30.0% flagged fake vs 5.0% of the reals (difference +25.0 points [+10.0, +40.0]): "
        "the detector responds to this processing, not only to edits.",
        "Format-matched edits: 58.0% flagged fake vs 60.0% of the edits (difference -2.0 points [-10.0, +5.0]): "
        "no clear difference from the edits.",
        "Resampled reals: 6.0% flagged fake vs 5.0% of the reals (difference +1.0 points [-4.0, +6.0]): "
        "no clear difference from the reals.",
    ]
    no_interval = {"rows": ["edits", "pasted_back"], "flagged_fake": [0.6, 0.2]}
    assert control_verdicts(no_interval) == [
        "Pasted-back edits: 20.0% flagged fake vs 60.0% of the edits (difference -40.0 points, no interval): "
        "no verdict without intervals."]
