"""The detector plugin interface: preprocessing, weight loading, output -> P(fake), scoring, predictions.

A plugin is a `Detector` subclass that declares its weight roles, options, output kind and default
threshold, and implements `build_preprocessing`, `load_model` and the random-weights hooks of the
`save_random_weights` template (`random_model`, `write_random`, `random_options`: seeded random weights in
its REAL checkpoint format, read back by the same `load_model`). `build_detector(spec)` instantiates the
plugin a spec names. Prediction rule, as in the detectors' own evaluation code: fake iff P(fake) > threshold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from ..hub import resolve_device, seeded
from .cache import prediction_cache_key
from .checkpoints import (
    load_into,
    read_tensors,
    resolve_weight_ref,
    select_state_dict,
    strip_prefix,
    weight_file,
)
from .cropping import DEFAULT_MAX_TRIES, CropChoice, crop_box_for_mask
from .digests import check_digests
from .preprocessing import CropBox, Preprocessing
from .protocol import AUTHORS_PROTOCOL, check_protocol, protocol_preprocessing
from .runtime import AUTHORS, dtype_name
from .spec import DetectorSpec

# option name -> (accepted types, default, description)
OptionSchema = dict[str, tuple[tuple[type, ...], Any, str]]


@dataclass(frozen=True)
class RandomWeights:
    """What `save_random_weights` wrote: spec `weights` (paths) and the `options` that describe the
    tiny architecture, ready to go into a spec with `random_weights: true`."""

    weights: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False


@dataclass(frozen=True)
class Prediction:
    """One detector's score for one image. `random_weights` is copied from the spec: such scores are noise."""

    detector: str
    detector_version: str
    plugin: str
    image_sha256: str
    score: float  # P(fake)
    threshold: float
    predicted_fake: bool
    random_weights: bool
    preprocessing: str  # signature, including the crop box
    cache_key: str
    crop_box: list[int] | None = None
    protocol: str = AUTHORS_PROTOCOL  # `detectors.protocol` the input transform came from

    def to_row(self) -> dict[str, Any]:
        """A flat dict for a table row."""
        return dict(self.__dict__)


