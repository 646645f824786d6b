"""A full disk under the model cache (issue 25, fault "full local disk"): the build fails with one line naming
the folder and ENOSPC, leaves nothing that a later load could take as complete, and a re-run after freeing
space completes. Fast: no model is built (the stack's version is `benchmarks/faults.py --only disk`)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from semitruths_dagster.hub import STALE_BUILD_S, TINY_MARKER, CacheFullError, build_once, read_marker

STAMP = json.dumps({"random_weights": True, "recipe": "test"})


def _write_config(folder: Path) -> None:
    (folder / "config.json").write_text('{"hidden_size": 4}')


def _fills_disk(folder: Path) -> None:
    """A build whose weights file lands on a full device (/dev/full: every write is ENOSPC)."""
    _write_config(folder)
    (folder / "model.bin").symlink_to("/dev/full")
    with open(folder / "model.bin", "wb") as out:
        out.write(b"\0" * 65536)


def _assert_nothing_kept(target: Path) -> None:
    assert not target.exists()
    assert not list(target.parent.glob(f".{target.name}*")), "a half-written build was left next to the target"


def test_disk_full_is_one_line_naming_the_folder_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "models" / "sd15"
    with pytest.raises(CacheFullError) as info:
        build_once(target, _fills_disk, stamp=STAMP)
    message = str(info.value)
    assert "\n" not in message and "ENOSPC" in message and str(target) in message and "storage.cache" in message
    assert info.value.errno == errno.ENOSPC
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained traceback
    _assert_nothing_kept(target)
    # Space freed: the same call completes, and the folder is whole (marker last).
    assert build_once(target, _write_config, stamp=STAMP) == target
    assert read_marker(target)["random_weights"] and (target / "config.json").is_file()


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_safetensors_writer_on_a_full_filesystem(tmp_path: Path) -> None:
    """safetensors' Rust writer drops the errno ("os error 28"); still one CacheFullError."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    disk = tmp_path / "disk"
    if not _tmpfs(disk, "256k"):
        pytest.skip("needs root and tmpfs (mount) for a real full file system")
    try:
        target = disk / "models" / "sd15"

        def build(folder: Path) -> None:
            _write_config(folder)
            save_file({"w": torch.zeros(1 << 18)}, str(folder / "model.safetensors"))  # 1 MiB

        with pytest.raises(CacheFullError, match="ENOSPC"):
            build_once(target, build, stamp=STAMP)
        _assert_nothing_kept(target)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_killed_builders_leftovers_are_removed_once_stale(tmp_path: Path) -> None:
    target = tmp_path / "sd15"
    stale, fresh = tmp_path / ".sd15.tmp-dead", tmp_path / ".sd15.tmp-live"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "model.bin").write_bytes(b"\0" * 16)
    old = time.time() - STALE_BUILD_S - 60
    os.utime(stale, (old, old))
    build_once(target, _write_config, stamp=STAMP)
    assert not stale.exists() and fresh.exists()  # a concurrent builder's folder is left alone
    assert (target / TINY_MARKER).read_text() == STAMP
