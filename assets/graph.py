"""What is derived from the asset graph instead of being listed by hand: the jobs (one per partitioning)
and the demo's steps (the graph in topological order, cut where the partitioning changes).

`semitruths demo` (`demo_run.py`) runs each step once per partition key, in one process.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetKey, AssetsDefinition, AssetSelection, define_asset_job

from .partitions import dimensions

# A step: the assets materialized together, and the partition dimensions they are launched over.
Step = tuple[list[str], tuple[str, ...]]


def _by_key(assets: Sequence[AssetsDefinition]) -> dict[AssetKey, AssetsDefinition]:
    return {key: a for a in assets for key in a.keys}


def steps(assets: Sequence[AssetsDefinition]) -> list[Step]:
    """Topological order of the graph, grouped into runs that share one partitioning: each step takes
    every asset of its partitioning whose upstream assets are done, as long as any is ready, then the
    next step starts with the ready asset that comes first by name."""
    by_key = _by_key(assets)
    deps = {key: {d for d in a.asset_deps[key] if d in by_key} for a in assets for key in a.keys}
    done: set[AssetKey] = set()
    out: list[Step] = []
    while len(done) < len(deps):
        ready = sorted((k for k in deps if k not in done and deps[k] <= done), key=lambda k: k.to_user_string())
        if not ready:
            raise ValueError(f"the asset graph has a cycle among {sorted(k.to_user_string() for k in deps if k not in done)}")
        scope = dimensions(by_key[ready[0]].partitions_def)
        step: list[AssetKey] = []
        while ready := [k for k in ready if dimensions(by_key[k].partitions_def) == scope]:
            step += ready
            done.update(ready)
            ready = sorted((k for k in deps if k not in done and deps[k] <= done), key=lambda k: k.to_user_string())
        out.append(([k.to_user_string() for k in step], scope))
    return out


def job_name(scope: tuple[str, ...]) -> str:
    """'dataset_pipeline' (per dataset), 'dataset_generator_pipeline', ...; 'cross_dataset' for the
    unpartitioned stages, whose cutoffs come from every dataset at once."""
    return "_".join(scope) + "_pipeline" if scope else "cross_dataset"


def pipeline_jobs(assets: Sequence[AssetsDefinition]) -> list:
    """One job per partitioning, selecting every asset partitioned that way."""
    scopes: dict[tuple[str, ...], list[AssetKey]] = {}
    for a in assets:
        for key in a.keys:
            scopes.setdefault(dimensions(a.partitions_def), []).append(key)
    return [
        define_asset_job(job_name(scope), selection=AssetSelection.assets(*keys),
                         partitions_def=next(a.partitions_def for a in assets if a.key in keys) if scope else None,
                         description=f"Materialize every stage partitioned by {' x '.join(scope) or 'nothing (all datasets at once)'}.")
        for scope, keys in sorted(scopes.items())
    ]

