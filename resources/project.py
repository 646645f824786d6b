"""The project resource: the configuration file, parsed once per run, and the storage it names."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dagster import ConfigurableResource, DagsterInstance, DagsterRunStatus, InitResourceContext
from pydantic import Field, PrivateAttr

from semitruths_dagster.config import ConfigError, ProjectConfig, load_config
from semitruths_dagster.deploy.run_settings import (
    TAG_SETTINGS,
    TAG_STORAGE,
    check_reachable,
    config_from_run,
    differing_sections,
)
from semitruths_dagster.storage import ImageStore, TableStore, Warehouse, WriteRefused

ENDED = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING)


def run_guard(instance: DagsterInstance, run_id: str) -> Callable[[], None]:
    """Raises WriteRefused once the run `run_id` is failed or cancelled, as the instance records it:
    a step that outlived its run (its broker restarted, its run terminated) stops before writing."""

    def guard() -> None:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in ENDED:
            raise WriteRefused(f"run {run_id} is {run.status.value}: this step stops without writing "
                               "(re-run the partition; committed chunks are kept)")

    return guard


def recorded_tags(context: InitResourceContext) -> Mapping[str, str]:
    """The run's tags as the instance holds them now: those its orchestrator added once the run had started
    are missing from the run object that an in-process or multiprocess step was handed."""
    if context.instance is not None and context.run_id:
        run = context.instance.get_run_by_id(context.run_id)
        if run is not None:
            return run.tags
    return context.dagster_run.tags if context.dagster_run is not None else {}


class ProjectResource(ConfigurableResource):
    """Configuration, stage tables, image store and warehouse of one project.

    The configuration is parsed at resource setup (from the settings the run recorded, when it did so:
    deploy/run_settings.py) and once at code-location load for the partitions and the schedule
    (`resources.PROJECT`), so assets, sensors, schedules and partitions read the same file.
    """

    config_path: str = Field(default="", description="semitruths.yaml to use; empty = $SEMITRUTHS_CONFIG or the repo's")
    storage_root: str = Field(default="", description="Overrides the configuration's storage.root when set")
    _config: ProjectConfig | None = PrivateAttr(default=None)
    _guard: Callable[[], None] | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # A step uses the settings its run's orchestrator recorded when the run started (on every executor:
        # assets/settings_executor.py), not this worker's file and environment; only storage.cache is its own.
        tags = recorded_tags(context)
        if TAG_STORAGE in tags and not self.storage_root:
            self._config = self._from_run(context, tags)
        else:
            self._config = self._load()
        if context.instance is not None and context.run_id:
            self._guard = run_guard(context.instance, context.run_id)

    def _from_run(self, context: InitResourceContext, tags: Mapping[str, str]) -> ProjectConfig:
        try:
            own: ProjectConfig | None = self._load()
        except ConfigError as exc:
            own, why = None, str(exc)
        run = config_from_run(tags, own)
        if run is None:  # a run recorded before the whole settings travelled: its storage root only
            run = load_config(self.config_path or None, tags[TAG_STORAGE])
        if own is None:
            context.log.warning(f"this worker cannot read its own configuration ({why}); the step uses the run's "
                                f"settings (run tag {TAG_SETTINGS}) with the default storage.cache")
        elif differ := differing_sections(run, own):
            context.log.warning(f"this worker's configuration ({own.path}, its environment) differs from the run's "
                                f"in section(s) {', '.join(differ)}; the step uses the run's settings (run tag "
                                f"{TAG_SETTINGS}, recorded from {run.path})")
        check_reachable(run)
        return run

    def _load(self) -> ProjectConfig:
        return load_config(self.config_path or None, self.storage_root or None)

    def config(self) -> ProjectConfig:
        if self._config is None:
            self._config = self._load()
        return self._config

    @property
    def device(self) -> str:
        """The one device setting (`models.device`) shared by models, generators and detectors."""
        return self.config().models.device

    def tables(self) -> TableStore:
        """The stage tables; in a run, every write first checks that the run has not ended."""
        return TableStore(self.config().storage_location, guard=self._guard)

    def images(self) -> ImageStore:
        return ImageStore(self.config().storage_location)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.config().storage_location)
