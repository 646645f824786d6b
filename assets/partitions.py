"""Partitions: one per source dataset named in the project configuration."""

from dagster import StaticPartitionsDefinition

from semitruths_dagster.config import load_config

# Read at code-location load: adding a source to semitruths.yaml and reloading adds its partition.
dataset_partitions = StaticPartitionsDefinition(load_config().dataset_names)