class Detector(ABC):
    """A loaded detector. Subclasses set the class attributes and implement the abstract methods."""

    PLUGIN: ClassVar[str]
    WEIGHT_ROLES: ClassVar[tuple[str, ...]] = ()
    OPTIONAL_WEIGHT_ROLES: ClassVar[tuple[str, ...]] = ()
    OPTIONS: ClassVar[OptionSchema] = {}
    DEFAULT_THRESHOLD: ClassVar[float] = 0.5
    OUTPUT: ClassVar[str] = "sigmoid"  # 'sigmoid' of one logit, or 'softmax' over logits (option fake_index)
    # The precision the authors' evaluation code runs in: what `detectors.dtype: authors` (the default)
    # gives (a plugin that differs overrides `resolve_precision` / `place`).
    AUTHORS_PRECISION: ClassVar[str] = "float32"
    # Quarantine rules of the plugin's own (`score_each` reasons written '<rule>: ...'); others are
    # 'detector_failed'.
    QUARANTINE_RULES: ClassVar[tuple[str, ...]] = ()
    # Whether `detectors.protocol: paper` can replace this plugin's input transform (False where the model's
    # own processor or an outside process prepares the pixels), and the options that protocol sets
    # (DE-FAKE's captioner gets the paper's pixels).
    PAPER_PROTOCOL: ClassVar[bool] = True
    PAPER_OPTIONS: ClassVar[dict[str, Any]] = {}
    # True where the paper's evaluation code ran this detector through its authors' own pipeline instead of
    # its shared transform (run_1.py hands CrossEfficientViT to its authors' face-crop scripts): under
    # `paper` it keeps `build_preprocessing`, and its rows still say `paper`.
    PAPER_OWN_PIPELINE: ClassVar[bool] = False
    # True for a `localizer.Localizer`: it also gives a per-pixel map of P(edited) (`localize`).
    PRODUCES_MAPS: ClassVar[bool] = False

    def __init__(
        self, spec: DetectorSpec, device: str | torch.device = "cpu", dtype: torch.dtype | str = torch.float32,
        protocol: str = AUTHORS_PROTOCOL,
    ) -> None:
        check_digests(spec)  # before anything reads the weights
        self.spec = spec
        self.protocol = check_protocol(protocol)
        if protocol != AUTHORS_PROTOCOL and not self.PAPER_PROTOCOL:
            raise ValueError(f"detectors.protocol: {protocol} cannot apply to detector '{spec.name}' "
                             f"(plugin {self.PLUGIN}): its pixels are prepared by its own processor or process; "
                             "evaluate it under detectors.protocol: authors")
        self.options: dict[str, Any] = {k: default for k, (_t, default, _d) in self.OPTIONS.items()}
        self.options.update({k: v for k, v in spec.options.items() if v is not None})
        if protocol != AUTHORS_PROTOCOL:
            self.options.update(self.PAPER_OPTIONS)
        self.device = resolve_device(device)
        # dtype: of the inputs (and the weights unless `place` mixes); precision: its name on rows and in the
        # cache key. P(fake) is computed in float32 whatever they are.
        self.dtype, self.precision = self.resolve_precision(dtype)
        own = self.build_preprocessing()
        self.preprocessing = own if self.PAPER_OWN_PIPELINE else protocol_preprocessing(protocol, own)
        model = self.load_model()  # a torch module, or a runner of its own (an ONNX session, a process)
        self.model = self.place(model).eval() if isinstance(model, torch.nn.Module) else model

    # --- identity -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def threshold(self) -> float:
        return self.DEFAULT_THRESHOLD if self.spec.threshold is None else self.spec.threshold

    @property
    def random_weights(self) -> bool:
        return self.spec.random_weights

    # --- to implement ---------------------------------------------------------------------------
    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        """Plugin-specific spec rules; raise `SpecError` naming the key. Default: none."""
        return None

    @abstractmethod
    def build_preprocessing(self) -> Preprocessing:
        """The paper code's transform, from `self.options`."""

    @abstractmethod
    def load_model(self) -> torch.nn.Module:
        """Build the architecture and load the spec's weights in the checkpoint's real format."""

    # --- random weights: a template; a plugin declares only what differs -------------------------
    RANDOM_FOLDER: ClassVar[str | None] = None  # a sub-folder of `out_dir` the release ships as one folder
    RANDOM_CHECKPOINT: ClassVar[str] = ""  # the released file name that the default `write_random` writes
    RANDOM_PICKLED: ClassVar[bool] = False  # the real format is a pickle (the spec must allow it)

    @classmethod
    def save_random_weights(cls, out_dir: Path, seed: int = 0, tiny: bool = True) -> RandomWeights:
        """Write seeded random weights in this plugin's real checkpoint format under `out_dir`: the
        networks of `random_model` (built under `seed`, the caller's RNG untouched), written by
        `write_random`, described by `random_options`."""
        folder = Path(out_dir) / cls.RANDOM_FOLDER if cls.RANDOM_FOLDER else Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with seeded(seed):
            model = cls.random_model(tiny)
        weights = cls.write_random(model, folder, tiny)
        return RandomWeights(weights=weights, options=cls.random_options(tiny, seed), allow_pickle=cls.RANDOM_PICKLED)

    @classmethod
    @abstractmethod
    def random_model(cls, tiny: bool) -> Any:
        """The random network(s) (tiny: the smallest of the real architecture), built inside `seeded`."""

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        """Save `model` as the release does; spec `weights` (role -> path). Default: the checkpoint object
        of `random_checkpoint` as `RANDOM_CHECKPOINT` (torch.save of tensors only: weights_only-safe)."""
        path = out_dir / cls.RANDOM_CHECKPOINT
        torch.save(cls.random_checkpoint(model), path)
        return {"model": str(path)}

    @classmethod
    def random_checkpoint(cls, model: torch.nn.Module) -> Any:
        """What the released file holds around the state dict. Default: the bare state dict."""
        return model.state_dict()

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        """Spec options describing the random architecture (empty: the plugin's defaults)."""
        return {}

    def resolve_precision(self, dtype: torch.dtype | str) -> tuple[torch.dtype, str]:
        """(input dtype, precision name) for a torch dtype or 'authors' (default: float32, the authors'
        precision of every plugin that does not override this)."""
        dtype = torch.float32 if dtype == AUTHORS else dtype
        return dtype, dtype_name(dtype)

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        """The loaded network on the device in its precision (default: all of it in `self.dtype`)."""
        return model.to(self.device, dtype=self.dtype)

    # --- helpers for plugins --------------------------------------------------------------------
    def weight_ref(self, role: str) -> tuple[str, str] | None:
        """('local', path) or ('hub', id) of a weight role, None when an optional role is not given."""
        ref = self.spec.weights.get(role)
        return None if ref is None else resolve_weight_ref(ref, self.spec.base_dir)

    def what(self, role: str) -> str:
        """How errors name a weight: detector, spec file and role."""
        return f"detector '{self.name}' ({self.spec.source or 'in-memory spec'}) weights.{role}"

    def weight_file(self, role: str, filename: str) -> Path:
        """A role's weight file on disk: the local path (or `filename` inside a local folder), or
        `filename` of a hub repo through huggingface_hub's cache (offline: a clear error)."""
        kind, ref = self.weight_ref(role)
        return weight_file(kind, ref, filename, self.what(role))

    def load_state(self, module: torch.nn.Module, role: str, key: str | None = None, prefix: str = "") -> None:
        """Strictly load a local weight file (safetensors or torch weights_only, never unpickled code)
        into `module`: `obj[key]` when the format wraps the state dict, `prefix` dropped from its keys."""
        _, path = self.weight_ref(role)
        self.load_state_from(module, Path(path), role, key, prefix)

    def load_state_from(
        self, module: torch.nn.Module, path: Path, role: str, key: str | None = None, prefix: str = ""
    ) -> None:
        """`load_state` from a given file of `role` (one resolved by `weight_file`)."""
        state = select_state_dict(read_tensors(path, self.what(role)), key, path, self.what(role))
        load_into(module, strip_prefix(state, prefix) if prefix else state, path, self.what(role))

    def trained_on(self, dataset: str, image_id: str) -> bool:
        """Whether the detector was fitted on this image (a project-fitted probe); never scored then."""
        return False

    # --- running --------------------------------------------------------------------------------
    def forward(self, pixels: torch.Tensor, texts: Sequence[str] | None = None) -> torch.Tensor:
        """Raw model outputs for a batch; text-using detectors override this."""
        return self.model(pixels)

    def forward_crops(self, pixels: torch.Tensor, texts: Sequence[str] | None = None) -> torch.Tensor:
        """`forward`, except that a (B, n, C, H, W) batch of n crops per image (five-crop preprocessing)
        gets the mean of each image's n outputs, as B-Free's wrapper averages its five crops' logits."""
        if pixels.dim() != 5:
            return self.forward(pixels, texts)
        b, n = pixels.shape[:2]
        repeated = None if texts is None else [t for t in texts for _ in range(n)]
        out = self.forward(pixels.flatten(0, 1), repeated)
        return out.reshape(b, n, *out.shape[1:]).mean(1)

    def texts_for(self, images: Sequence[Image.Image], texts: Sequence[str] | None) -> Sequence[str] | None:
        """Texts the model needs besides the pixels (DE-FAKE's captions); None for image-only detectors."""
        return texts

    def to_probability(self, outputs: torch.Tensor) -> torch.Tensor:
        """P(fake) per row: sigmoid of the single logit, or softmax picking the fake index."""
        if self.OUTPUT == "sigmoid":
            return torch.sigmoid(outputs.reshape(outputs.shape[0], -1)[:, 0].float())
        return torch.softmax(outputs.float(), dim=1)[:, int(self.options.get("fake_index", 1))]

    def crop_box_for_mask(
        self,
        mask: np.ndarray,
        threshold: float = DEFAULT_THRESHOLD,
        seed: int = 0,
        max_tries: int = DEFAULT_MAX_TRIES,
    ) -> CropChoice | None:
        """Mask-aware crop for this detector (None if it does not crop); see `cropping.py`."""
        return crop_box_for_mask(self.preprocessing, mask, threshold, seed, max_tries)

    def preprocessing_signature(self, box: CropBox | None = None) -> str:
        return f"{self.PLUGIN}:" + self.preprocessing.signature(box)

    @property
    def dtype_name(self) -> str:
        """The precision as rows record it ('float32', 'bfloat16', 'float16-clip+float32-head', ...)."""
        return self.precision

    def score_signature(self, box: CropBox | None = None) -> str:
        """What the cache key says of how a score was computed: the preprocessing signature, and the dtype
        unless float32 (so keys of float32 scores stay as they were): a reduced-precision score is another
        measurement, never reused for another precision; and the protocol unless `authors` (likewise)."""
        tag = "" if self.precision == "float32" else f"|dtype={self.precision}"
        if self.protocol != AUTHORS_PROTOCOL:
            tag += f"|protocol={self.protocol}"
        return self.preprocessing_signature(box) + tag

    def cache_key(self, image_sha256: str, box: CropBox | None = None) -> str:
        return prediction_cache_key(self.name, self.version, image_sha256, self.score_signature(box))

    @torch.inference_mode()
    def score(
        self,
        images: Sequence[Image.Image],
        boxes: Sequence[CropBox | None] | None = None,
        texts: Sequence[str] | None = None,
        batch_size: int = 16,
    ) -> np.ndarray:
        """P(fake) for each image (float64). Images of different tensor shapes are batched separately."""
        boxes = list(boxes) if boxes is not None else [None] * len(images)
        if len(boxes) != len(images):
            raise ValueError(f"{len(images)} images but {len(boxes)} crop boxes")
        texts = self.texts_for(images, texts)
        out = np.empty(len(images), dtype=np.float64)
        for start in range(0, len(images), batch_size):
            idx = list(range(start, min(start + batch_size, len(images))))
            tensors = [self.preprocessing.apply(images[i], boxes[i]) for i in idx]
            for shape in dict.fromkeys(t.shape for t in tensors):
                sub = [j for j, t in zip(idx, tensors, strict=True) if t.shape == shape]
                pixels = torch.stack([tensors[j - start] for j in sub]).to(self.device, dtype=self.dtype)
                sub_texts = [texts[j] for j in sub] if texts is not None else None
                out[sub] = self.to_probability(self.forward_crops(pixels, sub_texts)).cpu().double().numpy()
        return out

    def score_each(
        self,
        images: Sequence[Image.Image],
        boxes: Sequence[CropBox | None] | None = None,
        batch_size: int = 16,
    ) -> tuple[np.ndarray, dict[int, str]]:
        """`score`, plus index -> reason for images the detector could not score alone (their score is
        NaN; the stage quarantines them, under the rule the reason starts with when it is one of
        `QUARANTINE_RULES`). In-process models never fail one image alone: {}."""
        return self.score(images, boxes=boxes, batch_size=batch_size), {}

    def predict(
        self,
        images: Sequence[Image.Image],
        image_sha256s: Sequence[str],
        boxes: Sequence[CropBox | None] | None = None,
        texts: Sequence[str] | None = None,
        batch_size: int = 16,
    ) -> list[Prediction]:
        """Scores wrapped as `Prediction`s with cache keys and the random-weights flag."""
        if len(image_sha256s) != len(images):
            raise ValueError(f"{len(images)} images but {len(image_sha256s)} hashes")
        boxes = list(boxes) if boxes is not None else [None] * len(images)
        scores = self.score(images, boxes, texts, batch_size)
        return [self.prediction(sha, box, s) for sha, box, s in zip(image_sha256s, boxes, scores, strict=True)]

    def prediction(self, image_sha256: str, box: CropBox | None, score: float) -> Prediction:
        """The one row builder of a score: cache key, preprocessing signature, call at the threshold."""
        used = box if self.preprocessing.movable_crop else None
        return Prediction(
            detector=self.name,
            detector_version=self.version,
            plugin=self.PLUGIN,
            image_sha256=image_sha256,
            score=float(score),
            threshold=self.threshold,
            predicted_fake=bool(score > self.threshold),
            random_weights=self.random_weights,
            preprocessing=self.preprocessing_signature(used),
            cache_key=self.cache_key(image_sha256, used),
            crop_box=None if used is None else used.as_list(),
            protocol=self.protocol,
        )
