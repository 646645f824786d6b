"""Backfill one source dataset through the whole graph, from the UI: the `backfill_dataset` job.

Dagster's own backfill of `source_images` [D] cannot do it: the cross-dataset assets (prompt_filters,
saliency_labels, bins) are unpartitioned, and every partition of an asset below an unpartitioned one
depends on it, so that backfill would run every dataset's generations and predictions too. This job,
partitioned by dataset, submits one asset backfill of exactly D's slice: D's partition of every per-dataset
asset, D|<each generator> and D|<each registered detector>, the cross-dataset assets, every detector's
evaluation and the leaderboard. Dagster's backfill daemon runs it in graph order (a step starts when its
parents in the backfill are done) and shows it on the Backfills page; other datasets' partitions are left
alone. UI: Jobs -> backfill_dataset -> Launchpad, pick the dataset partition, Launch run (README "Using
Dagster"); or `dagster job launch -j backfill_dataset --tags '{"dagster/partition": "D"}'`.
"""


import time
from collections.abc import Iterable

from dagster import AssetKey, Definitions, MultiPartitionKey, OpExecutionContext, job, op
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from .partitions import dataset_partitions, dimensions


def dataset_slice(asset_graph, dataset: str, instance) -> set[AssetKeyPartitionKey]:
    """Every (asset, partition) of the graph that one dataset's backfill materializes: partitions whose
    `dataset` dimension is `dataset`, every partition of assets not partitioned by dataset (detector,
    or none)."""
    out: set[AssetKeyPartitionKey] = set()
    for key in asset_graph.materializable_asset_keys:
        node = asset_graph.get(key)
        partitions_def = node.partitions_def
        if partitions_def is None:
            out.add(AssetKeyPartitionKey(key, None))
            continue
        keys: Iterable[str] = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
        if "dataset" in dimensions(partitions_def):
            keys = [k for k in keys if _dataset_of(k) == dataset]
        out.update(AssetKeyPartitionKey(key, k) for k in keys)
    return out


def _dataset_of(key: str) -> str:
    return key.keys_by_dimension["dataset"] if isinstance(key, MultiPartitionKey) else key


def dataset_backfill(context: OpExecutionContext, dataset: str) -> PartitionBackfill:
    """The asset backfill of `dataset`'s slice of the graph (not yet submitted)."""
    asset_graph = context.repository_def.asset_graph
    subset = AssetGraphSubset.from_asset_partition_set(dataset_slice(asset_graph, dataset, context.instance),
                                                       asset_graph)
    return PartitionBackfill.from_asset_graph_subset(
        backfill_id=make_new_backfill_id(), backfill_timestamp=time.time(),
        tags={"semitruths/dataset": dataset, "semitruths/launched_by": context.run_id},
        dynamic_partitions_store=context.instance, asset_graph_subset=subset,
        title=f"dataset {dataset} through the graph", description=f"backfill_dataset run {context.run_id}",
        run_config=None)


@op(description="Submits the asset backfill of this run's dataset partition through the whole graph.")
def submit_dataset_backfill(context: OpExecutionContext) -> str:
    backfill = dataset_backfill(context, context.partition_key)
    context.instance.add_backfill(backfill)
    target = backfill.asset_backfill_data.target_subset
    sizes = {k.to_user_string(): _size(target, k) for k in sorted(target.asset_keys)}
    context.log.info(f"backfill {backfill.backfill_id} submitted for dataset {context.partition_key}: "
                     + ", ".join(f"{k} {n}" for k, n in sizes.items()))
    context.add_output_metadata({"backfill_id": backfill.backfill_id, "partitions": sizes})
    return backfill.backfill_id


def _size(subset: AssetGraphSubset, key: AssetKey) -> int:
    partitions = subset.partitions_subsets_by_asset_key.get(key)
    return len(partitions) if partitions is not None else 1


@job(partitions_def=dataset_partitions, tags={"semitruths/kind": "dataset_backfill"},
     description="Backfill one source dataset through the whole graph (its generator and detector partitions "
                 "included, other datasets untouched): pick the dataset partition and launch; the backfill "
                 "shows on the Backfills page.")
def backfill_dataset() -> None:
    submit_dataset_backfill()


defs = Definitions(jobs=[backfill_dataset])
