"""Partitions: one per source dataset named in the project configuration, and per generator."""

from dagster import MultiPartitionsDefinition, StaticPartitionsDefinition

from semitruths_dagster.config import load_config
from semitruths_dagster.generation.stage import GenerationParams

# Read at code-location load: adding a source or generator to semitruths.yaml and reloading adds it.
_config = load_config()
dataset_partitions = StaticPartitionsDefinition(_config.dataset_names)
generator_partitions = StaticPartitionsDefinition(list(_config.params("generation", GenerationParams).generators))
generation_partitions = MultiPartitionsDefinition({"dataset": dataset_partitions, "generator": generator_partitions})
