"""Silence the loading / saving progress bars of diffusers and transformers for a block of code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_progress() -> Iterator[None]:
    """No 'Loading pipeline components' / 'Writing model shards' bars in logs; restores the old state."""
    from diffusers.utils import logging as df_logging
    from transformers.utils import logging as hf_logging

    was = (df_logging.is_progress_bar_enabled(), hf_logging.is_progress_bar_enabled())
    df_logging.disable_progress_bar()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            df_logging.enable_progress_bar()
        if was[1]:
            hf_logging.enable_progress_bar()
