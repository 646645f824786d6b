"""A tiny project served by `dagster dev` and the report server on 127.0.0.1, for the browser tests: two
embedded sources (`sample`, `other`), one tiny generator (inpainting), one random-weight detector, the
in-process executor (no process start per step), a temp DAGSTER_HOME. Used by tests/test_ui_browser.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# No download, no background traffic: Debian's chromium as it is.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DETECTOR = "npr-random"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    root: Path
    config: Path
    home: Path
    ui: str  # http://127.0.0.1:<port>
    reports: str
    env: dict[str, str]

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(f"{self.ui}/graphql", json.dumps({"query": query, "variables": variables or {}})
                                         .encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["data"]


def write_project(root: Path, tiny_models: Path, report_port: int) -> Path:
    """The configuration, the detector registry and the tiny models' folder of the project."""
    from tests.conftest import share_tiny_models

    storage = root / "storage"
    share_tiny_models(storage, tiny_models)
    demo = yaml.safe_load((REPO / "semitruths.yaml").read_text())["demo"]
    config = {
        "storage": {"root": str(storage)},
        "sources": {"sample": {"adapter": "embedded"}, "other": {"adapter": "embedded"}},
        "prompts": demo["prompts"],  # CLIPScore on: the prompt filters keep edits by it
        "generation": {**demo["generation"], "generators": ["sd15"], "methods": ["inpainting"]},
        "controls": demo["controls"],
        "detectors": {"registry": str(root / "detectors"), "weights": str(root / "weights"), "demo": ["npr"],
                      "n_boot": 20, "only_salient": False},  # as semitruths.yaml: tiny edits all fail saliency
        "execution": {"executor": "in_process"},
        "reports": {"port": report_port},
    }
    path = root / "semitruths.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def ui_stack(root: Path, tiny_models: Path):
    """Start the report server and `dagster dev`; yields the Stack once the code location has loaded."""
    ui_port, report_port = free_port(), free_port()
    config = write_project(root, tiny_models, report_port)
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, SEMITRUTHS_CONFIG=str(config), DAGSTER_HOME=str(home), DAGSTER_DISABLE_TELEMETRY="1",
               HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    env.pop("SEMITRUTHS_STORAGE", None)
    # dagster dev's code server listens on a socket in TMPDIR: one of our own, which no other cleanup touches
    (root / "tmp").mkdir()
    env["TMPDIR"] = str(root / "tmp")
    # The detector's spec and its partition (as `semitruths demo` registers them): the sensor's first tick
    # then counts it as handled and starts nothing.
    subprocess.run([sys.executable, "-c", "from semitruths_dagster.cli import main; main(['detector', 'add-random', 'npr'])"],
                   env=env, check=True, capture_output=True, cwd=REPO)
    subprocess.run([sys.executable, "-c", "from dagster import DagsterInstance; "
                    f"DagsterInstance.get().add_dynamic_partitions('detectors', ['{DETECTOR}'])"],
                   env=env, check=True, capture_output=True, cwd=REPO)
    log = (root / "dagster_dev.log").open("w")
    procs = [
        subprocess.Popen([sys.executable, "-m", "semitruths_dagster.report_server"], env=env, cwd=REPO,
                         stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(ui_port),
                          "-w", str(REPO / "workspace.yaml")], env=env, cwd=home, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True),
    ]
    stack = Stack(root, config, home, f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{report_port}", env)
    try:
        _wait_loaded(stack, procs[1], root / "dagster_dev.log")
        yield stack
    finally:
        procs[0].terminate()
        os.killpg(procs[1].pid, 15)  # dagster dev, its webserver, daemon and code server
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def _wait_loaded(stack: Stack, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename } } } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            entries = stack.graphql(query)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                kinds = {e["locationOrLoadError"]["__typename"] for e in entries}
                if kinds != {"RepositoryLocation"}:
                    raise RuntimeError(f"the code location failed to load:\n{log.read_text()[-3000:]}")
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"dagster dev not ready in {timeout} s:\n{log.read_text()[-3000:]}")
