"""Scale-out without servers: op tags of GPU steps, Kubernetes parsing, device leases, storage URL rules."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from semitruths_dagster.config import ConfigError, load_config
from semitruths_dagster.deploy import ExecutionParams
from semitruths_dagster.devices import lease_device
from semitruths_dagster.storage.location import inside, storage_path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_assets_route_to_gpu_queue_and_others_do_not():
    from semitruths_dagster.definitions import defs

    ops = {a.key.path[-1]: a.op for a in defs.assets}
    for name in ("generations", "detector_predictions"):
        assert ops[name].tags["dagster-celery/queue"] == "gpu", name
        assert ops[name].pool == "gpu"
    for name in ("source_images", "masks", "change_metrics", "evaluation"):
        assert not {"dagster-celery/queue", "dagster-k8s/config"} & set(ops[name].tags), name


def test_dagster_k8s_parses_generations_tags_into_one_gpu_container():
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    from assets.generations import generations

    tags = generations.op.tags
    user = get_user_defined_k8s_config(tags)
    job = construct_dagster_k8s_job(DagsterK8sJobConfig(job_image="semitruths:latest", dagster_home="/opt/dagster"),
                                     ["dagster", "api", "execute_step"], "step-generations", user)
    pod = job.spec.template.spec
    limits = pod.containers[0].resources.limits
    assert str(limits["nvidia.com/gpu"]) == "1"  # Kubernetes quantities are strings
    assert [t.key for t in pod.tolerations] == ["nvidia.com/gpu"]


def test_tolerations_and_node_selector_come_from_the_settings():
    from assets.placement import gpu_op_tags

    params = ExecutionParams(gpu_queue="a100", gpu_tolerations=[], gpu_node_selector={"gpu": "a100"})
    tags = gpu_op_tags(params)
    assert tags["dagster-celery/queue"] == "a100"
    assert tags["dagster-k8s/config"]["pod_spec_config"] == {"tolerations": [], "node_selector": {"gpu": "a100"}}


def test_celery_workers_and_executor_share_one_configuration():
    from assets.placement import celery_config_source

    worker = yaml.safe_load((ROOT / "deploy" / "celery.yaml").read_text())["execution"]["config"]
    assert worker["config_source"] == celery_config_source(ExecutionParams())
    assert worker["broker"] == {"env": "DAGSTER_CELERY_BROKER_URL"}


def test_unknown_executor_names_the_setting(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: {s: {adapter: embedded}}\nexecution: {executor: slurm}\n")
    with pytest.raises(ConfigError, match="execution.executor: 'slurm'"):
        load_config(cfg).params("execution", ExecutionParams)


def _lease(directory, count, queue):
    queue.put((os.getpid(), lease_device(count, Path(directory), wait_s=0.2, poll_s=0.05)))
    time.sleep(120)  # hold the lease until killed


def test_concurrent_processes_lease_distinct_devices_and_a_killed_one_frees_its_card(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_lease, args=(tmp_path, 2, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    got = dict(queue.get(timeout=60) for _ in procs)
    assert sorted(got.values()) == [0, 1]  # never the same card
    third = ctx.Process(target=_lease, args=(tmp_path, 2, queue))
    third.start()
    third.join(60)
    assert third.exitcode != 0  # both cards leased: it gives up (RuntimeError), it does not share
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].join(10)
    fourth = ctx.Process(target=_lease, args=(tmp_path, 2, queue))
    fourth.start()
    try:
        assert queue.get(timeout=60)[1] == got[procs[0].pid]  # the killed process's card is free again
    finally:
        for p in (procs[1], fourth):
            p.kill()
            p.join(10)


def test_unknown_storage_scheme_is_one_line_naming_the_setting(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: {s: {adapter: embedded}}\nstorage: {root: 'nosuch://bucket/x'}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    message = str(err.value)
    assert "storage.root" in message and "nosuch" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == [cfg]  # nothing written


def test_object_store_keys_stay_inside_their_prefix():
    from upath import UPath

    root = UPath("memory://bucket/prefix")
    assert str(inside(root, "images/ab/x.png")).endswith("bucket/prefix/images/ab/x.png")
    for bad in ("../other/x.png", "/etc/passwd", "images/../../x", "s3://elsewhere/x"):
        with pytest.raises(ValueError, match="leaves its prefix"):
            inside(root, bad)
    assert storage_path("memory://bucket/prefix").protocol == "memory"


def test_a_sharded_source_is_one_partition_per_shard_and_the_shards_split_its_images(tmp_path):
    from semitruths_dagster.sources import list_source

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"sources: {{sample: {{adapter: embedded, shards: 3}}}}\nstorage: {{root: {tmp_path / 's'}}}\n")
    config = load_config(cfg)
    assert config.dataset_names == ["sample.shard0", "sample.shard1", "sample.shard2"]
    (tmp_path / "w.yaml").write_text(f"sources: {{sample: {{adapter: embedded}}}}\nstorage: {{root: {tmp_path / 's'}}}\n")
    whole = load_config(tmp_path / "w.yaml")
    everything = {i.image_id for i in list_source(whole.source("sample"), whole.storage_root).images}
    shards = [{i.image_id for i in list_source(config.source(n), config.storage_root).images} for n in config.dataset_names]
    assert set().union(*shards) == everything and sum(map(len, shards)) == len(everything)  # disjoint, complete
    assert sum(1 for s in shards if s) >= 2  # the four sample photos do spread over the shards
    bad = tmp_path / "b.yaml"
    bad.write_text("sources: {sample: {adapter: embedded, shards: 0}}\n")
    with pytest.raises(ConfigError, match="sources.sample.shards"):
        load_config(bad)
