"""What the demo prints: one line per stage, a progress bar on long stages, the known-harmless warnings
filtered in one place. Dagster's own event logs are not printed; they go to the run history (the UI).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

# Warnings a demo user can do nothing about, each matched by its exact message (nothing else is hidden):
# (message, why it is harmless).
HARMLESS_WARNINGS: tuple[tuple[str, str], ...] = (
    # Dagster marks APIs the graph relies on as beta; the Dagster version is pinned.
    ("Class `MultiToSingleDimensionPartitionMapping` is currently in beta", "Dagster beta API"),
    # lpips builds torchvision's AlexNet with the deprecated `pretrained=` argument.
    ("The parameter 'pretrained' is deprecated since 0.13", "torchvision API rename inside lpips"),
    ("Arguments other than a weight enum or `None` for 'weights' are deprecated since 0.13",
     "torchvision API rename inside lpips"),
)

# The same for log records: (logger, message prefix, why).
HARMLESS_LOG_RECORDS: tuple[tuple[str, str, str], ...] = (
    # diffusers warns on every `.to(dtype)` of a model, even when no module needs float32 (the list is empty).
    ("diffusers.models.modeling_utils",
     "There are modules in AutoencoderKL that should be kept in float32: []. Casting directly with `to()`",
     "no module of the VAE needs float32: nothing is cast wrongly"),
)


class _DropExact(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def filter_harmless_warnings() -> None:
    """Ignore exactly the warnings listed in HARMLESS_WARNINGS (message prefix, matched literally), and
    the model libraries' own loading bars (the console has one bar per stage instead)."""
    for message, _why in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message))
    for name in dict.fromkeys(logger for logger, _m, _w in HARMLESS_LOG_RECORDS):
        prefixes = tuple(m for logger, m, _w in HARMLESS_LOG_RECORDS if logger == name)
        logging.getLogger(name).addFilter(_DropExact(prefixes))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


class StageConsole:
    """Prints `[i/n] stage ... rows ... seconds` lines; `progress` wraps a stage's partitions in a bar
    (shown on a terminal only, so logs and captured output stay one line per stage)."""

    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.total, self.done, self.out = total, 0, out or sys.stdout
        self.started = time.monotonic()

    def progress(self, items: Iterable[T], label: str, count: int) -> Iterator[T]:
        bar = tqdm(items, total=count, desc=f"  {label}", unit="part", leave=False, file=self.out,
                   disable=None if count > 1 else True, dynamic_ncols=True)
        yield from bar

    @contextmanager
    def stage(self, label: str) -> Iterator[dict[str, int]]:
        """Time one stage; the caller adds row counts (asset -> rows) to the yielded dict."""
        rows: dict[str, int] = {}
        t0 = time.monotonic()
        yield rows
        self.done += 1
        counts = ", ".join(f"{name} {n}" for name, n in rows.items()) or "-"
        width = len(str(self.total))
        print(f"[{self.done:>{width}}/{self.total}] {label:<48} {time.monotonic() - t0:6.1f} s   rows: {counts}",
              file=self.out, flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + n
