"""Image saliency check (paper 3.2, B.2) on precomputed embeddings and scores; no models here.

Rules, in the order they are reported: black image, BRISQUE, CLIP image similarity (original vs edit),
CLIP edited image vs perturbed text, directional similarity. Two directional formulas: the paper's
(`directional_similarity`) and the original code's (`directional_similarity_original`), in whose units
the released windows are. Windows come either from percentiles over the
whole dataset (`percentile_thresholds`) or from fixed numbers (`RELEASED_THRESHOLDS`, or your own), and the
`SaliencyThresholds` used is serialisable so a run can record it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

RULES = ("black_image", "brisque", "clip_image_sim", "clip_edit_text_sim", "directional_sim")


# --------------------------------------------------------------------------- similarities


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows become NaN (a cosine with them is undefined)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > eps, x / np.where(norm > eps, norm, 1.0), np.nan)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of (N, D) arrays; NaN where either row is zero."""
    return np.sum(l2_normalize(a) * l2_normalize(b), axis=-1)


def clip_image_similarity(orig_image_emb: np.ndarray, edit_image_emb: np.ndarray) -> np.ndarray:
    """(N,) cosine between CLIP embeddings of the original and the edited image."""
    return cosine_rows(orig_image_emb, edit_image_emb)


def clip_image_text_similarity(edit_image_emb: np.ndarray, perturbed_text_emb: np.ndarray) -> np.ndarray:
    """(N,) cosine between the edited image and the perturbed caption / label (CLIP space)."""
    return cosine_rows(edit_image_emb, perturbed_text_emb)


@dataclass
class DirectionalSimilarity:
    values: np.ndarray  # (N,) cosine, NaN where undefined
    degenerate: np.ndarray  # (N,) bool: an embedding difference was zero (or an input was zero / NaN)


def directional_similarity(
    orig_image_emb: np.ndarray,
    edit_image_emb: np.ndarray,
    orig_text_emb: np.ndarray,
    edit_text_emb: np.ndarray,
    eps: float = 1e-8,
) -> DirectionalSimilarity:
    """The paper's formula: cos(CLIP_img(orig) - CLIP_img(edit), CLIP_txt(orig) - CLIP_txt(edit)).

    Each embedding is L2-normalised first (as CLIP similarities are), then differenced. An unchanged image
    or text gives a zero difference: the value is NaN and `degenerate` is True instead of an error.
    """
    d_img = l2_normalize(orig_image_emb) - l2_normalize(edit_image_emb)
    d_txt = l2_normalize(orig_text_emb) - l2_normalize(edit_text_emb)
    n_img, n_txt = np.linalg.norm(d_img, axis=-1), np.linalg.norm(d_txt, axis=-1)
    ok = (n_img > eps) & (n_txt > eps)  # False for NaN norms too
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(ok, np.sum(d_img * d_txt, axis=-1) / (n_img * n_txt), np.nan)
    return DirectionalSimilarity(values=values, degenerate=~ok)


def directional_similarity_original(
    orig_image_emb: np.ndarray,
    edit_image_emb: np.ndarray,
    orig_text_emb: np.ndarray,
    edit_text_emb: np.ndarray,
    eps: float = 1e-8,
) -> DirectionalSimilarity:
    """The original code's formula, which the released windows ([0.8115, 0.9786]) are in:
    cos(CLIP_img(orig) - CLIP_txt(orig), CLIP_img(edit) - CLIP_txt(edit)), on UNNORMALIZED features
    (transformers CLIPModel get_image_features / get_text_features, as quality_check/utils.py did).

    It compares each image's offset from its own caption, not the change of the image with the change
    of the text (the paper's formula, `directional_similarity`), so its typical values are near 0.9,
    where the paper's are 0.1-0.3. NaN and `degenerate` where an offset is zero.
    """
    a = np.atleast_2d(np.asarray(orig_image_emb, np.float64)) - np.atleast_2d(np.asarray(orig_text_emb, np.float64))
    b = np.atleast_2d(np.asarray(edit_image_emb, np.float64)) - np.atleast_2d(np.asarray(edit_text_emb, np.float64))
    n_a, n_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    ok = (n_a > eps) & (n_b > eps)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(ok, np.sum(a * b, axis=-1) / (n_a * n_b), np.nan)
    return DirectionalSimilarity(values=values, degenerate=~ok)


