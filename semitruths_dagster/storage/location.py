"""A storage root is a local folder or an object-store URL (`s3://bucket/prefix`), read through fsspec.

Local roots stay `pathlib.Path`s; URLs become `upath.UPath`s with the same path API. The two guarantees
the stores need hold on both: `write_atomic` (temp file + rename on a disk, a single PUT on an object
store, whose objects appear whole or not at all) and containment (`inside`: a key from metadata never
leaves its root or prefix). Object-store credentials and endpoint come from the usual environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...), never from files.
"""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path, PurePosixPath
from typing import IO, Union

import polars as pl

from ..disk_full import full_disk_fails_once
from ..paths import PathEscapesRoot, resolve_inside

LOCAL_SCHEMES = ("", "file", "local")
SETTING = "storage.root"


class StorageError(ValueError):
    """The storage root cannot be used; the message names the setting to fix."""


def url_scheme(root: str | os.PathLike) -> str:
    text = str(root)
    return text.split("://", 1)[0].lower() if "://" in text else ""


def check_scheme(root: str) -> None:
    """Raise StorageError unless `root` is a local path or a URL that fsspec can open here."""
    from fsspec.registry import known_implementations, registry

    scheme = url_scheme(root)
    if scheme in LOCAL_SCHEMES:
        return
    if scheme not in known_implementations and scheme not in registry:
        raise StorageError(f"{SETTING}: unknown URL scheme '{scheme}' in '{root}' "
                           "(use a local path or s3://bucket/prefix)")


ENDPOINT_ENV = "AWS_ENDPOINT_URL"


def check_endpoint(root: str, timeout_s: float = 3.0) -> None:
    """An s3:// root with AWS_ENDPOINT_URL set: the endpoint must accept a connection within `timeout_s`.
    Otherwise botocore retries for half a minute and s3fs then reports a missing bucket."""
    endpoint = os.environ.get(ENDPOINT_ENV)
    if url_scheme(root) not in ("s3", "s3a") or not endpoint:
        return
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
    except OSError as exc:
        raise StorageError(f"{SETTING}: cannot reach the object store of '{root}' at {endpoint} ({ENDPOINT_ENV}): "
                           f"{type(exc).__name__}: {exc}; start it or fix {ENDPOINT_ENV}".splitlines()[0]) from None


@cache
def _checked_bucket(root: str) -> None:
    """Once per process: an object-store root must name a bucket that exists (nothing is created)."""
    from upath import UPath

    check_endpoint(root)
    path = UPath(root)
    bucket = PurePosixPath(path.path).parts[0] if path.path else ""
    try:
        found = bucket and path.fs.exists(bucket)
    except Exception as exc:  # unreachable endpoint, refused credentials: one line, naming the setting
        raise StorageError(f"{SETTING}: cannot reach '{root}': {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not found:
        raise StorageError(f"{SETTING}: bucket '{bucket}' of '{root}' does not exist "
                           f"(create it, e.g. `aws s3 mb s3://{bucket}`, or fix {SETTING})")


def storage_path(root: str | os.PathLike) -> Path:
    """The root as a path object: pathlib.Path for a folder, UPath for a URL (bucket checked)."""
    if isinstance(root, Path):
        return root
    text = str(root)
    check_scheme(text)
    if url_scheme(text) in LOCAL_SCHEMES:
        return Path(text.split("://", 1)[-1])
    from upath import UPath

    _checked_bucket(text.rstrip("/"))
    return UPath(text.rstrip("/"))


Root = Union[Path, "UPath"]  # noqa: F821 (UPath imported lazily)


def is_local(path: Path) -> bool:
    return getattr(path, "protocol", "") in LOCAL_SCHEMES


def inside(root: Path, relpath: str) -> Path:
    """`root / relpath`, refusing absolute paths, `..` escapes and (on disk) symlinks that leave `root`."""
    if is_local(root):
        return resolve_inside(root, relpath)
    rel = str(relpath)
    norm = posixpath.normpath(rel)
    if rel.startswith("/") or "://" in rel or norm == ".." or norm.startswith("../"):
        raise PathEscapesRoot(f"'{relpath}' leaves its prefix {root}; metadata keys must stay inside it")
    return root / norm


def write_atomic(target: Path, write: Callable[[IO[bytes]], None], root: Path | None = None) -> None:
    """Write a file whole or not at all (temp file + rename on disk; one PUT on an object store).

    On disk a full file system (ENOSPC / EDQUOT, also from writers that drop the errno) is one
    StorageFullError naming `target` and where to free space (`root`, else the file system's mount point);
    the temp file is removed, so nothing half-written is kept and the file before it stays whole."""
    if is_local(target):
        tmp = None
        try:
            with full_disk_fails_once(target, root):  # checks the space left while `tmp` still fills it
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tmp", dir=target.parent)
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                os.replace(tmp, target)
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        return
    buf = io.BytesIO()
    write(buf)
    target.write_bytes(buf.getvalue())


def write_text(target: Path, text: str, root: Path | None = None) -> Path:
    """`write_atomic` for a UTF-8 text file (reports, pages, JSON); returns `target`."""
    write_atomic(target, lambda fh: fh.write(text.encode("utf-8")), root)
    return target


def read_parquet(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path if is_local(path) else io.BytesIO(path.read_bytes()))


def write_parquet(frame: pl.DataFrame, target: Path, root: Path | None = None) -> None:
    write_atomic(target, lambda fh: frame.write_parquet(fh, compression="zstd", statistics=True), root)


def glob(base: Path, pattern: str) -> list[Path]:
    """Sorted matches of a recursive pattern under `base` (empty when `base` is missing)."""
    return sorted(base.rglob(pattern)) if base.exists() else []


def publish_dir(local: Path, root: Path, rel: str) -> Path:
    """Copy the files of a folder made on this worker to `root/rel` when the root is an object store
    (each file one atomic PUT); a local root already holds it. Returns where the files now are."""
    if is_local(root):
        return local
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        publish_file(path, root, f"{rel}/{path.relative_to(local).as_posix()}")
    return inside(root, rel)


def publish_file(local: Path, root: Path, rel: str) -> Path:
    """`publish_dir` for one file."""
    if is_local(root):
        return local
    target = inside(root, rel)
    write_atomic(target, lambda fh: fh.write(local.read_bytes()))
    return target


def read_text(location: str | os.PathLike) -> str:
    """A text file by local path or URL (as tables record them)."""
    if url_scheme(location) in LOCAL_SCHEMES:
        return Path(str(location).removeprefix("file://")).read_text()
    from upath import UPath

    return UPath(str(location)).read_text()
