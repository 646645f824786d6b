"""The detector plugins, by the `plugin:` name a spec uses."""

from __future__ import annotations

from ...registry import Registry
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

# A new detector: one module here with a Detector subclass, and its class in this tuple.
DETECTOR_PLUGINS: Registry[type[Detector]] = Registry("detector plugin", Detector, {
    cls.PLUGIN: cls
    for cls in (UniversalFakeDetect, CNNSpot, CommunityForensics, NPR, DeFake, BFree, DRCT, CoSpy, AIDE, SPAI)
})

__all__ = ["AIDE", "DRCT", "NPR", "SPAI", "DETECTOR_PLUGINS", "BFree", "CNNSpot", "CommunityForensics", "CoSpy",
           "DeFake", "UniversalFakeDetect"]
