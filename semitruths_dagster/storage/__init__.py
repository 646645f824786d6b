"""Storage: partitioned Parquet tables, a content-addressed image store, a DuckDB warehouse of views."""

from ..disk_full import StorageFullError
from .images import ImageStore, png_bytes, sha256_file
from .tables import TableStore, WriteRefused
from .warehouse import Warehouse

__all__ = ["ImageStore", "StorageFullError", "TableStore", "Warehouse", "WriteRefused", "png_bytes", "sha256_file"]
