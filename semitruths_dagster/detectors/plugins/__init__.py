"""The detector plugins, by the `plugin:` name a spec uses."""

from __future__ import annotations

from ..base import Detector
from .aide import AIDE
from .bfree import BFree
from .cnnspot import CNNSpot
from .commfor import CommunityForensics
from .cospy import CoSpy
from .defake import DeFake
from .drct import DRCT
from .npr import NPR
from .spai import SPAI
from .ufd import UniversalFakeDetect

PLUGINS: dict[str, type[Detector]] = {
    cls.PLUGIN: cls
    for cls in (UniversalFakeDetect, CNNSpot, CommunityForensics, NPR, DeFake, BFree, DRCT, CoSpy, AIDE, SPAI)
}

__all__ = [
    "AIDE",
    "DRCT",
    "CoSpy",
    "NPR",
    "BFree",
    "PLUGINS",
    "SPAI",
    "CNNSpot",
    "CommunityForensics",
    "DeFake",
    "UniversalFakeDetect",
]
