"""The `resampled` control: a real image down to a generator's working size and back, no edit at all.

An edit made at a working size other than its original's went through an interpolation filter twice
(input to the working size, output back); a real image never did. A detector of interpolation traces
(NPR, SAFE, SPAI) can then separate the two by the resampling alone. This control sends each real image
through exactly the path the generation stage uses (`generation.sizing.to_working` / `to_original`, the
working size that stage would choose for that image and generator): the share of these flagged fake is
the false-positive rate for "resampled", to set beside the real images' own.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from .base import ControlInputs


def resampled(inputs: ControlInputs) -> tuple[Image.Image, dict[str, Any]]:
    """The real image resampled to its working size and back, and the working size and filters used."""
    # imported here: the generation package loads torch, which the evaluation's imports of controls avoid
    from ..generation.sizing import FILTER_NAME, resample_roundtrip

    original = inputs.original.convert("RGB")
    working = inputs.working_size(original.size)
    return resample_roundtrip(original, working), {"working_size": list(working),
                                                   "resample_filter": f"{FILTER_NAME}/{FILTER_NAME}"}
