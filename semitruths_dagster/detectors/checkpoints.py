"""Reading detector checkpoints safely, and loading their tensors into modules with clear errors.

Never unpickles by default: `.safetensors` files go through safetensors, everything else through
`torch.load(weights_only=True)`, which only rebuilds tensors and plain containers. A checkpoint that is a
pickled whole module (DE-FAKE) can only be read by `load_pickled_module(..., allow_pickle=True)`, which
the spec must ask for explicitly, because unpickling runs code named inside the file.
"""

from __future__ import annotations

import os
import pickle
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HUB_SCHEMES = ("open_clip:", "hf-hub:", "hf:")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of the wrong format, or does not fit the model."""



def weight_file(kind: str, ref: str, filename: str | None, what: str) -> Path:
    """The local path of `filename` in a hub repo or local folder, or of the local file `ref` itself.

    Hub ids go through huggingface_hub (its cache, HF_HUB_OFFLINE respected); any failure to get the
    file (offline and not cached, no such repo, gated) is one CheckpointError naming the weight and repo.
    """
    if kind == "hub":
        if filename is None:
            raise CheckpointError(f"{what}: hub id {ref!r} given, but this weight must be a single local file")
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(ref.removeprefix("hf-hub:"), filename))
        except Exception as exc:  # offline, not cached, gated, no such repo: all mean "not available"
            raise CheckpointError(
                f"{what}: cannot get {filename} of hub repo {ref!r} ({type(exc).__name__}); download it where "
                "the hub is reachable and point the spec at the folder"
            ) from exc
    path = Path(ref)
    return path / filename if path.is_dir() and filename is not None else path

def resolve_weight_ref(ref: str, base_dir: str | os.PathLike | None) -> tuple[str, str]:
    """('local', absolute path) or ('hub', id) for a spec's weight entry.

    Rule: a scheme prefix (`open_clip:`, `hf-hub:`, `hf:`) is a hub ref; an absolute path, or a relative
    path that exists next to the spec, is local; `owner/name` that exists nowhere is a hub id; anything
    else is a local path (which will fail with a clear 'not found' when loaded).
    """
    if ref.startswith(HUB_SCHEMES):
        return "hub", ref.removeprefix("hf:")
    path = Path(ref).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if path.exists() or Path(ref).is_absolute():
        return "local", str(path.resolve())
    if HUB_ID_RE.match(ref) and not Path(ref).suffix:
        return "hub", ref
    return "local", str(path.resolve())


def require_file(path: str | os.PathLike, what: str) -> Path:
    """The path as a Path, or a CheckpointError saying which weight file is missing."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{what}: file not found: {p}")
    return p


def read_tensors(path: str | os.PathLike, what: str, safe_globals: Sequence[Any] = ()) -> Any:
    """The content of a weight file without unpickling code: safetensors, or torch weights_only.

    `safe_globals`: plain-data classes a format stores beside its tensors that weights_only may rebuild
    (AIDE's training `args`, an argparse.Namespace); nothing else is allowed.
    """
    p = require_file(path, what)
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{what}: {p} is not a readable safetensors file (truncated?): {exc}") from exc
    try:
        # map_location: checkpoints saved on a GPU load on a machine without one.
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError) as exc:  # a truncated zip archive or pickle stream
        raise CheckpointError(
            f"{what}: {p} is not a readable torch checkpoint (truncated or not a checkpoint): "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{what}: {p} holds pickled Python objects, not only tensors, so the safe loader "
            f"(torch.load weights_only=True) refused it. If it is a pickled whole model from a source you "
            f"trust, use a plugin that supports that format with `allow_pickle: true` in the spec. "
            f"Detail: {str(exc).splitlines()[0]}"
        ) from exc
    except Exception as exc:  # truncated zip or safetensors, bad header, not a checkpoint at all
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{what}: {p} is not a readable checkpoint (truncated or corrupt?): {detail}") from exc


