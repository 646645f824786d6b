"""A detector in an external process (any language, another virtual environment, a container, an API
client) speaking JSON lines on stdin/stdout. The protocol (README "Detectors as external processes"):

1. started once per detector load with `options.command` (argv; `{python}` is this Python, `{program}`
   the path of `weights.program`, whose digest `sha256.program` can pin), in the spec's folder;
2. its first stdout line is the handshake `{"name": ..., "version": ...}` (optionally `"protocol": 1`);
3. then, one request at a time, it reads `{"id": "7", "path": "/tmp/.../7.png"}` (an RGB PNG of the image
   as the pipeline scores it, post-processing condition applied) and answers one line
   `{"id": "7", "score": 0.83}` (P(fake) in [0, 1]; optional `"map": "<path of a localization map>"`),
   or `{"id": "7", "error": "why"}` for an image it cannot score. Logs go to stderr, never stdout.

An image that gets an error answer, no answer within `timeout_s`, or kills the process is quarantined
(rule `detector_failed`) and the others go on; the process is restarted after a crash or a timeout, at
most `max_restarts` times per load. A process that keeps dying, or prints a line that is not a protocol
message, is a one-line error naming the spec. The handshake's name and version are part of the cache key.
Registering such a spec runs its command: register only commands you trust.

Generic plugin: it reproduces no published detector, so there are no authors' files to name; the
user's spec and model define what runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import subprocess
import sys
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..base import Detector
from ..checkpoints import CheckpointError
from ..preprocessing import CropBox, Preprocessing
from ..runtime import dtype_name
from ..spec import DetectorSpec, SpecError

PROTOCOL = 1
STDERR_LINES = 20  # how much of the process's stderr errors quote


class ProcessError(CheckpointError):
    """The external process cannot be used: it does not start, keeps dying, or breaks the protocol."""


class Process:
    """One running process: stdin for requests, a thread reading stdout lines into a queue (so reads can
    time out), another keeping the tail of stderr."""

    def __init__(self, argv: list[str], cwd: str | None) -> None:
        self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, bufsize=1, cwd=cwd)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        threading.Thread(target=self._pump, args=(self.popen.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.popen.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, put: Any) -> None:
        for line in stream:
            put(line.rstrip("\n"))
        put(None)  # end of stream

    def send(self, message: dict) -> bool:
        try:
            self.popen.stdin.write(json.dumps(message) + "\n")
            self.popen.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def read(self, timeout: float) -> str | None:
        """The next stdout line; None at end of stream; raises queue.Empty on timeout."""
        return self.lines.get(timeout=timeout)

    def why_dead(self) -> str:
        try:
            code = self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        tail = " | ".join(line for line in self.stderr if line and line.strip())[-300:]
        return f"exited with code {code}" + (f" (stderr: {tail})" if tail else "")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            with contextlib.suppress(OSError):
                stream.close()


def _stop(holder: dict) -> None:
    if holder.get("process") is not None:
        holder["process"].stop()
        holder["process"] = None


class CommandDetector(Detector):
    PLUGIN = "command"
    PAPER_PROTOCOL = False  # the process prepares its own pixels
    OPTIONAL_WEIGHT_ROLES = ("program",)
    OPTIONS = {
        "command": ((list,), None, "argv of the process (required); {python}: this Python, {program}: weights.program"),
        "timeout_s": ((int, float), 60.0, "seconds one image may take before it is quarantined and the process restarted"),
        "startup_timeout_s": ((int, float), 120.0, "seconds the process may take to print its handshake"),
        "max_restarts": ((int,), 3, "restarts after crashes or timeouts per load before the run fails"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        argv = spec.options.get("command")
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise SpecError(spec.source, "options.command", f"expected a non-empty list of strings (argv), got {argv!r}")
        if "{program}" in " ".join(argv) and "program" not in spec.weights:
            raise SpecError(spec.source, "options.command", "uses {program} but the spec has no weights.program")
        for key in ("timeout_s", "startup_timeout_s"):
            if key in spec.options and not spec.options[key] > 0:
                raise SpecError(spec.source, f"options.{key}", f"must be > 0, got {spec.options[key]!r}")
        if spec.options.get("max_restarts", 0) < 0:
            raise SpecError(spec.source, "options.max_restarts", "must be >= 0")

    def build_preprocessing(self) -> Preprocessing:
        # The process sees the whole image and does its own preprocessing: nothing to crop here.
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    # --- the process ----------------------------------------------------------------------------
    def fail(self, problem: str) -> ProcessError:
        return ProcessError(f"detector '{self.name}' ({self.spec.source or 'in-memory spec'}) command "
                            f"{self.argv[0]!r}: {problem}")

    def load_model(self) -> dict:
        program = self.weight_ref("program")
        values = {"python": sys.executable, "program": program[1] if program else ""}
        self.argv = [arg.format(**values) for arg in self.options["command"]]
        self.restarts, self.requests, self.handshake = 0, 0, {}
        # The process keeps its own precision: the run's dtype neither changes its scores nor their cache keys.
        self.dtype, self.precision = torch.float32, dtype_name(torch.float32)
        holder: dict = {"process": None}
        weakref.finalize(self, _stop, holder)  # the process ends with the detector (or the interpreter)
        self.holder = holder
        self.start()
        return holder

    def start(self) -> None:
        try:
            process = Process(self.argv, self.spec.base_dir)
        except OSError as exc:
            raise self.fail(f"cannot start: {exc}") from exc
        self.holder["process"] = process
        try:
            line = process.read(float(self.options["startup_timeout_s"]))
        except queue.Empty:
            _stop(self.holder)
            raise self.fail(f"no handshake within startup_timeout_s={self.options['startup_timeout_s']}") from None
        if line is None:
            why = process.why_dead()
            _stop(self.holder)
            raise self.fail(f"exited before its handshake: {why}")
        message = self.parse(line, "handshake")
        if not (isinstance(message.get("name"), str) and isinstance(message.get("version"), (str, int, float))) \
                or message.get("protocol", PROTOCOL) != PROTOCOL:
            _stop(self.holder)
            raise self.fail(f"first line is not a handshake {{\"name\": ..., \"version\": ..., \"protocol\": "
                            f"{PROTOCOL}}}: {line[:200]!r}")
        if self.handshake and message != self.handshake:
            _stop(self.holder)
            raise self.fail(f"restarted as {message}, not {self.handshake}: a process must not change mid-run")
        self.handshake = message

    def parse(self, line: str, what: str) -> dict:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            _stop(self.holder)
            raise self.fail(f"printed {line[:200]!r} where a JSON {what} line was expected (logs go to stderr)")
        return message

    def crashed(self, why: str) -> str:
        """Stop the process after a crash or timeout; it restarts at the next image, within max_restarts."""
        _stop(self.holder)
        self.restarts += 1
        if self.restarts > self.options["max_restarts"]:
            raise self.fail(f"failed {self.restarts} times (max_restarts={self.options['max_restarts']}); last: {why}")
        return why

    def ask(self, path: Path) -> float | str:
        """P(fake) of one image file, or why it could not be scored."""
        if self.holder["process"] is None:
            self.start()
        process = self.holder["process"]
        self.requests += 1
        rid = str(self.requests)
        if not process.send({"id": rid, "path": str(path)}):
            return self.crashed(f"process {process.why_dead()} before the image was sent")
        try:
            line = process.read(float(self.options["timeout_s"]))
        except queue.Empty:
            return self.crashed(f"no answer within timeout_s={self.options['timeout_s']}")
        if line is None:
            return self.crashed(f"process {process.why_dead()} while scoring it")
        message = self.parse(line, "response")
        if message.get("id") != rid:
            _stop(self.holder)
            raise self.fail(f"answered {line[:200]!r} to request id {rid!r} (responses carry the request's id)")
        if "error" in message:
            return f"the detector process could not score it: {str(message['error'])[:300]}"
        score, mapped = message.get("score"), message.get("map")
        valid = isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score) \
            and 0.0 <= score <= 1.0 and (mapped is None or (isinstance(mapped, str) and Path(mapped).is_file()))
        if not valid:
            _stop(self.holder)
            raise self.fail(f"answered {line[:200]!r}: score must be P(fake) in [0, 1], map an existing file")
        return float(score)

    # --- scoring --------------------------------------------------------------------------------
    def preprocessing_signature(self, box: CropBox | None = None) -> str:
        who = f"{self.handshake.get('name')}@{self.handshake.get('version')}"
        return super().preprocessing_signature(None) + f"|process={who}"

    def score_each(
        self, images: Sequence[Image.Image], boxes: Sequence[CropBox | None] | None = None, batch_size: int = 16
    ) -> tuple[np.ndarray, dict[int, str]]:
        scores, failed = np.full(len(images), np.nan), {}
        with tempfile.TemporaryDirectory(prefix="semitruths-command-") as tmp:
            for i, image in enumerate(images):
                path = Path(tmp) / f"{i}.png"
                image.convert("RGB").save(path)  # lossless: the process sees the pixels the pipeline scores
                result = self.ask(path)
                if isinstance(result, str):
                    failed[i] = f"detector '{self.name}': {result}"
                else:
                    scores[i] = result
                path.unlink()
        return scores, failed

    def score(
        self,
        images: Sequence[Image.Image],
        boxes: Sequence[CropBox | None] | None = None,
        texts: Sequence[str] | None = None,
        batch_size: int = 16,
    ) -> np.ndarray:
        """P(fake) of every image; one that cannot be scored is an error here (the stage quarantines it)."""
        scores, failed = self.score_each(images, boxes, batch_size)
        if failed:
            first = min(failed)
            raise self.fail(f"image {first} of {len(images)}: {failed[first]}")
        return scores

    @classmethod
    def random_model(cls, tiny: bool) -> str:
        """The program itself: its weights are drawn from `--seed` when it starts."""
        return RANDOM_PROGRAM

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        program = out_dir / "random_detector.py"
        program.write_text(model)
        return {"program": str(program)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"command": ["{python}", "{program}", "--seed", str(seed)]}


# A stand-in process with seeded random weights: P(fake) = sigmoid(w . mean RGB + b). It speaks the protocol
# exactly as a real one would (handshake, one answer per line, flushed, logs on stderr).
RANDOM_PROGRAM = '''"""Random-weight detector speaking semitruths' JSON-lines protocol (scores are meaningless)."""
import contextlib
import json
import math
import random
import sys

import numpy as np
from PIL import Image

seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
rng = random.Random(seed)
w, b = [rng.gauss(0, 4) for _ in range(3)], rng.gauss(0, 1)
print(json.dumps({"name": "random-detector", "version": f"seed{seed}", "protocol": 1}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    try:
        rgb = np.asarray(Image.open(request["path"]).convert("RGB"), dtype=np.float64).mean(axis=(0, 1)) / 255
    except OSError as exc:
        print(json.dumps({"id": request["id"], "error": str(exc)}), flush=True)
        continue
    z = sum(wi * (x - 0.5) for wi, x in zip(w, rgb)) + b
    print(json.dumps({"id": request["id"], "score": 1 / (1 + math.exp(-z))}), flush=True)
'''
