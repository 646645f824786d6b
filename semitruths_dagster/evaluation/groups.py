"""Per-attribute breakdowns: recall of the fake class (and false-positive rate of reals) per value.

Attributes (dataset, method, generator, metric bins, localization, scene bins, ...) are encoded once into
integer codes (`Categorical`), shared by every detector, so each breakdown is a few `bincount`s over the
rows. Missing values (None, NaN, '') get code -1 and are left out of that attribute's table. Tables are
column dicts of numpy arrays ({column: array}), which polars / DuckDB take as they are; category names
are Python strings in object arrays, so a table of 10^5 edit pairs shares them instead of copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics.bins import natural_order

Table = dict[str, np.ndarray]


@dataclass(frozen=True)
class Categorical:
    """codes (int32, -1 = missing) into `categories` (an object array of str)."""

    codes: np.ndarray
    categories: np.ndarray

    def __len__(self) -> int:
        return int(self.codes.size)


def _is_missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "US":
        return values == ""
    return np.array([v is None or v == "" or (isinstance(v, float) and v != v) for v in values], dtype=bool)


def encode(values: Any) -> Categorical:
    """A Categorical of any 1-D sequence (already-encoded Categoricals pass through)."""
    if isinstance(values, Categorical):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        missing = _is_missing(arr)
        arr = np.where(missing, "", arr).astype(str)
    else:
        missing = _is_missing(arr)
    codes = np.full(arr.shape, -1, dtype=np.int32)
    if (~missing).any():
        cats, codes[~missing] = _sorted_factorize(arr[~missing])
    else:
        cats = np.array([], dtype=str)
    return Categorical(codes, cats.astype(str).astype(object))


def _sorted_factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, code of each value): `np.unique(values, return_inverse=True)`, by hashing
    (pandas) and sorting only the distinct values, several times faster on millions of strings. Text
    values are sorted in their natural order (bin levels very_small ... very_large, then the rest
    alphabetically: `metrics.bins.level_key`), so every breakdown comes out in that order."""
    import pandas as pd

    first_seen, uniques = pd.factorize(values.astype(object) if values.dtype.kind == "U" else values)
    uniques = np.asarray(uniques)
    if uniques.dtype.kind in "OUS":
        order = np.asarray(natural_order(uniques), dtype=np.intp)
    else:
        order = np.argsort(uniques, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return uniques[order], rank[first_seen]


def encode_attributes(attributes: Mapping[str, Any]) -> dict[str, Categorical]:
    """Encode every attribute column once (do this once for many detectors)."""
    return {name: encode(col) for name, col in attributes.items()}


def breakdown(y_true: np.ndarray, predicted_fake: np.ndarray, cat: Categorical, min_count: int = 1) -> Table:
    """Per value: fakes, fakes detected, recall; reals, reals flagged, FPR (NaN where no reals)."""
    k = cat.categories.size
    valid = cat.codes >= 0
    key = cat.codes[valid].astype(np.intp) * 4 + np.asarray(y_true)[valid].astype(bool) * 2
    key += np.asarray(predicted_fake)[valid].astype(bool)
    cells = np.bincount(key, minlength=4 * k).reshape(k, 4)  # (value, [real kept, real flagged, fake missed, hit])
    return breakdown_table(cat.categories, cells[:, 2] + cells[:, 3], cells[:, 3], cells[:, 0] + cells[:, 1],
                           cells[:, 1], min_count)


def breakdown_table(categories: np.ndarray, n_fake: np.ndarray, hit: np.ndarray, n_real: np.ndarray,
                    flagged: np.ndarray, min_count: int = 1) -> Table:
    """The breakdown table from per-value counts (values with fewer than `min_count` rows left out)."""
    keep = (n_fake + n_real) >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_fake > 0, hit / np.maximum(n_fake, 1), np.nan)
        fpr = np.where(n_real > 0, flagged / np.maximum(n_real, 1), np.nan)
    return {
        "value": np.asarray(categories, dtype=object)[keep],
        "n_fake": n_fake[keep],
        "detected": hit[keep],
        "recall": recall[keep],
        "n_real": n_real[keep],
        "flagged": flagged[keep],
        "fpr": fpr[keep],
    }


def pair_categorical(original: Categorical, perturbed: Categorical, sep: str = " -> ") -> Categorical:
    """The directional edit 'original -> perturbed' as one Categorical (missing if either side is)."""
    valid = (original.codes >= 0) & (perturbed.codes >= 0)
    joint = original.codes.astype(np.int64) * max(perturbed.categories.size, 1) + perturbed.codes
    codes = np.full(original.codes.shape, -1, dtype=np.int32)
    uniq, inverse = np.unique(joint[valid], return_inverse=True)
    codes[valid] = inverse
    n_p = max(perturbed.categories.size, 1)
    names = [f"{original.categories[u // n_p]}{sep}{perturbed.categories[u % n_p]}" for u in uniq.tolist()]
    return Categorical(codes, np.array(names, dtype=object))


def ranked_pairs(
    y_true: np.ndarray, predicted_fake: np.ndarray, pairs: Categorical, min_count: int = 1
) -> Table:
    """Directional edits among fakes, lowest recall (hardest to detect) first; ties: more rows first.
    Pairs with fewer than `min_count` fakes are listed after the ranked ones, with rank 0 (not ranked)."""
    fake = np.asarray(y_true).astype(bool)
    table = breakdown(
        fake[fake], np.asarray(predicted_fake)[fake], Categorical(pairs.codes[fake], pairs.categories)
    )
    return pairs_table(table, min_count)


def pairs_table(table: Table, min_count: int = 1) -> Table:
    """`ranked_pairs` from the pairs' breakdown among fakes."""
    n = table["n_fake"]
    enough = n >= max(min_count, 1)
    # Ranked first, then the small ones; by recall, then more rows first: np.lexsort((-n, recall, ~enough))
    # as three stable sorts, the first on 16 bits (a radix sort) where the counts allow.
    fewer = n.max(initial=0) - n
    order = np.argsort(fewer.astype(np.uint16) if fewer.max(initial=0) < 2**16 else fewer, kind="stable")
    order = order[np.argsort(table["recall"][order], kind="stable")]
    order = order[np.argsort(~enough[order], kind="stable")]
    rank = np.where(enough[order], np.cumsum(enough[order]), 0)
    out: Table = {"rank": rank, "pair": table["value"][order]}
    out.update({c: table[c][order] for c in ("n_fake", "detected", "recall")})
    return out
