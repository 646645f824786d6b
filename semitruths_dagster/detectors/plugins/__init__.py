"""The detector plugins, by the `plugin:` name a spec uses."""

from __future__ import annotations

from ...registry import Registry
from ..base import Detector
from .cnnspot import CNNSpot
from .commfor import CommunityForensics
from .defake import DeFake
from .npr import NPR
from .ufd import UniversalFakeDetect

# A new detector: one module here with a Detector subclass, and its class in this tuple.
DETECTOR_PLUGINS: Registry[type[Detector]] = Registry("detector plugin", Detector, {
    cls.PLUGIN: cls for cls in (UniversalFakeDetect, CNNSpot, CommunityForensics, NPR, DeFake)
})

__all__ = ["NPR", "DETECTOR_PLUGINS", "CNNSpot", "CommunityForensics", "DeFake", "UniversalFakeDetect"]
