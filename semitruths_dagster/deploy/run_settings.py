"""Settings that travel with a run (issue 25: workers cannot diverge from the run).

The process that orchestrates a run (the run worker, or the command that ran it) records, before any step
runs, its storage root and its whole resolved configuration (environment variables expanded, the `demo:`
overlay applied when active, the file's path so relative paths resolve as they did there) as run tags.
Each step builds its configuration from those tags, whatever its worker's file or environment says; only
`storage.cache` (a per-host folder) is the worker's own. A worker whose own settings differ says so in one
warning line; one that cannot reach the run's storage fails the step in one line.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError, ProjectConfig, config_from_raw

TAG_STORAGE = "semitruths/storage_root"
TAG_SETTINGS = "semitruths/settings"
TAG_PIECES = "semitruths/settings_pieces"
# PostgreSQL indexes each run tag's (key, value) in a B-tree whose entries hold at most 2704 bytes
# (Dagster's idx_run_tags): a longer value fails the run at start, so the settings go in pieces.
PIECE_CHARS = 2000
# storage.cache is each host's own folder; storage.root travels as TAG_STORAGE; `demo` is in what it overlays.
UNCOMPARED = ("storage", "demo")


def section_digests(config: ProjectConfig) -> dict[str, str]:
    """One short digest per section of the checked configuration (as parsed: a default left out and the
    same default written down agree; relative paths as resolved)."""
    values: dict[str, Any] = {"seed": config.seed, "sources": {k: asdict(v) for k, v in config.sources.items()}}
    values.update({name: asdict(v) if is_dataclass(v) and not isinstance(v, type) else v
                   for name, v in config.sections.items()})
    return {name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]
            for name, value in sorted(values.items()) if name not in UNCOMPARED}


def recorded_settings(config: ProjectConfig) -> dict[str, Any]:
    """What a run records of its orchestrator's configuration: every section as resolved there, the
    storage root in effect (an override included), no per-host `storage.cache`, no `demo:` (already laid
    over when active)."""
    raw = {k: v for k, v in config.raw.items() if k != "demo"}
    raw["storage"] = {"root": str(config.storage_location)}
    return {"path": str(config.path), "settings": raw}


def run_tags(config: ProjectConfig) -> dict[str, str]:
    """The storage root, and the recorded settings as compact JSON in pieces of PIECE_CHARS: TAG_SETTINGS,
    then `TAG_SETTINGS/1`, ... (their number in TAG_PIECES; a re-execution with fewer leaves stale ones
    unread)."""
    text = json.dumps(recorded_settings(config), separators=(",", ":"), sort_keys=True, default=str)
    pieces = [text[i:i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]
    return {TAG_STORAGE: str(config.storage_location), TAG_SETTINGS: pieces[0], TAG_PIECES: str(len(pieces)),
            **{f"{TAG_SETTINGS}/{i}": piece for i, piece in enumerate(pieces[1:], 1)}}


def recorded_from_tags(tags: Mapping[str, str]) -> dict[str, Any] | None:
    """The settings a run recorded ({"path", "settings"}), joined from their pieces; None when it recorded none."""
    if TAG_SETTINGS not in tags:
        return None
    count = int(tags.get(TAG_PIECES) or 1)
    missing = [f"{TAG_SETTINGS}/{i}" for i in range(1, count) if f"{TAG_SETTINGS}/{i}" not in tags]
    if missing:
        raise ConfigError(f"the run's settings lack run tag(s) {', '.join(missing)} ({TAG_PIECES}: {count}): "
                          "re-execute the run to record them again")
    try:
        value = json.loads(tags[TAG_SETTINGS] + "".join(tags[f"{TAG_SETTINGS}/{i}"] for i in range(1, count)))
    except ValueError:
        return None
    ok = isinstance(value, dict) and isinstance(value.get("settings"), dict) and isinstance(value.get("path"), str)
    return value if ok else None  # else a run recorded before the settings travelled (section digests)


def config_from_run(tags: Mapping[str, str], own: ProjectConfig | None) -> ProjectConfig | None:
    """The run's configuration as its tags record it, with this worker's `storage.cache` (`own`: this
    worker's configuration, None when it cannot read one); None when the run recorded no settings."""
    recorded = recorded_from_tags(tags)
    if recorded is None:
        return None
    cache = None
    if own is not None and "storage" in own.sections:  # relative to this worker's own file
        mine = Path(own.sections["storage"].cache).expanduser()
        cache = str(mine if mine.is_absolute() else own.path.parent / mine)
    path = Path(recorded["path"])
    try:
        return config_from_raw(recorded["settings"], path, tags.get(TAG_STORAGE) or None, cache=cache)
    except ConfigError as exc:  # e.g. a registry name this worker's code does not know
        raise ConfigError(f"the settings run tag {TAG_SETTINGS} do not hold on this worker: {exc}") from None


def differing_sections(run: ProjectConfig, own: ProjectConfig) -> list[str]:
    """The sections of this worker's own configuration that differ from the run's (`storage`: its root)."""
    mine, theirs = section_digests(own), section_digests(run)
    differ = sorted(name for name in set(mine) | set(theirs) if mine.get(name) != theirs.get(name))
    return sorted([*differ, "storage"]) if str(own.storage_location) != str(run.storage_location) else differ


def check_reachable(config: ProjectConfig) -> None:
    """A local storage root of the run that does not exist on this host: one line naming the root, the
    run tag and the host (an object store's endpoint is checked when the storage is first opened)."""
    if config.storage_url:
        return
    root = Path(config.storage_root)
    if not root.is_dir():
        raise ConfigError(f"storage root {root} of this run (run tag {TAG_STORAGE}) does not exist on host "
                          f"{socket.gethostname()}: mount the run's storage at that path on this worker, or run "
                          "the step where it is")
