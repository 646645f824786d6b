"""A weight reference as a local file: a local path, a file inside a local folder, or a hub repo's file.

Hub ids go through huggingface_hub (its cache, HF_HUB_OFFLINE respected); any failure to get the file
(offline and not cached, no such repo, gated) is one CheckpointError naming the weight and the repo.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoints import CheckpointError


def weight_file(kind: str, ref: str, filename: str | None, what: str) -> Path:
    """The local path of `filename` in a hub repo or local folder, or of the local file `ref` itself."""
    if kind == "hub":
        if filename is None:
            raise CheckpointError(
                f"{what}: hub id {ref!r} given, but this weight must be a single local file"
            )
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
