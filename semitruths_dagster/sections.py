"""The sections of semitruths.yaml, one typed dataclass each: the one definition of every key, its type, its
range and its allowed names (checked by `schema` when the file is read and whenever one is made in code).

Torch-free (stdlib only), so the configuration is checked before anything heavy loads. The stages import
their parameters from here. A new key: one field here (with its `rule`), one line in semitruths.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from .methods import INPAINTING, METHODS, P2P
from .schema import SettingError, check_values, checked, registry_names, rule

PROFILES = ("paper", "tiny")  # tiny: random-weight models built locally; paper: the paper's hub ids
DTYPES = ("auto", "float32", "float16", "bfloat16")  # auto: float16 on CUDA, float32 on the CPU
DETECTOR_DTYPES = ("authors", "float32", "float16", "bfloat16")  # authors: each plugin's own precision
# authors: each plugin's own input transform; paper: the Semi-Truths evaluation code's one transform for all
DETECTOR_PROTOCOLS = ("authors", "paper")
EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")  # in_process: one process per run (small configs)
PERCENT = {"ge": 0.0, "le": 100.0}
# generation.sizing: native = each image at its own size where the generator allows it, else the nearest
# allowed size / trained bucket, aspect kept (generation/sizing.py); square = every image at size x size
SIZINGS = ("native", "square")
SHARE = {"ge": 0.0, "le": 1.0}
P2P_DTYPES = ("pipeline", "float32", "float16", "bfloat16")  # pipeline: the pipeline's own dtype
SELF_MAX_TOKENS = 32**2  # null-text reference: self-attention replaced in layers of at most 32x32 queries


@dataclass(frozen=True)
@checked("storage")
class StorageParams:
    """Where stage tables, images, the warehouse and local models live (`root`: a folder or an object-store
    URL); `cache`: the local folder of model files and rendered sources when `root` is a URL."""

    root: str = "var/storage"
    cache: str = "var/cache"


@dataclass(frozen=True)
@checked("sources")
class SourceConfig:
    """One source dataset, which is one partition of every per-dataset asset."""

    name: str
    adapter: str = rule(names="source adapter")
    root: Path | None = None
    dataset: str | None = None  # filter on the metadata's `dataset` column (standardized layout)
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    # `shards: N` splits a source into N partitions `<name>.shard<i>` (by a stable hash of the image id),
    # so that a backfill can put one GPU on each; cross-dataset assets read every shard.
    shards: int = rule(1, ge=1)
    shard: int = rule(0, ge=0)


@dataclass(frozen=True)
@checked("masks")
class MaskParams:
    """Mask filtering and preprocessing before inpainting (paper A.1)."""

    min_area_ratio: float = rule(0.05, **SHARE)
    max_filter_size: int = rule(9, ge=1)
    max_filter_passes: int = rule(2, ge=0)
    mode_filter_size: int = rule(9, ge=1)  # the paper says 9; the original code used 10
    gaussian_blur_radius: float = rule(16.0, ge=0)


SEGMENT_CLASSES = ("both", "things", "stuff")


@dataclass(frozen=True)
@checked("segments")
class SegmentParams:
    """Automatic masks for `adapter: folder` sources: the `segmenter` role's panoptic segments (optionally
    refined by the `refiner` role, SAM), filtered. Recorded with every segment row."""

    min_score: float = rule(0.5, **SHARE)  # class probability of a segment (panoptic post-processing threshold)
    # share of a query's own mask (probability >= 0.5) it must win in the panoptic argmax to be a segment
    # (transformers' overlap_mask_area_threshold, its default)
    min_mask_share: float = rule(0.8, **SHARE)
    min_area_ratio: float = rule(0.05, **SHARE)  # the paper's 5% (A.1), here applied before inpainting too
    classes: str = rule("both", choices=SEGMENT_CLASSES)  # things (countable objects), stuff (sky, road), both
    stuff_labels: list[str] = field(default_factory=list)  # class names that are stuff; [] = the label set's own
    max_masks: int = rule(8, ge=1)  # per image, highest score first
    max_overlap: float = rule(0.5, **SHARE)  # most of a mask's area that may lie under a kept mask (after SAM)
    refine: bool = False  # SAM (`refiner` role) redraws each mask from its box
    chunk_size: int = rule(16, ge=1)  # images per committed chunk (resumable)


@dataclass(frozen=True)
@checked("models")
class ModelsConfig:
    """The one place of the model profile and of the device (models, generators and detectors), and the
    dtype of the language / vision models; `overrides`: model role -> local path or hub id."""

    profile: str = rule("tiny", choices=PROFILES)
    overrides: dict[str, str] = rule(default_factory=dict, key_names="model role")
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = rule("auto", choices=DTYPES)

    def __post_init__(self) -> None:
        kind = self.device.split(":")[0]
        if kind not in ("auto", "cpu", "cuda", "mps") or (":" in self.device and not (
                kind == "cuda" and self.device.split(":", 1)[1].isdigit())):
            raise SettingError("models.device", f"expected auto, cpu, cuda, cuda:N or mps, got '{self.device}'")


@dataclass(frozen=True)
@checked("prompts")
class PromptParams:
    """The `prompts` section of semitruths.yaml."""

    label_backend: str = rule("rules", names="label perturber")  # rules | llava
    captioner: str = rule("template", names="captioner")  # template | blip
    caption_backend: str = rule("rules", names="caption rewriter")  # rules | llm
    magnitudes: tuple[str, ...] = rule(default_factory=lambda: registry_names("magnitude"), names="magnitude")
    per_mask: int = rule(1, ge=1)
    per_image: int = rule(1, ge=1)
    masks_per_image: int | None = rule(None, ge=1)  # None: every eligible mask; N: the N largest (the demo: 1)
    sample_magnitude: bool = False  # True: draw per_mask magnitudes at random (the original drew one)
    edit_mode: str = rule("random", choices=("random", "alter", "replace"))
    retries: int = rule(2, ge=0)
    max_label_words: int = rule(5, ge=1)
    max_caption_words: int = rule(30, ge=1)
    score_with_clip: bool = True
    # Dataset-level filters; fixed thresholds replace the percentiles when given.
    clipscore_percentile: float = rule(5.0, **PERCENT)
    text_sim_percentiles: tuple[float, float] = rule((5.0, 95.0), **PERCENT)
    clipscore_min: float | None = None
    text_sim_bounds: tuple[float, float] | None = None
    methods: tuple[str, ...] = rule((INPAINTING, P2P), choices=(INPAINTING, P2P))


@dataclass(frozen=True)
@checked("generation.p2p")
class P2PSettings:
    """The `generation.p2p` mapping: every setting of one prompt-to-prompt edit, the one definition of their
    types, ranges and defaults (`generation.p2p.edit.P2PParams` is this class; documented there).
    Checked when the configuration is read (`GenerationParams`), torch-free."""

    steps: int = rule(50, ge=1)
    guidance: float = rule(7.5, ge=0)
    null_inner_steps: int = rule(10, ge=0)
    null_early_stop: float = rule(1e-5, ge=0)
    null_lr: float = rule(1e-2, gt=0)
    inversion_dtype: str = rule("float32", choices=P2P_DTYPES)
    mode: str = rule("auto", choices=("auto", "replace", "refine"))
    cross_replace_steps: float | tuple[float, float] = rule(0.8, **SHARE)
    self_replace_steps: float | tuple[float, float] = rule(0.5, **SHARE)
    self_replace_max_tokens: int = rule(SELF_MAX_TOKENS, ge=1)
    blend_words: tuple[str, str] | None = None
    blend_start: float = rule(0.2, **SHARE)
    blend_threshold: float = rule(0.3, **SHARE)
    size: int | tuple[int, int] = rule(512, ge=8)
    record_maps: bool = False


@dataclass(frozen=True)
@checked("generation")
class GenerationParams:
    """The `generation` section of semitruths.yaml (the model profile is `models.profile`; the pipelines'
    dtype, batch size and kernels are the `gpu` resource's)."""

    MOVED: ClassVar[dict[str, str]] = {"profile": "models.profile"}

    overrides: dict[str, str] = rule(default_factory=dict, key_names="generator")  # -> hub id[@rev] or dir
    # the paper's five (generation.registry.PAPER_GENERATORS: a test keeps the two equal)
    generators: tuple[str, ...] = rule(("sd14", "sd15", "sdxl", "openjourney", "kandinsky22"), names="generator")
    methods: tuple[str, ...] = rule(METHODS, choices=METHODS)
    steps: int | None = rule(None, ge=1)  # None: each generator's default (registry: 50; Kandinsky 2.2: 100)
    guidance: float | None = rule(None, ge=0)  # None: each generator's default (7.5; Kandinsky 2.2: 4.0)
    sizing: str = rule("native", choices=SIZINGS)
    size: int | None = rule(None, ge=8)  # pixel budget's side (square: the working size); None: the generator's
    chunk_size: int = rule(4, ge=1)  # items committed together
    only_kept: bool = True  # only requests that passed prompt_filters
    max_per_method: int | None = rule(None, ge=0)  # at most N edits per method and partition: the demo
    p2p: dict[str, Any] = field(default_factory=dict)  # P2PSettings fields (checked here, at load)
    instruction_backend: str = rule("template", choices=("template", "llm"))  # llm: role `llm` writes them
    # Settings that replace the above under the tiny profile: random weights make noise at any setting.
    tiny: dict[str, Any] = field(default_factory=lambda: {"size": 64, "steps": 10, "p2p": {"null_inner_steps": 2}})

    def __post_init__(self) -> None:
        tiny = check_values(GenerationParams, {k: v for k, v in self.tiny.items() if k != "tiny"},
                            "generation.tiny", partial=True)
        check_values(P2PSettings, self.p2p, "generation.p2p", partial=True)
        check_values(P2PSettings, tiny.get("p2p", {}), "generation.tiny.p2p", partial=True)

    def for_profile(self, profile: str) -> GenerationParams:
        """These parameters with the `tiny` section applied when the tiny profile runs."""
        return replace(self, **self.tiny, tiny={}) if profile == "tiny" and self.tiny else self


@dataclass(frozen=True)
@checked("saliency")
class SaliencyParams:
    """The `saliency` section of semitruths.yaml."""

    thresholds: str = rule("percentile", choices=("percentile", "released"))  # released: the fixed thresholds
    clip_image_percentiles: tuple[float, float] = rule((20.0, 80.0), **PERCENT)  # paper; release: (20, 95)
    directional_min_percentile: float = rule(23.0, **PERCENT)
    brisque_max: float = 70.0
    black_threshold: int = rule(5, ge=0, le=255)  # every channel <= this counts as black
    batch_size: int = rule(16, ge=1)


@dataclass(frozen=True)
@checked("change_metrics")
class ChangeParams:
    """The `change_metrics` section of semitruths.yaml (Algorithm 2's defaults are the paper's)."""

    pixel_threshold: float = rule(0.1, ge=0)
    min_noise_size: int = rule(10, ge=0)
    dilation_size: int = rule(11, ge=1)
    min_component_size: int = rule(200, ge=0)
    ssim_win_size: int = rule(5, ge=3)
    lpips: bool = True
    chunk_size: int = rule(32, ge=1)  # pairs held in memory at once


@dataclass(frozen=True)
@checked("bins")
class BinParams:
    """The `bins` section of semitruths.yaml."""

    metrics: tuple[str, ...] = ("area_ratio", "post_edit_ratio", "mse", "ssim", "lpips", "dreamsim",
                                "sentence_similarity", "clip_text_similarity")
    five_levels: bool = True  # also the released data's 20/40/60/80 bins, as `<metric>_bin5`
    diffused_share: float = rule(0.20, **SHARE)  # largest component >= this share of the image: diffused
    diffused_distance: float = rule(0.25, **SHARE)  # or many components spread over > this share of the diagonal


@dataclass(frozen=True)
@checked("detectors")
class DetectorParams:
    """The `detectors` section of semitruths.yaml."""

    registry: str = "var/detectors"  # folder of detector specs (YAML); relative to the configuration file
    weights: str = "var/detectors/weights"  # where random-weight demo detectors keep their weights
    demo: tuple[str, ...] = rule(("npr", "universal_fake_detect"), names="detector plugin")
    crop_threshold: float = rule(0.7, gt=0.0, le=1.0)  # share of the edit mask the crop keeps (original: 70%)
    only_salient: bool = True  # score only edits that passed saliency_labels (the released set's rule)
    batch_size: int = rule(16, ge=1)  # images per forward pass (the `gpu` resource's detector_batch_size overrides it)
    schedule: str = "0 3 * * *"  # cron of the re-evaluation schedule
    target_fpr: float = rule(0.05, gt=0.0, lt=1.0)  # calibrated threshold: this false-positive rate on real images
    n_boot: int = rule(1000, ge=0)  # bootstrap resamples of the confidence intervals
    # Precision the detectors score in, separate from generation's: `authors` = each plugin's authors'
    # precision (float32 for all but RINE: CLIP in float16 with a float32 head on CUDA, as clip.load).
    dtype: str = rule("authors", choices=DETECTOR_DTYPES)
    # Input transform of every detector: `authors` = each plugin's own; `paper` = the Semi-Truths evaluation
    # code's (Resize 256, CenterCrop 224, ImageNet mean/std, clamp to [0, 1]: detectors/protocol.py).
    protocol: str = rule("authors", choices=DETECTOR_PROTOCOLS)

    def __post_init__(self) -> None:
        if len(self.schedule.split()) != 5:
            raise SettingError("detectors.schedule", f"expected a cron of 5 fields, got '{self.schedule}'")

    def registry_dir(self, base: Path) -> Path:
        return (base / self.registry).resolve()

    def weights_dir(self, base: Path) -> Path:
        return (base / self.weights).resolve()


@dataclass(frozen=True)
@checked("localization")
class LocalizationParams:
    """The `localization` section of semitruths.yaml: per-pixel maps of where each image was edited.

    A map-output detector (`PRODUCES_MAPS`) gives its own map; every other detector named in
    `sliding_window` (null: all of them) gets a sliding-window map: windows of `window` px every `stride` px,
    each scored by the detector, overlaps averaged; at most `max_windows` per image (the grid thins, still
    covering the whole image). Maps are stored quantized to 8 bits with their longer side at most
    `map_size` px and scored against the ground truth at that size."""

    sliding_window: tuple[str, ...] | None = None  # detector names; [] = map-output detectors only
    window: int = rule(224, ge=8)
    stride: int = rule(112, ge=1)
    max_windows: int = rule(64, ge=1)  # bounds the cost: at most this many detector calls per image
    map_size: int = rule(256, ge=8)
    threshold: float = rule(0.5, gt=0.0, lt=1.0)  # the fixed pixel threshold (flagged iff map > threshold)
    conditions: tuple[str, ...] = ()  # of `conditions.names`: also mapped under these (cost: one map each)
    controls: bool = True  # map the confound controls too (scored beside the edits, never pooled with them)
    chunk_size: int = rule(32, ge=1)  # maps committed per chunk (a killed run resumes)
    batch_size: int = rule(16, ge=1)  # windows (or images, map-output detectors) per forward pass
    gallery: int = rule(4, ge=0)  # seeded examples (original, edit, truth, map) in the report


@dataclass(frozen=True)
@checked("controls")
class ControlParams:
    """The `controls` section of semitruths.yaml: which controls to make, and at most how many of each
    per (dataset, generator) (the first by control id, a seeded hash: None = all)."""

    kinds: tuple[str, ...] = rule(default_factory=lambda: registry_names("control"), names="control")  # all
    limit: int | None = rule(None, ge=1)


@dataclass(frozen=True)
@checked("execution")
class ExecutionParams:
    """executor: multiprocess (one machine, the default) | celery (workers on queues `gpu` / `cpu`) |
    k8s (one pod per step). GPU steps go to `gpu_queue` and, on Kubernetes, ask for one `nvidia.com/gpu`
    with `gpu_tolerations` / `gpu_node_selector`; every other step goes to `cpu_queue`."""

    executor: str = rule("multiprocess", choices=EXECUTORS)
    max_concurrent: int = rule(0, ge=0)  # multiprocess: steps at once (0 = one per CPU)
    gpu_queue: str = "gpu"
    cpu_queue: str = "cpu"
    gpu_tolerations: list[dict[str, Any]] = field(default_factory=lambda: [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    gpu_node_selector: dict[str, str] = field(default_factory=dict)
    # celery: a step whose worker stops answering (or drops it) for this long is lost (assets/celery_watch.py)
    worker_lost_after_s: int = rule(60, ge=10)
    worker_lost_retries: int = rule(0, ge=0)  # times a lost step is submitted again (it resumes) before failing


@dataclass(frozen=True)
@checked("reports")
class ReportParams:
    """The report server (`semitruths reports`; `semitruths ui` starts it beside Dagster): it serves
    `<storage>/reports` (every detector's report and the leaderboard page) read-only on host:port, and the
    UI's `report` links point at `base_url` (empty: http://host:port). When the UI is opened from another
    machine, set `base_url` to an address that machine reaches (an SSH tunnel of the port, a reverse proxy,
    or host 0.0.0.0 on a trusted network)."""

    host: str = "127.0.0.1"
    port: int = rule(3070, ge=1, le=65535)
    base_url: str = ""

    def url(self, relative: str) -> str:
        """The public URL of a file under `<storage>/reports` (`relative`: e.g. `npr/report.html`)."""
        base = (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
        return f"{base}/{relative.lstrip('/')}"


def _condition_params() -> type:
    from .conditions import ConditionParams  # its names are parsed by the conditions module itself

    return ConditionParams


# section -> its dataclass (or how to get it); `sources`, `seed` and `demo` have their own rules (config.py)
SECTIONS: dict[str, Any] = {
    "storage": StorageParams, "masks": MaskParams, "segments": SegmentParams, "models": ModelsConfig, "prompts": PromptParams,
    "generation": GenerationParams, "saliency": SaliencyParams, "change_metrics": ChangeParams,
    "bins": BinParams, "detectors": DetectorParams, "conditions": _condition_params, "controls": ControlParams,
    "execution": ExecutionParams, "localization": LocalizationParams, "reports": ReportParams,
}


def section_class(name: str) -> type:
    entry = SECTIONS[name]
    return entry if isinstance(entry, type) else entry()
