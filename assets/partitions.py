"""Partitions: one per source dataset and per generator named in the project configuration, and one per
registered detector (dynamic); `dimensions` names a partitioning by its dimensions, from which the jobs
and the demo's steps are derived (assets/graph.py)."""

from dagster import (
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
)

from resources import PROJECT
from semitruths_dagster.generation.stage import GenerationParams

# Read at code-location load from the project resource: adding a source or generator to semitruths.yaml
# and reloading adds it.
_config = PROJECT.config()
dataset_partitions = StaticPartitionsDefinition(_config.dataset_names)
generator_partitions = StaticPartitionsDefinition(list(_config.params("generation", GenerationParams).generators))
detector_partitions = DynamicPartitionsDefinition(name="detectors")
generation_partitions = MultiPartitionsDefinition({"dataset": dataset_partitions, "generator": generator_partitions})
prediction_partitions = MultiPartitionsDefinition({"dataset": dataset_partitions, "detector": detector_partitions})

# One-dimensional partitionings by the dimension name they stand for (multi-partitions name their own).
_DIMENSIONS = {"dataset": dataset_partitions, "generator": generator_partitions, "detector": detector_partitions}


def dimensions(partitions_def: PartitionsDefinition | None) -> tuple[str, ...]:
    """('dataset',), ('dataset', 'generator'), ... or () for an unpartitioned asset."""
    if partitions_def is None:
        return ()
    if isinstance(partitions_def, MultiPartitionsDefinition):
        return tuple(sorted(d.name for d in partitions_def.partitions_defs))  # Dagster's key order
    for name, known in _DIMENSIONS.items():
        if partitions_def is known or partitions_def == known:
            return (name,)
    raise ValueError(f"partitions {partitions_def} are not declared in assets/partitions.py")
