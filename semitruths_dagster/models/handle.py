"""What a loaded language or vision model looks like to the rest of the library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..hub import ModelRef


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
