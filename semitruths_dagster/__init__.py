"""Semi-Truths as a domain library: sources, masks, prompts, generation, metrics, storage.

No Dagster imports here, except in `definitions.py`, which puts assets and resources together.
"""

__version__ = "0.1.0"
