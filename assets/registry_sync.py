"""`python -m assets.registry_sync`: add a dynamic partition for every detector spec in the registry.

What the `detector_registry` sensor does on its tick, for use without the daemon (the demo, scripts).
"""

from dagster import DagsterInstance

from semitruths_dagster.config import load_config
from semitruths_dagster.detectors import stage

from .detectors import detector_partitions, registry_fingerprints


def sync(instance: DagsterInstance) -> list[str]:
    config = load_config()
    registry = config.params("detectors", stage.DetectorParams).registry_dir(config.path.parent)
    names = sorted(registry_fingerprints(registry))
    existing = set(instance.get_dynamic_partitions(detector_partitions.name))
    instance.add_dynamic_partitions(detector_partitions.name, [n for n in names if n not in existing])
    return names


if __name__ == "__main__":
    print(" ".join(sync(DagsterInstance.get())))
