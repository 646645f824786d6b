"""The detector plugins, by the `plugin:` name a spec uses."""

from __future__ import annotations

from ..base import Detector
from .c2p_clip import C2PCLIP
from .cnnspot import CNNSpot
from .commfor import CommunityForensics
from .defake import DeFake
from .linear_probe import LinearProbe
from .npr import NPR
from .rine import RINE
from .safe import SAFE
from .ufd import UniversalFakeDetect

PLUGINS: dict[str, type[Detector]] = {
    cls.PLUGIN: cls for cls in (
        UniversalFakeDetect, CNNSpot, CommunityForensics, NPR, DeFake, C2PCLIP, RINE, SAFE, LinearProbe,
    )
}

__all__ = [
    "NPR", "PLUGINS", "RINE", "SAFE", "C2PCLIP", "CNNSpot", "CommunityForensics", "DeFake", "LinearProbe",
    "UniversalFakeDetect",
]
