"""A full disk under the storage root (issue 25): every write (chunk, table, image, report) fails its step
with one line naming the file, "disk full (ENOSPC)" and where to free space; nothing half-written is kept;
committed chunks and the last `part.parquet` stay readable; a re-run after freeing space completes without
redoing committed chunks. A real full file system: a small tmpfs, mounted as root (skipped otherwise)."""

from __future__ import annotations

import errno
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from semitruths_dagster.disk_full import StorageFullError, full_errno
from semitruths_dagster.storage import ImageStore, TableStore, Warehouse
from semitruths_dagster.storage.location import write_text
from semitruths_dagster.storage.resumable import ResumablePartition

SCHEMA = {"id": pl.Utf8, "blob": pl.Binary}
BLOB = 48 * 1024  # random bytes: incompressible, so each row's size on disk is known
PARTITION = {"dataset": "a"}


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a file system that really fills."""
    root = tmp_path / "disk"
    root.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs (mount) for a real full file system")
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """A filler file taking every byte of `disk` but about `leave`."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    size = max(stat.f_bavail * stat.f_frsize - leave, 0)
    with open(filler, "wb") as out:
        while size > 0:
            size -= out.write(b"\0" * min(size, 1 << 20))
    return filler


def rows(keys: list[str]) -> list[dict]:
    return [{"id": k, "blob": os.urandom(BLOB)} for k in keys]


def run(store: TableStore, keys: list[str], finalize: bool = True) -> list[str]:
    """A resumable stage: skips committed keys, commits two rows a chunk, folds; returns the keys it made."""
    part = ResumablePartition(store, "t", PARTITION, "id", SCHEMA)
    todo = [k for k in keys if k not in part.done_keys()]
    for start in range(0, len(todo), 2):
        part.write_chunk(rows(todo[start:start + 2]))
    if finalize:
        part.finalize()
    return todo


def assert_one_line(error: StorageFullError, path: Path, root: Path) -> None:
    message = str(error)
    assert "\n" not in message and "disk full (ENOSPC)" in message, message
    assert str(path) in message and f"free space under {root}" in message and "re-run" in message, message
    assert error.errno == errno.ENOSPC and error.__cause__ is None and error.__suppress_context__


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*.tmp") if p.is_file()]


def test_a_resumable_partition_filling_its_disk_keeps_committed_chunks_and_resumes(disk: Path) -> None:
    store, keys = TableStore(disk), [f"k{i}" for i in range(8)]
    assert run(store, keys[:2]) == keys[:2]  # an earlier, committed part.parquet
    part_file = store.path("t", PARTITION)
    chunk_size = part_file.stat().st_size
    filler = fill(disk, leave=int(2.5 * chunk_size))  # room for two more chunks, not three

    with pytest.raises(StorageFullError) as info:
        run(store, keys, finalize=False)
    chunk_dir = part_file.parent / "_chunks"
    assert_one_line(info.value, chunk_dir, disk)
    chunks = sorted(chunk_dir.glob("chunk-*.parquet"))
    assert [pl.read_parquet(c)["id"].to_list() for c in chunks] == [keys[2:4], keys[4:6]]
    assert no_temp_files(disk)
    # Folding on the full disk fails the same way and the last part.parquet stays whole.
    with pytest.raises(StorageFullError) as info:
        ResumablePartition(store, "t", PARTITION, "id", SCHEMA).finalize()
    assert_one_line(info.value, part_file, disk)
    assert pl.read_parquet(part_file)["id"].to_list() == keys[:2] and no_temp_files(disk)
    assert sorted(r[0] for r in Warehouse(disk).query("SELECT id FROM t")) == keys[:6]  # readers go on

    filler.unlink()  # space freed: the re-run makes only what is missing
    assert run(store, keys) == keys[6:]
    final = store.read("t", PARTITION)
    assert sorted(final["id"].to_list()) == keys and final.height == len(keys)
    assert not list(chunk_dir.glob("chunk-*")) and no_temp_files(disk)


def test_a_table_write_and_an_image_write_on_a_full_disk(disk: Path) -> None:
    store, images = TableStore(disk), ImageStore(disk)
    (disk / "tables").mkdir()
    (disk / "images").mkdir()
    fill(disk)
    # The Parquet writer (polars) drops the errno: still one line.
    with pytest.raises(StorageFullError) as info:
        store.write("t", PARTITION, rows(["k0", "k1"]), SCHEMA)
    assert_one_line(info.value, store.path("t", PARTITION), disk)
    assert not [p for p in (disk / "tables").rglob("*") if p.is_file()]
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    with pytest.raises(StorageFullError) as info:
        images.put_png(Image.fromarray(noise))
    assert_one_line(info.value, disk / "images", disk)
    assert not [p for p in (disk / "images").rglob("*") if p.is_file()]
    # A report page (evaluation/ writes them all through write_text): the mount point is named.
    report = disk / "reports" / "leaderboard.html"
    with pytest.raises(StorageFullError) as info:
        write_text(report, "<html>" + "x" * BLOB + "</html>")
    assert_one_line(info.value, report, disk)
    assert not report.exists() and no_temp_files(disk)


def test_a_parquet_footer_that_does_not_fit_is_a_full_disk(disk: Path) -> None:
    """polars says "Invalid thrift: transport error", without the errno, when only the footer does not fit."""
    wide = {f"column_with_a_long_name_{i:03d}": pl.Utf8 for i in range(300)}  # a footer of tens of KiB
    schema = {**SCHEMA, **wide}
    frame = pl.DataFrame([{"id": k, "blob": os.urandom(BLOB), **{c: f"{c}{k}" for c in wide}} for k in "ab"],
                         schema=schema)
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)  # as location.write_parquet does
    data = buffer.getvalue()
    footer = int.from_bytes(data[-8:-4], "little")
    store = TableStore(disk)
    store.path("t", PARTITION).parent.mkdir(parents=True)
    fill(disk, leave=len(data) - footer // 2)
    with pytest.raises(StorageFullError) as info:
        store.write("t", PARTITION, frame, schema)
    assert_one_line(info.value, store.path("t", PARTITION), disk)
    assert not [p for p in (disk / "tables").rglob("*") if p.is_file()]


def test_a_full_disk_is_recognised_through_wrappers() -> None:
    """PIL on a full device (/dev/full: every write is ENOSPC), and an error wrapping the OSError as its
    cause (the table test shows polars' ComputeError, which keeps only the text); no root needed."""
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(OSError) as pil_error:
        noise.save(full, format="PNG")
    wrapped = RuntimeError("could not save")
    wrapped.__cause__ = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert [full_errno(e) for e in (pil_error.value, wrapped)] == [errno.ENOSPC, errno.EDQUOT]
    assert full_errno(OSError(errno.EACCES, "Permission denied")) is None
