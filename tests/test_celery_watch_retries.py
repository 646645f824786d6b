"""The Celery worker watch in retry mode (`execution.worker_lost_retries > 0`, assets/celery_watch.py): a lost
step is submitted again and its result is the second attempt's. Real redis-server and real Celery workers
(a two-line task, no Dagster step), so it is fast; the stack tests cover `worker_lost_retries: 0` end to end."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("dagster_celery")
if shutil.which("redis-server") is None:
    pytest.skip("needs redis-server", allow_module_level=True)

from assets import celery_watch  # noqa: E402
from tests import scaleout_stack  # noqa: E402

TASKS = '''
import os, time
from celery import Celery

app = Celery("watchtasks", broker=os.environ["DAGSTER_CELERY_BROKER_URL"],
             backend=os.environ["DAGSTER_CELERY_BACKEND_URL"])
app.conf.update(task_track_started=True, worker_prefetch_multiplier=1)


@app.task
def step(attempts, how):
    """The first attempt is lost (`pool`: its pool process dies; `worker`: it runs until its worker is killed)."""
    with open(attempts, "a") as f:
        f.write("x")
    if os.path.getsize(attempts) == 1:
        if how == "pool":
            os.kill(os.getpid(), 9)
        time.sleep(300)
    return os.path.getsize(attempts)
'''


def _worker(tmp: Path, env: dict, name: str) -> subprocess.Popen:
    log = tmp / f"{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "watchtasks", "worker", "-P", "prefork", "-c", "1",
                             "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
                            cwd=tmp, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    scaleout_stack.wait_ready([log], timeout_s=60)
    return proc


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait(result: celery_watch.WatchedResult, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not result.ready():
        assert time.monotonic() < deadline, "the watched step never became ready"
        time.sleep(0.1)


def test_a_lost_step_is_submitted_again_and_finishes(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(celery_watch, "CHECK_S", 0.5)  # ask the worker often, so the test is short
    monkeypatch.setattr(celery_watch, "REPLY_S", 1.0)
    (tmp_path / "watchtasks.py").write_text(TASKS)
    with scaleout_stack.redis(tmp_path) as broker:
        env = dict(os.environ, **broker, PYTHONPATH=str(tmp_path))
        monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", broker["DAGSTER_CELERY_BROKER_URL"])
        monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", broker["DAGSTER_CELERY_BACKEND_URL"])
        monkeypatch.syspath_prepend(str(tmp_path))
        from watchtasks import app

        context = SimpleNamespace(log=logging.getLogger("celery_watch_test"))
        workers = [_worker(tmp_path, env, "w1")]
        try:
            # 1. Its pool process dies (OOM kill): Celery's WorkerLostError, then one retry on the same worker.
            attempts = tmp_path / "pool.attempts"
            result = celery_watch.WatchedResult(lambda: app.send_task("watchtasks.step", [str(attempts), "pool"]),
                                                context, SimpleNamespace(key="generations"), lost_after_s=2, retries=1)
            with caplog.at_level(logging.WARNING, logger="celery_watch_test"):
                _wait(result)
            assert result.get(timeout=10) == 2 and result.retries_left == 0
            assert "pool process died" in caplog.text and "submitting it again (0 retries left)" in caplog.text

            # 2. The whole worker is killed mid-step (no answer to `query_task`): after lost_after_s the step
            # goes to the queue again and another worker finishes it.
            caplog.clear()
            attempts = tmp_path / "worker.attempts"
            result = celery_watch.WatchedResult(lambda: app.send_task("watchtasks.step", [str(attempts), "worker"]),
                                                context, SimpleNamespace(key="generations"), lost_after_s=2, retries=1)
            deadline = time.monotonic() + 30
            while not attempts.exists():  # w1 took it
                assert time.monotonic() < deadline
                result.ready()
                time.sleep(0.1)
            _kill(workers[0])
            workers.append(_worker(tmp_path, env, "w2"))
            with caplog.at_level(logging.WARNING, logger="celery_watch_test"):
                _wait(result)
            assert result.get(timeout=10) == 2
            assert "Celery worker w1@" in caplog.text and "submitting it again" in caplog.text
        finally:
            for proc in workers:
                _kill(proc)
