"""Real scale-out servers for the tests, each on 127.0.0.1 and a free port: PostgreSQL 15 (initdb/pg_ctl,
run as the `postgres` user when the tests run as root), redis-server, and moto's S3 server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PG_PASSWORD = "scaleout-test"  # a throwaway cluster in a temp folder, bound to 127.0.0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


_PG: dict[str, tuple[list[str], Path]] = {}  # port -> (start command, data folder), for restart_postgres


def restart_postgres(env: dict[str, str], down_s: float = 2.0) -> None:
    """Stop the instance database of `env` at once (as a crash: `-m immediate`) and start it again."""
    start, data = _PG[env["DAGSTER_PG_PORT"]]
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), check=True, capture_output=True)
    time.sleep(down_s)
    subprocess.run(start, check=True, capture_output=True)


@contextmanager
def postgres():
    """A PostgreSQL cluster; yields the DAGSTER_PG_* environment of deploy/dagster.yaml."""
    # Its own folder under /tmp: pytest's temp folders are closed to the `postgres` user.
    base = Path(tempfile.mkdtemp(prefix="semitruths-pg-"))
    data, port = base / "pgdata", free_port()
    pwfile = base / "pw"
    pwfile.write_text(PG_PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(pwfile, "postgres")
    subprocess.run(_as_postgres(["initdb", "-D", str(data), "-U", "dagster", "--auth=scram-sha-256",
                                 f"--pwfile={pwfile}", "-E", "UTF8"]), check=True, capture_output=True)
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c max_connections=200"
    start = _as_postgres(["pg_ctl", "-D", str(data), "-o", opts, "-l", str(base / "pg.log"), "-w", "start"])
    subprocess.run(start, check=True, capture_output=True)
    _PG[str(port)] = (start, data)
    try:
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_DB": "postgres",
               "DAGSTER_PG_USER": "dagster", "DAGSTER_PG_PASSWORD": PG_PASSWORD}
    finally:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


_REDIS: dict[str, subprocess.Popen] = {}  # broker URL -> its server, for restart_redis


def _redis_server(port: int, base: Path) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(base)], stdout=subprocess.DEVNULL)
    _wait_port(port)
    return proc


@contextmanager
def redis(base: Path):
    """A redis-server with no persistence; yields the Celery broker/backend environment."""
    port = free_port()
    env = {"DAGSTER_CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
           "DAGSTER_CELERY_BACKEND_URL": f"redis://127.0.0.1:{port}/1"}
    _REDIS[env["DAGSTER_CELERY_BROKER_URL"]] = _redis_server(port, base)
    try:
        yield env
    finally:
        proc = _REDIS.pop(env["DAGSTER_CELERY_BROKER_URL"])
        proc.kill()
        proc.wait()


def restart_redis(env: dict[str, str], down_s: float = 2.0) -> None:
    """Kill the broker of `env` (SIGKILL: its data is gone, as after a crash) and start it again."""
    url = env["DAGSTER_CELERY_BROKER_URL"]
    proc = _REDIS[url]
    proc.kill()
    proc.wait()
    time.sleep(down_s)
    _REDIS[url] = _redis_server(int(url.rsplit(":", 1)[1].split("/")[0]), Path(proc.args[proc.args.index("--dir") + 1]))


@contextmanager
def s3(bucket: str):
    """moto's S3 server (its HTTP API, so s3fs/botocore take the real client path) with one bucket."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    _S3[f"http://{host}:{port}"] = server
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}", "DAGSTER_COMPUTE_LOG_BUCKET": bucket}
    try:
        import boto3

        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=bucket)
        yield env
    finally:
        _S3.pop(f"http://{host}:{port}").stop()


_S3: dict[str, object] = {}  # endpoint -> its moto server, for s3_outage


def s3_outage(env: dict[str, str], down_s: float) -> None:
    """Stop the object store of `env` for `down_s` seconds; its buckets (moto's in-process state) survive."""
    from moto.server import ThreadedMotoServer

    endpoint = env["AWS_ENDPOINT_URL"]
    _S3[endpoint].stop()
    time.sleep(down_s)
    host, port = endpoint.removeprefix("http://").split(":")
    server = ThreadedMotoServer(ip_address=host, port=int(port), verbose=False)
    server.start()
    _S3[endpoint] = server


def celery_worker(queue: str, env: dict[str, str], repo: Path, log: Path, name: str = "") -> subprocess.Popen:
    """`dagster-celery worker start` on one queue, concurrency 1, as its own process group."""
    exe = Path(os.sys.executable).parent / "dagster-celery"
    cmd = [str(exe), "worker", "start", "-A", "dagster_celery.app", "-y", str(repo / "deploy" / "celery.yaml"), "-q", queue,
           "-n", name or queue, "-l", "INFO", "--", "--concurrency=1"]
    env = dict(env, PATH=f"{exe.parent}{os.pathsep}{env.get('PATH', '')}")  # it runs `celery` from PATH
    return subprocess.Popen(cmd, cwd=repo, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _bin(name: str) -> str:
    return str(Path(os.sys.executable).parent / name)


@contextmanager
def code_server_and_daemon(env: dict[str, str], repo: Path, logs: Path):
    """A code server (`dagster api grpc`) for the definitions and a `dagster-daemon` reading it, as in a
    deployment where the daemon and the run workers are separate processes; yields the server's port."""
    port = free_port()
    server = subprocess.Popen([_bin("dagster"), "api", "grpc", "-m", "semitruths_dagster.definitions",
                               "-h", "127.0.0.1", "-p", str(port)], cwd=repo, env=env, start_new_session=True,
                              stdout=(logs / "code-server.log").open("ab"), stderr=subprocess.STDOUT)
    daemon = None
    try:
        _wait_port(port, timeout_s=300)  # the server binds once the definitions loaded
        daemon = subprocess.Popen([_bin("dagster-daemon"), "run", "--grpc-host", "127.0.0.1", "--grpc-port", str(port)],
                                  cwd=repo, env=env, start_new_session=True,
                                  stdout=(logs / "daemon.log").open("ab"), stderr=subprocess.STDOUT)
        yield port
    finally:
        for proc in (daemon, server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wait_ready(logs: list[Path], timeout_s: float = 180) -> None:
    """Until each Celery worker's log says it is connected and ready to take tasks."""
    deadline = time.monotonic() + timeout_s
    while not all(log.exists() and " ready." in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Celery workers not ready after {timeout_s} s; see {logs}")
        time.sleep(0.5)
