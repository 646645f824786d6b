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
    sha256:                        # optional: role -> digest of the local weight file (or folder, see verify.py)
      head: 4771007457...
    golden:                        # optional: images with the P(fake) the authors' code gives them
      - {image: golden/fake.png, p_fake: 0.973, tolerance: 0.01}

Validation (`registry.validate_spec`, which knows the plugins) raises `SpecError`s that name the file and the key (`detectors/ufd.yaml: key 'weights.head':
...`), so a user can fix the file without reading code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import typed
from ..schema import DETECTOR_NAME_RE

NAME_RE = DETECTOR_NAME_RE  # one rule for spec names and settings keyed by detector
NOT_YAML_KEYS = ("source", "base_dir")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class GoldenImage:
    """An image and the P(fake) the detector must give it, within `tolerance`."""

    image: str  # absolute, or relative to the spec's folder
    p_fake: float
    tolerance: float


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
    sha256: dict[str, str] = typed((dict,), "a mapping of weight role -> sha256 hex digest", default_factory=dict)
    golden: tuple[GoldenImage, ...] = typed((list, tuple), "a list of {image, p_fake, tolerance}", default=())
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
        if self.sha256:
            out["sha256"] = dict(self.sha256)
        if self.golden:
            out["golden"] = [dict(g.__dict__) for g in self.golden]
        return out


def parse_digests(source: Any, data: dict[str, Any], weights: dict[str, str], base_dir: Any) -> dict[str, str]:
    """The `sha256` mapping, checked: known local roles, 64 hex digits."""
    from .checkpoints import resolve_weight_ref

    for role, digest in data.items():
        key = f"sha256.{role}"
        if role not in weights:
            raise SpecError(source, key, f"no weight role {role!r} in this spec (roles: {sorted(weights)})")
        if not isinstance(digest, str) or not SHA256_RE.match(digest.lower()):
            raise SpecError(source, key, f"{digest!r} is not 64 hex digits")
        if resolve_weight_ref(weights[role], base_dir)[0] == "hub":
            raise SpecError(source, key, "digests apply to local files; download the hub weights (or run "
                            "`semitruths detector convert`) and point the spec at the local copy")
    return {str(k): str(v).lower() for k, v in data.items()}


def parse_golden(source: Any, data: Any) -> tuple[GoldenImage, ...]:
    """The `golden` list, checked: each {image, p_fake, tolerance}, numbers in [0, 1], no '..' in paths."""
    out = []
    for i, item in enumerate(data):
        key = f"golden[{i}]"
        if isinstance(item, GoldenImage):
            item = dict(item.__dict__)
        if not isinstance(item, dict) or set(item) != {"image", "p_fake", "tolerance"}:
            raise SpecError(source, key, f"needs exactly image, p_fake, tolerance (got {item!r})")
        if not isinstance(item["image"], str):
            raise SpecError(source, f"{key}.image", f"expected a path relative to the spec, got {item['image']!r}")
        if ".." in Path(item["image"]).parts:
            raise SpecError(source, f"{key}.image", "must not contain '..' (relative paths stay inside the spec's folder)")
        for name in ("p_fake", "tolerance"):
            value = item[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise SpecError(source, f"{key}.{name}", f"{value!r} is not a number in [0, 1]")
        out.append(GoldenImage(item["image"], float(item["p_fake"]), float(item["tolerance"])))
    return tuple(out)


def spec_names(folder: str | Path) -> dict[str, Path]:
    """The `name:` of every YAML file in the registry folder, without validating anything (no plugin, no
    torch): enough to tell at once that a name has no spec at all."""
    import yaml

    names: dict[str, Path] = {}
    for path in sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")]) if Path(folder).is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue  # unreadable: the full scan refuses it with its reason
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.setdefault(data["name"], path)
    return names