def is_black_image(images: np.ndarray, threshold: int = 5) -> np.ndarray:
    """(N,) True where every pixel (every channel) is <= threshold. Safety checkers output pure black;
    a small threshold tolerates compression noise. Accepts (H,W[,C]) or (N,H,W[,C]) uint8 arrays,
    or a list of arrays of any sizes."""
    if isinstance(images, list | tuple):
        return np.array([bool(np.asarray(im).max() <= threshold) for im in images])
    a = np.asarray(images)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (1, 3, 4)):
        a = a[None]
    return a.reshape(a.shape[0], -1).max(axis=1) <= threshold


def brisque_pass(scores: np.ndarray, max_score: float = 70.0) -> np.ndarray:
    """(N,) True where BRISQUE < max_score (lower is better quality); NaN fails."""
    s = np.asarray(scores, float)
    return s < max_score  # NaN < x is False


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Window:
    """Accepted interval; None means unbounded on that side."""

    lo: float | None = None
    hi: float | None = None
    lo_inclusive: bool = True
    hi_inclusive: bool = True

    def contains(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        ok = ~np.isnan(x)
        if self.lo is not None:
            ok &= (x >= self.lo) if self.lo_inclusive else (x > self.lo)
        if self.hi is not None:
            ok &= (x <= self.hi) if self.hi_inclusive else (x < self.hi)
        return ok


@dataclass(frozen=True)
class SaliencyThresholds:
    """The windows a saliency check used; a rule whose window is None is not applied."""

    brisque: Window | None = Window(hi=70.0, hi_inclusive=False)
    clip_image_sim: Window | None = None
    clip_edit_text_sim: Window | None = None
    directional_sim: Window | None = None
    black_threshold: int | None = 5  # recorded for provenance; black detection happens in is_black_image
    source: str = "fixed"  # "fixed", "percentile" or a preset name
    percentiles: dict = field(default_factory=dict)  # rule -> [lo_pct, hi_pct] when source == "percentile"
    n_rows: int | None = None  # rows the percentiles were computed over

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> SaliencyThresholds:
        d = dict(d)
        for k in ("brisque", "clip_image_sim", "clip_edit_text_sim", "directional_sim"):
            if d.get(k) is not None:
                d[k] = Window(**d[k])
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> SaliencyThresholds:
        return cls.from_dict(json.loads(s))


# Released fixed thresholds (SPEC 3, for the record). BRISQUE keeps the paper's strict "< 70". They are in
# the units of the original code (its CLIP, openai/clip-vit-base-patch32, and its directional formula):
# the `released` preset applies them to the `*_original` scores (`saliency_stage.PRESET_COLUMNS`).
RELEASED_THRESHOLDS = SaliencyThresholds(
    brisque=Window(0.0, 70.0, hi_inclusive=False),
    clip_image_sim=Window(0.8816, 0.9896),
    clip_edit_text_sim=Window(0.2083, 0.2971),
    directional_sim=Window(0.8115, 0.9786),
    source="released",
)
PRESETS: dict[str, SaliencyThresholds] = {"released": RELEASED_THRESHOLDS}


def _pct_window(values: np.ndarray | None, lo: float | None, hi: float | None, strict_lo: bool = False):
    if values is None:
        raise ValueError("a percentile window needs the metric's values")
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        raise ValueError("no non-NaN values to compute percentiles over")
    return Window(
        lo=None if lo is None else float(np.percentile(v, lo)),
        hi=None if hi is None else float(np.percentile(v, hi)),
        lo_inclusive=not strict_lo,
    )


def percentile_thresholds(
    *,
    clip_image_sim: np.ndarray | None = None,
    directional_sim: np.ndarray | None = None,
    clip_edit_text_sim: np.ndarray | None = None,
    clip_image_pct: tuple[float | None, float | None] | None = (20.0, 80.0),
    directional_pct: tuple[float | None, float | None] | None = (23.0, None),
    clip_edit_text_pct: tuple[float | None, float | None] | None = None,
    brisque_max: float | None = 70.0,
    black_threshold: int | None = 5,
) -> SaliencyThresholds:
    """Windows from percentiles over the WHOLE dataset (NaN ignored). Paper defaults: CLIP image sim in
    [p20, p80] (the released thresholds came from p20-p95), directional sim above p23 (strict), BRISQUE < 70.
    A `*_pct` of None switches that rule off."""
    pct: dict[str, list] = {}
    windows: dict[str, Window | None] = {}
    for name, vals, p in (
        ("clip_image_sim", clip_image_sim, clip_image_pct),
        ("directional_sim", directional_sim, directional_pct),
        ("clip_edit_text_sim", clip_edit_text_sim, clip_edit_text_pct),
    ):
        if p is None:
            windows[name] = None
            continue
        # "above the 23rd percentile": strict when only a lower bound is given
        windows[name] = _pct_window(vals, p[0], p[1], strict_lo=p[1] is None)
        pct[name] = list(p)
    sizes = [np.size(v) for v in (clip_image_sim, directional_sim, clip_edit_text_sim) if v is not None]
    return SaliencyThresholds(
        brisque=None if brisque_max is None else Window(hi=brisque_max, hi_inclusive=False),
        black_threshold=black_threshold,
        source="percentile",
        percentiles=pct,
        n_rows=max(sizes) if sizes else None,
        **windows,
    )


# --------------------------------------------------------------------------- applying the check


@dataclass
class SaliencyResult:
    passed: np.ndarray  # (N,) bool
    first_failure: np.ndarray  # (N,) object: first failing rule name in RULES order, None if passed
    failures: list[tuple[str, ...]]  # every failing rule per row
    failed: dict[str, np.ndarray]  # rule -> (N,) bool, for the rules that were applied
    thresholds: SaliencyThresholds


def apply_saliency(
    thresholds: SaliencyThresholds,
    *,
    is_black: np.ndarray | None = None,
    brisque: np.ndarray | None = None,
    clip_image_sim: np.ndarray | None = None,
    clip_edit_text_sim: np.ndarray | None = None,
    directional_sim: np.ndarray | None = None,
) -> SaliencyResult:
    """Pass / fail per row. A rule runs when its window is set (is_black: when given); a set window with no
    values is an error. A NaN value fails its rule (a degenerate directional similarity cannot pass)."""
    inputs = {
        "brisque": brisque,
        "clip_image_sim": clip_image_sim,
        "clip_edit_text_sim": clip_edit_text_sim,
        "directional_sim": directional_sim,
    }
    failed: dict[str, np.ndarray] = {}
    if is_black is not None:
        failed["black_image"] = np.asarray(is_black, bool)
    for name, vals in inputs.items():
        win = getattr(thresholds, name)
        if win is None:
            continue
        if vals is None:
            raise ValueError(f"thresholds set a {name} window but no {name} values were given")
        failed[name] = ~win.contains(vals)
    lengths = {len(v) for v in failed.values()}
    if len(lengths) > 1:
        raise ValueError(f"inputs differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    order = [r for r in RULES if r in failed]
    mat = np.column_stack([failed[r] for r in order]) if order else np.zeros((n, 0), bool)
    any_fail = mat.any(axis=1)
    first = np.full(n, None, dtype=object)
    if order:
        first[any_fail] = np.asarray(order, dtype=object)[mat.argmax(axis=1)[any_fail]]
    failures = [tuple(order[j] for j in np.flatnonzero(row)) for row in mat]
    return SaliencyResult(~any_fail, first, failures, failed, thresholds)