def read_checkpoint(
    path: str | os.PathLike, what: str, allow_pickle: bool, safe_globals: Sequence[Any] = ()
) -> Any:
    """`read_tensors`, or, for a checkpoint that also pickles Python objects (SPAI's yacs config), a full
    unpickling when the spec allows it by name (`allow_pickle: true`)."""
    try:
        return read_tensors(path, what, safe_globals)
    except CheckpointError as exc:
        if not allow_pickle or "holds pickled Python objects" not in str(exc):
            raise
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise CheckpointError(
            f"{what}: {path} pickles objects of the module '{exc.name}', which is not installed "
            f"(pip install {exc.name.split('.')[0]})"
        ) from exc


def select_state_dict(
    obj: Any, key: str | None, path: str | os.PathLike, what: str
) -> dict[str, torch.Tensor]:
    """The tensor mapping of a checkpoint, taken from `obj[key]` when the format wraps it (CNNSpot: 'model')."""
    # A .safetensors file is always a flat state dict: a wrapper key of the pickle-era format does not apply.
    if key is not None and not (Path(path).suffix == ".safetensors" and isinstance(obj, Mapping) and key not in obj):
        if not isinstance(obj, Mapping) or key not in obj:
            found = sorted(map(str, obj))[:10] if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(f"{what}: {path} has no top-level key '{key}' (found: {found})")
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{what}: {path} is not a state dict of tensors (got {type(obj).__name__})")
    return dict(obj)


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys with `prefix` removed (DataParallel's 'module.', a wrapper's 'vit.'); others kept as they are."""
    return {k.removeprefix(prefix): v for k, v in state.items()}


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Any, what: str) -> None:
    """Strictly load `state` into `module`; a mismatch raises a CheckpointError listing the first keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[:5]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:5]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (e.g. {shapes[:3]})")
        raise CheckpointError(f"{what}: {path} does not fit the model: " + "; ".join(parts))
    module.load_state_dict(dict(state), strict=True)


def _remapping_pickle_module(remap: Mapping[str, str]) -> types.ModuleType:
    """A pickle-like module whose Unpickler finds classes under new names ('__main__.NeuralNet' -> ours)."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            target = remap.get(f"{module}.{name}")
            if target is not None:
                module, name = target.rsplit(".", 1)
            return super().find_class(module, name)

    mod = types.ModuleType("semitruths_remap_pickle")
    mod.Unpickler = Unpickler  # type: ignore[attr-defined]
    mod.load = lambda f, **kw: Unpickler(f, **kw).load()  # type: ignore[attr-defined]
    mod.__dict__.update(
        {k: getattr(pickle, k) for k in ("UnpicklingError", "HIGHEST_PROTOCOL", "dumps", "dump")}
    )
    return mod


def load_pickled_module(
    path: str | os.PathLike, allow_pickle: bool, what: str, remap: Mapping[str, str] | None = None
) -> Any:
    """Unpickle a whole-module checkpoint, only when the spec allows it.

    `remap` maps 'module.Class' names written in the file to importable ones: checkpoints saved from a
    script record their classes under '__main__', which does not exist in any other process.
    """
    p = require_file(path, what)
    if not allow_pickle:
        raise CheckpointError(
            f"{what}: {p} is a pickled whole module; loading it executes code stored in the file, so it is "
            f"refused by default. Set `allow_pickle: true` in the detector spec only if you trust its source."
        )
    try:
        return torch.load(
            p, map_location="cpu", weights_only=False, pickle_module=_remapping_pickle_module(remap or {})
        )
    except ModuleNotFoundError as exc:
        raise CheckpointError(
            f"{what}: {p} was pickled with classes from the module '{exc.name}', which is not installed "
            f"(DE-FAKE's finetune_clip.pt needs OpenAI's `clip` package: "
            f"pip install git+https://github.com/openai/CLIP)"
        ) from exc
