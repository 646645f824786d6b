"""The detector plugins, by the `plugin:` name a spec uses."""

from __future__ import annotations

from ...registry import Registry
from ..base import Detector
from .aide import AIDE
from .bfree import BFree
from .c2p_clip import C2PCLIP
from .cnnspot import CNNSpot
from .command import CommandDetector
from .commfor import CommunityForensics
from .cospy import CoSpy
from .cross_efficient_vit import CrossEfficientViT
from .defake import DeFake
from .dinov2_zero_shot import DINOv2ZeroShot
from .dire import DIRE
from .drct import DRCT
from .hf_image_classifier import HFImageClassifier
from .iml_vit import IMLViT
from .linear_probe import LinearProbe
from .mvss import MVSSNet, ResFCN
from .npr import NPR
from .onnx_model import OnnxModel
from .pscc import PSCC
from .rine import RINE
from .safe import SAFE
from .spai import SPAI
from .trufor import TruFor
from .ufd import UniversalFakeDetect

# A new detector: one module here with a Detector subclass, and its class in this tuple.
DETECTOR_PLUGINS: Registry[type[Detector]] = Registry("detector plugin", Detector, {
    cls.PLUGIN: cls
    for cls in (UniversalFakeDetect, CNNSpot, CommunityForensics, NPR, DeFake, BFree, DRCT, CoSpy, AIDE, SPAI,
                C2PCLIP, RINE, SAFE, LinearProbe, DIRE,
                DINOv2ZeroShot, CrossEfficientViT)
} | {cls.PLUGIN: cls for cls in (HFImageClassifier, OnnxModel, CommandDetector)}  # detectors without code
   | {cls.PLUGIN: cls for cls in (PSCC, IMLViT, MVSSNet, ResFCN, TruFor)})  # localizers: per-pixel maps too (detectors/localizer.py)

__all__ = ["AIDE", "DIRE", "DRCT", "NPR", "RINE", "SAFE", "SPAI", "DETECTOR_PLUGINS", "BFree", "DINOv2ZeroShot", "C2PCLIP", "CNNSpot", "CrossEfficientViT",
           "CommunityForensics", "CoSpy", "DeFake", "LinearProbe", "UniversalFakeDetect",
           "CommandDetector", "HFImageClassifier", "OnnxModel", "PSCC", "IMLViT", "MVSSNet", "ResFCN", "TruFor"]
