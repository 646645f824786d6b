"""`semitruths deploy check`: is every part of a scaled-out deployment reachable?

Each probe returns a Finding: what it checked, whether it is fine, and (when not) one line saying what
to fix, naming the setting or environment variable. Nothing here changes the deployment except the
storage probe, which writes, reads back and deletes one small object under `_deploy_check/`.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import ProjectConfig
from .settings import ExecutionParams

BROKER_ENV, BACKEND_ENV = "DAGSTER_CELERY_BROKER_URL", "DAGSTER_CELERY_BACKEND_URL"


@dataclass(frozen=True)
class Finding:
    component: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok     ' if self.ok else 'MISSING'} {self.component}: {self.detail}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _env_value(value):
    """An instance-file value: a literal or {env: NAME}."""
    if isinstance(value, dict) and "env" in value:
        return os.environ.get(value["env"]), value["env"]
    return value, None


def check_database(dagster_home: Path) -> Finding:
    """The instance database of $DAGSTER_HOME/dagster.yaml (PostgreSQL for scale-out)."""
    path = dagster_home / "dagster.yaml"
    if not path.is_file():
        return Finding("instance database", False, f"no {path}: set DAGSTER_HOME to a folder holding deploy/dagster.yaml")
    db = ((yaml.safe_load(path.read_text()) or {}).get("storage") or {}).get("postgres", {}).get("postgres_db")
    if not db:
        return Finding("instance database", False, f"{path} has no storage.postgres: workers on other hosts cannot "
                       "share a SQLite instance; use deploy/dagster.yaml")
    values, names = {}, {}
    for key in ("hostname", "port", "db_name", "username", "password"):
        values[key], names[key] = _env_value(db.get(key))
    unset = [names[k] for k, v in values.items() if v in (None, "") and names[k]]
    if unset:
        return Finding("instance database", False, f"environment variable(s) {', '.join(unset)} not set")
    import psycopg2

    try:
        psycopg2.connect(host=values["hostname"], port=int(values["port"] or 5432), dbname=values["db_name"],
                         user=values["username"], password=values["password"], connect_timeout=5).close()
    except Exception as exc:
        hint = names["password"] if "password" in str(exc) else names["hostname"]
        return Finding("instance database", False, f"cannot connect to postgresql://{values['username']}@"
                       f"{values['hostname']}:{values['port']}/{values['db_name']} ({_first_line(exc)}); fix {hint}")
    return Finding("instance database", True, f"postgresql://{values['username']}@{values['hostname']}:"
                   f"{values['port']}/{values['db_name']}")


def check_worker_settings(app, mine: dict, timeout_s: float) -> list[Finding]:
    """Each worker's storage root (and whether its settings are this host's). Its steps use the settings
    of their run whatever it was started with, but a worker whose own root differs (another
    SEMITRUTHS_STORAGE or semitruths.yaml) may not reach the runs' storage, and one whose sections differ
    has its steps warn."""
    from .worker_report import COMMAND

    found = []
    for reply in app.control.broadcast(COMMAND, reply=True, timeout=timeout_s) or []:
        for worker, theirs in reply.items():
            if "error" in theirs:
                found.append(Finding(f"worker {worker}", False, f"cannot read its settings: {theirs['error']}"))
            elif theirs.get("storage") != mine["storage"]:
                found.append(Finding(f"worker {worker}", False, f"storage root {theirs.get('storage')} differs from "
                                     f"this host's {mine['storage']}: start it with the same storage.root / "
                                     "SEMITRUTHS_STORAGE"))
            else:
                differ = sorted(k for k in set(mine["sections"]) | set(theirs.get("sections", {}))
                                if mine["sections"].get(k) != theirs.get("sections", {}).get(k))
                found.append(Finding(f"worker {worker}", not differ, f"storage root {theirs['storage']}" + (
                    f"; section(s) {', '.join(differ)} differ from this host's {mine['config']}" if differ else "")))
    return found


def check_broker_and_workers(params: ExecutionParams, timeout_s: float = 3.0) -> list[Finding]:
    """The Celery broker, and at least one worker listening on each queue."""
    broker = os.environ.get(BROKER_ENV)
    if not broker:
        return [Finding("celery broker", False, f"{BROKER_ENV} is not set (e.g. redis://127.0.0.1:6379/0)")]
    from celery import Celery
    from kombu import Connection

    app = Celery(broker=broker, backend=os.environ.get(BACKEND_ENV))
    try:
        if broker.startswith(("redis://", "rediss://")):  # kombu's redis transport retries without end
            import redis

            redis.Redis.from_url(broker, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping()
        else:
            with Connection(broker, connect_timeout=timeout_s) as conn:
                conn.ensure_connection(max_retries=1, timeout=timeout_s)
    except Exception as exc:
        return [Finding("celery broker", False, f"{broker} unreachable ({_first_line(exc)}); start it or fix {BROKER_ENV}")]
    found = [Finding("celery broker", True, broker)]
    replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    for queue in (params.gpu_queue, params.cpu_queue):
        workers = sorted(w for w, queues in replies.items() if any(q["name"] == queue for q in queues))
        fix = ("one per GPU: CUDA_VISIBLE_DEVICES=<i> dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml "
               f"-q {queue} -n {queue}<i> -- --concurrency 1") if queue == params.gpu_queue else \
              f"dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml -q {queue} -n {queue}"
        found.append(Finding(f"workers on queue '{queue}'", bool(workers),
                             ", ".join(workers) if workers else f"none; start {fix}"))
    from .worker_report import settings_report

    return found + check_worker_settings(app, settings_report(), timeout_s)


def check_storage(location: str | Path) -> Finding:
    """Write, read back and delete one probe object under the storage root."""
    from ..storage.location import StorageError, storage_path, write_atomic

    try:
        root = storage_path(location)
        probe = root / "_deploy_check" / f"{uuid.uuid4().hex}.txt"
        payload = b"semitruths deploy check"
        write_atomic(probe, lambda fh: fh.write(payload))
        if probe.read_bytes() != payload:
            raise OSError("read back different bytes")
        probe.unlink()
    except StorageError as exc:
        return Finding("storage", False, str(exc))
    except Exception as exc:
        return Finding("storage", False, f"{location}: write/read/delete failed ({_first_line(exc)}); fix storage.root "
                       "or the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL)")
    return Finding("storage", True, f"{location} (probe written, read back, deleted)")


def run_checks(config: ProjectConfig, dagster_home: Path) -> list[Finding]:
    params = config.params("execution", ExecutionParams)
    findings = [check_database(dagster_home)]
    if params.executor == "celery":
        findings += check_broker_and_workers(params)
    findings.append(check_storage(config.storage_location))
    return findings
