"""No write after failure (issue 25 item 2): a step whose run was failed or cancelled while it went on
stops at its next write and replaces no table. The Redis-restart case on real servers is in
tests/test_scaleout_stack.py (test_redis_restart_fails_the_run_and_its_step_writes_nothing_after)."""

import polars as pl
import pytest
from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

from resources import ProjectResource
from semitruths_dagster.storage import WriteRefused
from semitruths_dagster.storage.resumable import ResumablePartition

SCHEMA = {"id": pl.Utf8}


@pytest.mark.parametrize("ended_by", ["failed", "cancelled"])
def test_a_step_of_an_ended_run_writes_nothing(tmp_path, ended_by):
    seen = {}

    @asset
    def writer(context: AssetExecutionContext, project: ProjectResource) -> None:
        tables = project.tables()
        part = ResumablePartition(tables, "t", {"dataset": "a"}, "id", SCHEMA)
        part.write_chunk([{"id": "k0"}])  # the run is going: this chunk commits
        run = context.instance.get_run_by_id(context.run_id)
        if ended_by == "failed":  # as the Celery executor does when it loses the broker
            context.instance.report_run_failed(run, "broker lost")
        else:
            context.instance.report_run_canceled(run, "terminated from the UI")
        for attempt in (lambda: part.write_chunk([{"id": "k1"}]), part.finalize,
                        lambda: tables.write("t", {"dataset": "b"}, [{"id": "x"}], SCHEMA)):
            with pytest.raises(WriteRefused, match=f"run {context.run_id} is"):
                attempt()
        seen["done"] = part.done_keys()

    config = tmp_path / "semitruths.yaml"
    config.write_text(f"storage: {{root: {tmp_path / 'storage'}}}\nsources: {{sample: {{adapter: embedded}}}}\n")
    with DagsterInstance.ephemeral() as instance:
        materialize([writer], resources={"project": ProjectResource(config_path=str(config))},
                    instance=instance, raise_on_error=False)
    assert seen["done"] == {"k0"}
    tables = tmp_path / "storage" / "tables" / "t"
    assert not list(tables.rglob("part.parquet"))
