"""`released_edits`: the released Semi-Truths evaluation set's edited images, with metrics and bins as given."""

from collections import Counter

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Definitions,
    MetadataValue,
    asset,
)

from resources import ProjectResource
from semitruths_dagster import quarantine
from semitruths_dagster.sources.released import edit_ids, parse_released
from semitruths_dagster.sources.released_stage import SCHEMA, TABLE, build_edits
from semitruths_dagster.storage.resumable import ResumablePartition

from .common import (
    column_schema,
    counts_table,
    markdown_table,
    partition_of,
    versioned_result,
    write_rejections,
)
from .partitions import dataset_partitions

CHECKS = [
    AssetCheckSpec("unique_generation_ids", asset=TABLE, description="No released edit appears twice."),
    AssetCheckSpec("files_in_store", asset=TABLE, description="Every edited image is in the image store."),
    AssetCheckSpec("cells_readable", asset=TABLE,
                   description="Warns when released cells were unreadable (not a number, unknown bin level)."),
]


@asset(
    partitions_def=dataset_partitions,
    group_name="sources",
    kinds={"parquet"},
    code_version="released_edits-v1",
    check_specs=CHECKS,
)
def released_edits(context: AssetExecutionContext, project: ProjectResource):
    """One row per edited image of a released Semi-Truths evaluation set (a source with `adapter:
    released`): the original's image_id and mask, method, generator (and the released model name),
    semantic magnitude, the released change metrics under this project's names and their bins as
    released, the image's store path and hash, the csv line and row it came from, and `issues` naming
    any cell that could not be read. Partitions of other sources stay empty. Rows commit in chunks: a
    killed run resumes without copying again what it had finished."""
    config = project.config()
    partition = partition_of(context)
    dataset = partition["dataset"]
    source = config.source(dataset)
    tables = project.tables()
    resumable = ResumablePartition(tables, TABLE, partition, "generation_id", SCHEMA)
    if source.adapter != "released":
        frame = resumable.finalize(keep=set())
        yield versioned_result(context, project, TABLE, {"dagster/row_count": 0, "note": f"source '{dataset}' "
                               f"is a '{source.adapter}' source: its edits come from `generations`"})
    else:
        table = parse_released(source)
        made, rejections = build_edits(table, dataset, project.images(), resumable.done_keys(), resumable.write_chunk)
        frame = resumable.finalize(keep=edit_ids(table))
        quarantined = write_rejections(context, project, TABLE, dataset, rejections)
        project.warehouse().refresh([TABLE, quarantine.TABLE])
        issues = Counter(i.split(":")[0] for row in frame["issues"].to_list() for i in row or [])
        yield versioned_result(context, project, TABLE, {
            "dagster/row_count": frame.height,
            "dagster/column_schema": column_schema(TABLE, SCHEMA),
            "source_file": MetadataValue.path(str(table.csv_path)),
            "copied_this_run": made,
            "already_done": frame.height - made,
            **quarantined,
            "unreadable_cells_by_column": MetadataValue.json(dict(issues)),
            "bins_given": MetadataValue.json(table.category_columns),
            "by_method": counts_table(frame, "method", "generator"),
            "preview": MetadataValue.md(markdown_table(frame.select("method", "generator", "magnitude",
                                                                    "released_path"))),
        })
    store = project.images()
    yield AssetCheckResult(check_name="unique_generation_ids", passed=frame["generation_id"].is_unique().all(),
                           metadata={"rows": frame.height})
    missing = [p for p in frame["image_path"] if not store.abspath(p).is_file()]
    yield AssetCheckResult(check_name="files_in_store", passed=not missing, metadata={"missing": len(missing)})
    unreadable = int(frame["issues"].list.len().gt(0).sum()) if frame.height else 0
    yield AssetCheckResult(check_name="cells_readable", passed=unreadable == 0, severity=AssetCheckSeverity.WARN,
                           metadata={"rows_with_unreadable_cells": unreadable})


defs = Definitions(assets=[released_edits])
