"""What a loaded model looks like to the rest of the library, and the error for a model that is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .profiles import ModelRef

# A directory that holds this file was built by `models.tiny`: its weights are random.
TINY_MARKER = "semitruths_tiny.json"


class ModelUnavailableError(RuntimeError):
    """A model cannot be loaded; the message names the role, the ref, and how to point at a local copy."""

    def __init__(self, ref: ModelRef, cause: BaseException | str) -> None:
        self.ref = ref
        where = f"hub id '{ref.ref}'" if ref.is_hub else f"directory '{ref.ref}'"
        hint = (
            "No model hub is reachable or the model is not in the local hub cache. Download it where a hub "
            "is reachable and set `models.overrides."
            f"{ref.role}: /path/to/local/copy` in semitruths.yaml, or use `models.profile: tiny`."
            if ref.is_hub
            else f"Check that the folder holds a model saved with save_pretrained (set by "
            f"`models.overrides.{ref.role}` in semitruths.yaml)."
        )
        super().__init__(f"model for role '{ref.role}' ({where}) could not be loaded: {cause}. {hint}")


@dataclass
class LoadedModel:
    """A model ready to run, with where it came from.

    `random_weights` is True for the tiny random-weight models: anything they produce is meaningless text
    and must be labelled as such downstream. `processor` is the processor or tokenizer that goes with it.
    """

    ref: ModelRef
    model: Any
    processor: Any
    device: torch.device
    dtype: torch.dtype
    random_weights: bool
    revision: str | None = None
    extra: dict[str, Any] | None = None

    @property
    def role(self) -> str:
        return self.ref.role

    @property
    def name(self) -> str:
        """The ref to record in rows: the hub id when known, else the directory."""
        return self.ref.hub_id or self.ref.ref
