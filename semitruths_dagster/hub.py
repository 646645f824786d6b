"""Where every model's weights come from (hub id, local folder, tiny random-weight build), loaded once.

The one place for what language, vision, diffusion and detector-backbone models share: where a
configuration's models come from (`ModelSource`: profile, overrides, tiny build root, device, dtype), the
reference type (`ModelRef`), the error with the override hint (`ModelUnavailableError`), the `id@revision` parser,
the per-process cache (`CACHE`), and `build_once`, which builds any local artefact (a tiny model, the
embedded sample) in a temporary sibling folder, writes its marker last and renames it into place, so a
reader never sees half of it; a full disk is one line (`CacheFullError`) and leaves nothing. No Dagster here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from .disk_full import DiskFullError, describe, disk_full_code

# A folder that holds this file was built by this project: its weights are random.
TINY_MARKER = "semitruths_tiny.json"
PROFILES = ("paper", "tiny")
# CLIP's image normalization (OpenAI), used by every CLIP-based model, tiny or real.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

T = TypeVar("T")
# A builder's temporary or moved-aside sibling older than this was left by a killed process: removed.
STALE_BUILD_S = 3600


class CacheFullError(DiskFullError):
    """The disk holding a cached build (a tiny model, the rendered sample) is full; one line naming it
    (the model-cache flavour of a full disk; the storage root's is `StorageFullError`)."""


@dataclass(frozen=True)
class ModelSource:
    """Where the models of one configuration come from; every loader (`models.resolve_model`,
    `generation.resolve_generator`, `models.ModelRegistry`) takes one.

    profile: 'paper' (hub ids) or 'tiny' (random-weight stand-ins built under `tiny_root`); overrides:
    name -> hub id[@revision] or local folder, winning over the profile; tiny_root: the folder tiny builds
    go to (None: the tiny profile cannot be used); device / dtype: as the configuration spells them
    ('auto' included), turned into torch objects only by the loaders that load.
    """

    profile: str = "tiny"
    overrides: Mapping[str, str] = field(default_factory=dict)
    tiny_root: Path | None = None
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown model profile '{self.profile}' (known: {', '.join(PROFILES)})")
        object.__setattr__(self, "overrides", MappingProxyType({k: str(v) for k, v in (self.overrides or {}).items()}))
        if self.tiny_root is not None:
            object.__setattr__(self, "tiny_root", Path(self.tiny_root))


@dataclass(frozen=True)
class ModelRef:
    """Where one model comes from.

    name: the role (`vlm`, `clip`, ...) or generator (`sd15`, ...) it plays; family: which loader reads
    it; source: 'hub' (`ref` is the id), 'local' (a directory), 'tiny' (a random-weight folder this
    project builds) or 'package' (weights shipped in a Python package); hub_id: the hub model the ref
    stands for, recorded on results; setting: the configuration key that overrides it; spec: the detector
    spec file whose key `name` names the model instead (a detector's weights are overridden in its spec).
    """

    name: str
    family: str
    source: str
    ref: str
    hub_id: str | None = None
    revision: str | None = None
    setting: str = "models.overrides"
    spec: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.source == "hub"

    @property
    def what(self) -> str:
        """How messages name it: "generator 'sd14'" or "model for role 'vlm'"."""
        if self.spec is not None:
            return f"detector spec {self.spec} key '{self.name}'"
        kind = "generator" if self.setting.startswith("generation.") else "model for role"
        return f"{kind} '{self.name}'"

    @property
    def role(self) -> str:
        return self.name

    @property
    def generator(self) -> str:
        return self.name


class ModelUnavailableError(RuntimeError):
    """A model cannot be loaded; the message names it, its ref, and how to point at a local copy."""

    def __init__(self, ref: ModelRef, cause: BaseException | str, *, licence: str | None = None,
                 gated: bool = False) -> None:
        """licence / gated: the weights' licence, and whether the hub asks users to accept it first."""
        self.ref = ref
        key = f"{ref.setting}.{ref.name}"
        profile = ref.setting.split(".")[0] + ".profile"
        if ref.is_hub:
            terms = ", ".join((["gated"] if gated else []) + ([f"licence '{licence}'"] if licence else []))
            where = f"hub id '{ref.ref}'" + (f" ({terms})" if terms else "")
            fetch = (("The hub asks every user to accept this model's licence before downloading it, so it "
                      "is never fetched implicitly. Accept the licence on the hub, download it while logged "
                      f"in (`hf download {ref.ref}`)") if gated else
                     ("No model hub is reachable (HF_HUB_OFFLINE) or the model is not in the local hub cache. "
                      f"Download it where a hub is reachable (`hf download {ref.ref}`)"))
            hint = (f"{fetch}, then set `{key}: /path/to/local/copy` in semitruths.yaml, or use "
                    f"`{profile}: tiny` for random-weight stand-ins.")
            if ref.spec is not None:
                hint = f"{fetch}, then set `{ref.name}: /path/to/local/copy` in {ref.spec}."
        else:
            where = f"directory '{ref.ref}'"
            where_set = f"`{ref.name}` of {ref.spec}" if ref.spec is not None else f"`{key}`"
            hint = f"Check that the folder holds a model saved with save_pretrained (set by {where_set})."
        super().__init__(f"{ref.what} ({where}) could not be loaded: {cause}. {hint}")


def resolve_device(device: Any = "auto") -> Any:
    """The torch device of the one device setting: 'auto' is a CUDA device leased by this process (never
    one another run holds, see devices.py) if any, else the CPU."""
    import torch

    from .devices import auto_device

    if str(device) == "auto":
        return torch.device(auto_device())
    return torch.device(device)


def parse_revision(value: str) -> tuple[str, str | None]:
    """'org/model@rev' -> ('org/model', 'rev'); no '@' -> (value, None)."""
    hub_id, _, revision = value.partition("@")
    return hub_id, revision or None


def looks_like_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or (os.sep in value and Path(value).expanduser().exists())


def resolve_ref(name: str, family: str, source: ModelSource, *, hub_id: str,
                tiny_folder: Callable[[Path], Path], setting: str, stands_for: str | None = None) -> ModelRef:
    """A model under `source`: its override (local path or hub id[@revision]) wins; the tiny profile
    names the folder `tiny_folder(tiny_root)` builds into; otherwise the hub id. A local or tiny folder
    records `stands_for` as the hub model it replaces."""
    override = source.overrides.get(name)
    if override:
        if looks_like_path(override):
            return ModelRef(name, family, "local", str(Path(override).expanduser().resolve()), stands_for,
                            setting=setting)
        ref, revision = parse_revision(override)
        return ModelRef(name, family, "hub", ref, ref, revision, setting)
    if source.profile == "tiny":
        if source.tiny_root is None:
            raise ValueError(f"profile 'tiny' needs a tiny_root folder to build '{name}' in")
        return ModelRef(name, family, "tiny", str(tiny_folder(source.tiny_root)), stands_for, setting=setting)
    return ModelRef(name, family, "hub", hub_id, hub_id, setting=setting)


def read_marker(folder: str | os.PathLike) -> dict:
    """The tiny marker of a folder, or {} for a real model."""
    path = Path(folder) / TINY_MARKER
    return json.loads(path.read_text()) if path.is_file() else {}


def is_random(ref: ModelRef) -> bool:
    """True for a folder built by this project with random weights."""
    return not ref.is_hub and bool(read_marker(ref.ref).get("random_weights"))


class ProcessCache:
    """Loaded models and pipelines, once per process, keyed by (kind, ...) so each kind clears alone."""

    def __init__(self) -> None:
        self._items: dict[Hashable, Any] = {}
        self._lock = threading.RLock()

    def get_or_load(self, key: tuple, load: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._items:
                self._items[key] = load()
            return self._items[key]

    def clear(self, kind: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == kind]:
                del self._items[key]


CACHE = ProcessCache()


def build_once(target: str | os.PathLike, build: Callable[[Path], None], *, stamp: str,
               marker: str = TINY_MARKER, seed: int | None = None) -> Path:
    """Build `target` with `build(folder)` unless it already holds `stamp` in its `marker` file.

    Atomic: built in a temporary sibling folder, marker written last, renamed into place (a concurrent
    builder's identical copy wins the race harmlessly). A `target` holding another stamp is replaced;
    a non-empty folder holding no marker is never overwritten (FileExistsError). With `seed`, the build
    draws its random weights from that seed without touching the caller's RNG state.
    """
    target = Path(target)
    if _holds(target, marker, stamp):
        return target
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and not (target / marker).is_file() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty and was not built here; refusing to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _drop_stale(target)
        # A sibling, so the final rename stays on one file system (rename is atomic only there).
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        _raise_if_full(exc, target)
        raise
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; nothing built here is secret
        if seed is None:
            build(tmp)
        else:
            with seeded(seed):
                build(tmp)
        (tmp / marker).write_text(stamp, encoding="utf-8")
        _move_into_place(tmp, target, marker, stamp)
    except Exception as exc:
        _raise_if_full(exc, target)
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG inside the block and give the caller back its own RNG state afterwards."""
    import torch  # only model builds are seeded; the embedded sample needs no torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def open_clip_name(ref: str, is_hub: bool) -> tuple[str, str | None]:
    """open_clip's (model name, pretrained tag) for `open_clip:<arch>/<tag>`, `hf-hub:<repo>` or a
    local folder in open_clip's hub layout."""
    if not is_hub:
        return f"local-dir:{ref}", None
    spec = ref.removeprefix("open_clip:")
    return (spec, None) if spec.startswith("hf-hub:") else tuple(spec.split("/", 1))  # type: ignore[return-value]


def save_open_clip(model: Any, model_cfg: dict[str, Any], out: Path) -> Path:
    """Save a CLIP in open_clip's hub layout (open_clip_config.json + open_clip_model.safetensors)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "open_clip_model.safetensors"))
    preprocess = {"mean": list(CLIP_MEAN), "std": list(CLIP_STD), "interpolation": "bicubic",
                  "resize_mode": "shortest"}
    (out / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess}, indent=2))
    return out


def _raise_if_full(exc: BaseException, target: Path) -> None:
    code = disk_full_code(exc, target.parent)  # also from writers that drop the errno (safetensors' Rust writer)
    if code is not None:
        raise CacheFullError(code, f"{describe(code)} while building {target}: nothing of it was "
                             f"kept; free space under {target.parent} or point storage.cache at a larger disk, "
                             "then re-run") from None


def _drop_stale(target: Path) -> None:
    """Remove this target's build folders left by a killed builder (never loaded, but they fill the disk)."""
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for path in target.parent.glob(pattern):
            try:
                if time.time() - path.stat().st_mtime > STALE_BUILD_S:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass  # a concurrent builder removed it


def _holds(folder: Path, marker: str, stamp: str) -> bool:
    try:
        return (folder / marker).read_text(encoding="utf-8") == stamp
    except OSError:
        return False


def _move_into_place(tmp: Path, dest: Path, marker: str, stamp: str) -> None:
    try:
        os.replace(tmp, dest)  # dest absent or an empty folder: one atomic rename
        return
    except OSError:
        if _holds(dest, marker, stamp):  # a concurrent builder got there first, with the same content
            return
    # dest holds an older build: move it aside, move ours in, then drop the old one.
    old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        if not _holds(dest, marker, stamp):  # not a concurrent builder's copy: put the previous one back
            if not dest.exists():
                os.replace(old, dest)
            raise
    shutil.rmtree(old, ignore_errors=True)
