"""The quarantine table: every rejected input item with the file, the rule it broke and why."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from .provenance import code_version, utc_now
from .sources.base import Rejection

TABLE = "quarantine"
SCHEMA: dict[str, pl.DataType] = {
    "stage": pl.Utf8,
    "dataset": pl.Utf8,
    "item_id": pl.Utf8,
    "file": pl.Utf8,
    "line": pl.Int64,
    "rule": pl.Utf8,
    "message": pl.Utf8,
    "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}


def quarantine_rows(rejections: Iterable[Rejection]) -> list[dict]:
    now, version = utc_now(), code_version()
    return [
        {"stage": r.stage, "dataset": r.dataset, "item_id": r.item_id, "file": r.file, "line": r.line,
         "rule": r.rule, "message": r.message, "code_version": version, "created_at": now}
        for r in rejections
    ]


def partition(stage: str, dataset: str) -> dict[str, str]:
    """Each stage writes its own quarantine partition, so stages never overwrite each other's."""
    return {"stage": stage, "dataset": dataset}
