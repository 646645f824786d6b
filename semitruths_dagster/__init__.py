"""Semi-Truths as a domain library: sources, masks, prompts, generation, metrics, storage.

No Dagster imports here, except in `definitions.py`, the code location Dagster loads (put together in
`assets/location.py`).
"""

__version__ = "0.1.0"
