"""Detector specs: the small YAML files of the registry folder, their validation, and adding one.

A spec names a detector and says which plugin runs it, with which weights and options:

    name: ufd                      # unique; [a-z0-9_-]
    plugin: universal_fake_detect  # a key of `DETECTOR_PLUGINS`
    version: "1"                   # bump when weights or code change: predictions are cached by it
    weights:                       # role -> local path (relative to this file) or hub ref
      backbone: open_clip:ViT-L-14/openai
      head: weights/ufd/fc_weights.pth
    options: {}                    # plugin options (see the plugin's OPTIONS)
    threshold: 0.5                 # optional; the plugin's default otherwise
    random_weights: false          # true for random-weight stand-ins: flagged on every prediction
    allow_pickle: false            # true only for checkpoints that are pickled modules (runs their code)
    description: "..."             # optional

Validation (`registry.validate_spec`, which knows the plugins) raises `SpecError`s that name the file and the key (`detectors/ufd.yaml: key 'weights.head':
...`), so a user can fix the file without reading code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import typed

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NOT_YAML_KEYS = ("source", "base_dir")


class SpecError(ValueError):
    """A detector spec is invalid; the message names the file and the key."""

    def __init__(self, source: str | Path | None, key: str, problem: str) -> None:
        self.source = str(source) if source is not None else "<spec>"
        self.key = key
        super().__init__(f"{self.source}: key '{key}': {problem}")


@dataclass(frozen=True)
class DetectorSpec:
    """One validated registry entry. `weights` values are as written; `base_dir` resolves relative paths."""

    name: str = typed((str,), "a string")
    plugin: str = typed((str,), "a string")
    version: str = typed((str, int, float), "a string")
    weights: dict[str, str] = typed((dict,), "a mapping of role -> path or hub id")
    options: dict[str, Any] = typed((dict,), "a mapping", default_factory=dict)
    threshold: float | None = typed((int, float), "a number in [0, 1]", default=None)
    random_weights: bool = typed((bool,), "true or false", default=False)
    allow_pickle: bool = typed((bool,), "true or false", default=False)
    description: str = typed((str,), "a string", default="")
    source: str | None = None  # the YAML file it came from (not a YAML key)
    base_dir: str | None = None  # folder that relative weight paths are relative to (not a YAML key)

    def to_dict(self) -> dict[str, Any]:
        """The YAML content of this spec (without where it was read from)."""
        out: dict[str, Any] = {
            "name": self.name,
            "plugin": self.plugin,
            "version": self.version,
            "weights": dict(self.weights),
            "options": dict(self.options),
            "random_weights": self.random_weights,
            "allow_pickle": self.allow_pickle,
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.description:
            out["description"] = self.description
        return out
