"""What every stage asset does after computing its rows: write, quarantine, expose, describe."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    MultiPartitionKey,
    TableColumn,
    TableSchema,
)

from resources.project import ProjectResource
from semitruths_dagster import columns, quarantine
from semitruths_dagster.sources.base import Rejection
from semitruths_dagster.storage.versions import partition_version

FIRST = ("warning",)  # metadata rows shown before every other
_DAGSTER_TYPES = {pl.Utf8: "string", pl.Boolean: "bool", pl.Float64: "float", pl.Int32: "int", pl.Int64: "int"}


def column_schema(table: str, schema: Mapping[str, pl.DataType]) -> TableSchema:
    """The table's columns with their types and descriptions (`semitruths_dagster/columns.py`, the text of
    the README's column reference); a column nobody described yet is shown without one, not a failed run."""
    def text(name: str) -> str | None:
        try:
            return columns.describe(table, name)
        except KeyError:
            return None

    return TableSchema(columns=[TableColumn(name, _DAGSTER_TYPES.get(dtype, str(dtype)), description=text(name))
                                for name, dtype in schema.items()])


def markdown_table(frame: pl.DataFrame, limit: int = 10) -> str:
    if frame.is_empty():
        return "_no rows_"
    frame = frame.head(limit)
    cells = [[str(v)[:60] for v in row] for row in frame.iter_rows()]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def partition_of(context: AssetExecutionContext) -> dict[str, str]:
    """The run's partition as table folders: {"dataset": ...} or {"dataset": ..., "generator": ...}."""
    if not context.has_partition_key:
        return {}
    key = context.partition_key
    return dict(key.keys_by_dimension) if isinstance(key, MultiPartitionKey) else {"dataset": key}


def publish_partition(
    context: AssetExecutionContext,
    project: ProjectResource,
    *,
    table: str,
    rows: Sequence[Mapping],
    schema: Mapping[str, pl.DataType],
    preview_columns: Sequence[str],
    stage: str | None = None,
    rejections: Sequence[Rejection] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Replace this partition of `table` (and of the stage's quarantine when `rejections` is given);
    an unpartitioned asset replaces the whole table. Returns the frame and the metadata to report."""
    partition = partition_of(context)
    store = project.tables()
    frame = pl.DataFrame(list(rows), schema=schema, orient="row")
    path = store.write(table, partition, frame, schema)
    metadata = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(table, schema),
        "table_path": MetadataValue.path(str(path)),
        "preview": MetadataValue.md(markdown_table(frame.select(preview_columns))),
    }
    written = [table]
    if rejections is not None:
        metadata |= write_rejections(context, project, stage or table, partition["dataset"], rejections)
        written.append(quarantine.TABLE)
    project.warehouse().refresh(written)
    return frame, metadata


def versioned_result(context: AssetExecutionContext, project: ProjectResource, table: str, metadata: Mapping,
                     *, partition: Mapping[str, str] | None = None, files: Iterable[Path] = ()) -> MaterializeResult:
    """The step's result with the content version of the partition it wrote (`partition`, by default
    the run's) as its data version: a rerun that wrote the same rows reports the same version, and
    the automation (`assets/detectors.py`) starts nothing downstream of it."""
    written = partition_of(context) if partition is None else partition
    version = partition_version(project.tables(), table, written, files)
    return MaterializeResult(metadata=warning_first(metadata), data_version=DataVersion(version))


def warning_first(metadata: Mapping) -> dict:
    """The metadata with the random-weights warning as its first row: the UI lists rows in this order,
    and a reader should see that the figures are noise before reading them."""
    return {k: metadata[k] for k in FIRST if k in metadata} | {k: v for k, v in metadata.items() if k not in FIRST}


def write_rejections(context: AssetExecutionContext, project: ProjectResource, stage: str, dataset: str,
                     rejections: Sequence[Rejection]) -> dict:
    """Replace the stage's quarantine partition for `dataset`, log each item; returns UI metadata."""
    project.tables().write(quarantine.TABLE, quarantine.partition(stage, dataset),
                           quarantine.quarantine_rows(rejections), quarantine.SCHEMA)
    for r in rejections:
        context.log.warning(f"quarantined {r.item_id or '-'} ({r.file or '-'}, line {r.line}): {r.message} [{r.rule}]")
    return {"quarantined": len(rejections),
            "quarantined_by_rule": MetadataValue.json(dict(Counter(r.rule for r in rejections)))}


def inline_png(data: bytes, alt: str = "image") -> str:
    """Markdown for a PNG shown inline on the asset's page in the UI."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(data).decode()})"


def counts_table(frame: pl.DataFrame, *columns: str) -> MetadataValue:
    """A markdown table of row counts by `columns`, for the asset's page in the UI."""
    if frame.is_empty():
        return MetadataValue.md("_no rows_")
    return MetadataValue.md(markdown_table(frame.group_by(columns).len("rows").sort(columns), limit=100))
