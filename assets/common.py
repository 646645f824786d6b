"""What every stage asset does after computing its rows: write, quarantine, expose, describe."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, TableColumn, TableSchema

from resources.project import ProjectResource
from semitruths_dagster import quarantine
from semitruths_dagster.sources.base import Rejection

_DAGSTER_TYPES = {pl.Utf8: "string", pl.Boolean: "bool", pl.Float64: "float", pl.Int32: "int", pl.Int64: "int"}


def column_schema(schema: Mapping[str, pl.DataType]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, _DAGSTER_TYPES.get(dtype, str(dtype))) for name, dtype in schema.items()])


def markdown_table(frame: pl.DataFrame, limit: int = 10) -> str:
    if frame.is_empty():
        return "_no rows_"
    frame = frame.head(limit)
    cells = [[str(v)[:60] for v in row] for row in frame.iter_rows()]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def publish_partition(
    context: AssetExecutionContext,
    project: ProjectResource,
    *,
    table: str,
    stage: str,
    rows: Sequence[Mapping],
    schema: Mapping[str, pl.DataType],
    rejections: Sequence[Rejection],
    preview_columns: Sequence[str],
) -> tuple[pl.DataFrame, dict]:
    """Replace this partition of `table` and of the stage's quarantine; return the frame and metadata."""
    dataset = context.partition_key
    store = project.tables()
    frame = pl.DataFrame(list(rows), schema=schema, orient="row")
    path = store.write(table, {"dataset": dataset}, frame, schema)
    store.write(quarantine.TABLE, quarantine.partition(stage, dataset), quarantine.quarantine_rows(rejections),
                quarantine.SCHEMA)
    project.warehouse().refresh([table, quarantine.TABLE])
    for r in rejections:
        context.log.warning(f"quarantined {r.item_id or '-'} ({r.file or '-'}): {r.message} [{r.rule}]")
    by_rule = Counter(r.rule for r in rejections)
    metadata = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(schema),
        "table_path": MetadataValue.path(str(path)),
        "quarantined": len(rejections),
        "quarantined_by_rule": MetadataValue.json(dict(by_rule)),
        "preview": MetadataValue.md(markdown_table(frame.select(preview_columns))),
    }
    return frame, metadata
