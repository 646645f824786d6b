"""A Celery inspect command every worker answers with the settings it would run steps with, so that
`semitruths deploy check` lists each worker's storage root and flags one that differs. Workers import
it through `include` in deploy/celery.yaml."""

from __future__ import annotations

from typing import Any

from celery.worker.control import inspect_command

COMMAND = "semitruths_settings"


def settings_report() -> dict[str, Any]:
    """This process's resolved settings (or the one-line error that stops it from reading them)."""
    from ..config import load_config
    from .run_settings import section_digests

    try:
        config = load_config()
    except Exception as exc:  # reported, never raised: the worker keeps answering
        return {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"}
    return {"storage": str(config.storage_location), "config": str(config.path), "profile": config.models.profile,
            "sections": section_digests(config)}


@inspect_command(name=COMMAND)
def _semitruths_settings(state: Any, **kwargs: Any) -> dict[str, Any]:
    return settings_report()
