"""Which CUDA device `auto` means in this process: a lease per device, so concurrent runs never share a card.

A lease is an exclusive `flock` on `<lease dir>/<device id>.lock`. The kernel drops it when the process
exits, however it exits (SIGKILL included), so a crashed run never keeps a card. A process leases once
and keeps its card for its life (pipelines stay loaded on it). Under Celery, one worker per GPU with
`CUDA_VISIBLE_DEVICES` set sees a single device and leases it; the lease then only guards against a
second process started on the same card by mistake.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

LEASE_DIR_ENV = "SEMITRUTHS_GPU_LEASE_DIR"
_held: dict[str, tuple] = {}  # lease dir -> (open lock file, index): kept open = lease held


def lease_dir() -> Path:
    """Shared by every process of one node (set SEMITRUTHS_GPU_LEASE_DIR to change it)."""
    return Path(os.environ.get(LEASE_DIR_ENV) or Path(tempfile.gettempdir()) / "semitruths-gpu-leases")


def _device_ids(count: int) -> list[str]:
    """Stable names for the visible devices: the CUDA_VISIBLE_DEVICES entries when set, else indices."""
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return visible[:count] if len(visible) >= count else [str(i) for i in range(count)]


def lease_device(count: int, directory: Path | None = None, wait_s: float = 3600.0, poll_s: float = 1.0) -> int:
    """Lease one of `count` visible devices for this process; returns its index (cuda:<index>).

    Waits up to `wait_s` while every device is leased by another process, then raises RuntimeError.
    """
    directory = Path(directory or lease_dir())
    key = str(directory)
    if key in _held:
        return _held[key][1]
    directory.mkdir(parents=True, exist_ok=True)
    ids = _device_ids(count)
    deadline = time.monotonic() + wait_s
    while True:
        for index, device_id in enumerate(ids):
            fh = open(directory / f"gpu-{device_id}.lock", "a+")  # noqa: SIM115 (held open = lease held)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            _held[key] = (fh, index)
            return index
        if time.monotonic() > deadline:
            raise RuntimeError(f"gpu.device: auto found all {count} GPU(s) leased by other processes "
                               f"(lock files in {directory}) for {wait_s:.0f} s; raise the wait or lower the "
                               "`gpu` pool limit to the number of GPUs")
        time.sleep(poll_s)


def auto_device() -> str:
    """What device `auto` stands for: a leased `cuda:N` when CUDA is there, else `cpu`."""
    import torch  # late: importing torch is slow and the lease logic does not need it

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{lease_device(torch.cuda.device_count())}"
