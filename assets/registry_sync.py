"""`python -m assets.registry_sync`: add a dynamic partition for every detector spec in the registry.

What the `detector_registry` sensor does on its tick, for use without the daemon (the demo, scripts).
"""

from dagster import DagsterInstance

from resources import PROJECT
from semitruths_dagster.detectors import scan_registry

from .detectors import registry_dir
from .partitions import detector_partitions


def sync(instance: DagsterInstance) -> list[str]:
    names = sorted(scan_registry(registry_dir(PROJECT))[0])  # valid specs; invalid ones are the sensor's to report
    existing = set(instance.get_dynamic_partitions(detector_partitions.name))
    instance.add_dynamic_partitions(detector_partitions.name, [n for n in names if n not in existing])
    return names


if __name__ == "__main__":
    print(" ".join(sync(DagsterInstance.get())))
