"""Group counts of every attribute at once: a few `bincount`s per threshold instead of four per attribute.

Per table (shared by every detector), attributes are packed into joint keys: each row's key numbers its
(attribute values..., class) cell, with a slot for a missing value, as long as a pack has at most
`PACK_CELLS` cells (an attribute with more cells, such as the edit pairs, gets a pack of its own). Per
threshold, one `bincount` of `key + cells * predicted` over each pack counts every cell split by the
prediction; an attribute's table is the sum of its pack's cells over the other attributes. The counts
are integers, exactly those of per-attribute bincounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .groups import Categorical

PACK_CELLS = 1 << 18  # cells per pack: the per-threshold marginal sums stay in cache


@dataclass(frozen=True)
class GroupCounts:
    """Per category of one attribute: fakes, fakes predicted fake, reals, reals predicted fake."""

    n_fake: np.ndarray
    hit: np.ndarray
    n_real: np.ndarray
    flagged: np.ndarray


@dataclass(frozen=True)
class _Pack:
    key: np.ndarray  # (n,) intp: the row's cell, class last (fastest)
    dims: tuple[int, ...]  # (k_1 + 1, ..., k_m + 1, 2): + 1 is the missing slot
    names: tuple[str, ...]

    @property
    def cells(self) -> int:
        return int(np.prod(self.dims))


class GroupCounter:
    """Counts every attribute's groups by class and prediction; build once per table, reuse per detector."""

    def __init__(self, y_true: np.ndarray, attributes: Mapping[str, Categorical]) -> None:
        y = np.asarray(y_true).astype(np.intp)
        self.sizes = {name: int(cat.categories.size) for name, cat in attributes.items()}
        self.packs: list[_Pack] = []
        group: list[str] = []
        for name in attributes:
            cells = 2 * int(np.prod([self.sizes[g] + 1 for g in [*group, name]]))
            if group and cells > PACK_CELLS:
                self.packs.append(self._pack(y, attributes, group))
                group = []
            group.append(name)
        if group:
            self.packs.append(self._pack(y, attributes, group))

    def _pack(self, y: np.ndarray, attributes: Mapping[str, Categorical], names: list[str]) -> _Pack:
        dims = (*[self.sizes[n] + 1 for n in names], 2)
        key = np.zeros(y.size, dtype=np.intp)
        for name, width in zip(names, dims[:-1], strict=True):
            codes = attributes[name].codes
            key *= width
            key += np.where(codes >= 0, codes, width - 1)  # missing: the last slot
        key *= 2
        key += y
        return _Pack(key, dims, tuple(names))

    def counts(self, predicted_fake: np.ndarray) -> dict[str, GroupCounts]:
        """Every attribute's `GroupCounts` for one prediction (bool per row)."""
        p = np.asarray(predicted_fake).astype(np.intp)
        out: dict[str, GroupCounts] = {}
        for pack in self.packs:
            cells = pack.cells
            full = np.bincount(pack.key + cells * p, minlength=2 * cells).reshape(2, *pack.dims)
            # Marginals peeled off front to back: `rest` holds the cells summed over the attributes
            # before this one, so each sum reads a shrinking array, not the whole pack once per attribute.
            rest = full
            for i, name in enumerate(pack.names):
                t = rest.reshape(2, pack.dims[i], -1, 2).sum(axis=2)  # (predicted, value + missing, class)
                if i + 1 < len(pack.names):
                    rest = rest.sum(axis=1)
                t = t[:, :-1, :]
                out[name] = GroupCounts(n_fake=t[:, :, 1].sum(0), hit=t[1, :, 1], n_real=t[:, :, 0].sum(0),
                                        flagged=t[1, :, 0])
        return out
