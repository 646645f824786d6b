"""A full disk (ENOSPC, or a quota: EDQUOT) under any local write: one detection and one error line.

Writers do not all keep the errno: Rust writers (safetensors, polars) and pyarrow report "os error 28" or
"No space left on device" in their own exception types, some wrap the OSError as a cause or context, and
polars' Parquet writer can lose it entirely ("Invalid thrift: transport error" when the footer does not fit).
`disk_full_code` recognises all of them (the last by the file system left without space while the
half-written file is still there), so the model cache (`hub.CacheFullError`) and the storage root
(`StorageFullError`) state the same fact the same way. No Dagster here.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_TEXTS = {errno.ENOSPC: ("No space left on device",), errno.EDQUOT: ("Disk quota exceeded",)}
_CHAIN = 8  # causes / contexts followed
# A write fails only once the disk is full to its last blocks (a short write fills it first): a writer that
# failed while its file system had less than this free found it full, whatever its error says.
LOW_SPACE = 1 << 20


class DiskFullError(OSError):
    """A write hit a full disk; the message is one line naming what was written and what to do."""


class StorageFullError(DiskFullError):
    """A write under the storage root (a table, a chunk, an image, a report) hit a full disk."""


def full_errno(exc: BaseException) -> int | None:
    """ENOSPC or EDQUOT when `exc` (or what it wraps) says the disk is full, else None."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in DISK_FULL:
            return seen.errno
        text = str(seen)
        for code in DISK_FULL:
            if f"os error {code}" in text or any(t in text for t in _TEXTS[code]):
                return code
        seen = seen.__cause__ or seen.__context__
    return None


def space_left(path: Path) -> int:
    """Bytes this process may still write on the file system holding `path` (root may use reserved blocks)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    stat = os.statvfs(path)
    return (stat.f_bfree if os.geteuid() == 0 else stat.f_bavail) * stat.f_frsize


def disk_full_code(exc: BaseException, path: Path) -> int | None:
    """ENOSPC / EDQUOT when the failed write of `path` found its disk full, else None. Call it before the
    half-written file is removed (that frees the space again)."""
    code = full_errno(exc)
    if code is None:
        with suppress(OSError):  # no file system to ask: the error says what it says
            code = errno.ENOSPC if space_left(path) < LOW_SPACE else None
    return code


def describe(code: int) -> str:
    """'disk full (ENOSPC)' or 'disk quota exceeded (EDQUOT)'."""
    return f"{'disk quota exceeded' if code == errno.EDQUOT else 'disk full'} ({errno.errorcode[code]})"


def file_system_of(path: Path) -> Path:
    """The mount point holding `path` (where space must be freed when no storage root is known)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def storage_full(code: int, path: Path, root: Path | None = None) -> StorageFullError:
    """The one line for a write of `path` that found its disk full (`root`: the storage root)."""
    where = root if root is not None else file_system_of(path)
    return StorageFullError(code, f"{describe(code)} while writing {path}: nothing of it was kept; free space "
                                  f"under {where}, then re-run (committed chunks and tables are kept)")


@contextmanager
def full_disk_fails_once(path: Path, root: Path | None = None) -> Iterator[None]:
    """Inside the block, a full disk raises one StorageFullError naming `path` (no chained traceback);
    remove what the block wrote only after it (see `disk_full_code`)."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        code = disk_full_code(exc, path)
        if code is None:
            raise
        raise storage_full(code, path, root) from None
