"""Settings that travel with a run (issue 25: workers cannot diverge from the run).

The process that orchestrates a run (the run worker, or the command that submitted it) records its
storage root and a digest of every other section of its configuration as run tags. Each step then
uses the run's storage root, whatever its worker's environment says, and refuses to run, in one line
naming the sections, when its own configuration file says something else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from ..config import ConfigError, ProjectConfig

TAG_STORAGE = "semitruths/storage_root"
TAG_SETTINGS = "semitruths/settings"
# storage.cache is each host's own folder; storage.root travels as TAG_STORAGE; `demo` is in what it overlays.
UNCOMPARED = ("storage", "demo")


def section_digests(config: ProjectConfig) -> dict[str, str]:
    """One short digest per section of the resolved configuration (environment variables expanded)."""
    return {name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]
            for name, value in sorted(config.raw.items()) if name not in UNCOMPARED}


def run_tags(config: ProjectConfig) -> dict[str, str]:
    return {TAG_STORAGE: str(config.storage_location), TAG_SETTINGS: json.dumps(section_digests(config))}


def check_run_settings(config: ProjectConfig, tags: Mapping[str, str]) -> None:
    """Raise ConfigError (one line) when this process's sections differ from those the run recorded."""
    if TAG_SETTINGS not in tags:
        return
    recorded, mine = json.loads(tags[TAG_SETTINGS]), section_digests(config)
    differ = sorted(name for name in set(recorded) | set(mine) if recorded.get(name) != mine.get(name))
    if differ:
        raise ConfigError(f"{config.path}: section(s) {', '.join(differ)} differ from the run's (its orchestrator "
                          "read another configuration or environment); start this worker with the same "
                          "semitruths.yaml and SEMITRUTHS_* variables, or re-submit the run")
