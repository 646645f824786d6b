"""Any Hugging Face image classifier: `AutoModelForImageClassification` + its `AutoImageProcessor`.

Weights (`weights.model`): a hub id (`org/name`, or `hf:org/name@revision`) or a local folder saved with
`save_pretrained`, loaded through the project's model loader (`models.loader`, family 'image_classifier';
never remote code): offline and not cached, it fails with the hint to point `weights.model` of the spec at
a local copy. `options.fake_labels` names the label(s) of `config.id2label` that mean "generated"; the
spec is refused at load when one is not a label of the model.

P(fake): with two or more logits, the softmax summed over the fake labels; with a single logit (a
binary head), its sigmoid (the one label must then be the fake one). The images go to the model's own
processor as PIL images, exactly as its model card's pipeline would give them, so there is no mask-aware
crop (the processor decides resizing and cropping); its configuration is part of the preprocessing
signature. Random stand-in: a ViT image classifier (2 layers of width 32, 32 px, patch 8) with id2label
{0: real, 1: fake}, saved in the hub layout.

Generic plugin: it reproduces no published detector, so there are no authors' files to name; the
user's spec and model define what runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...hub import ModelRef, ModelUnavailableError, parse_revision
from ..base import Detector
from ..checkpoints import CheckpointError
from ..preprocessing import CropBox, Preprocessing
from ..spec import DetectorSpec, SpecError

TINY_VIT = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 37}
VIT_BASE = {"image_size": 224, "patch_size": 16}  # transformers' ViTConfig defaults are ViT-B/16


def fake_labels_of(spec: DetectorSpec) -> list[str]:
    value = spec.options.get("fake_labels")
    return [value] if isinstance(value, str) else list(value or [])


class HFImageClassifier(Detector):
    PLUGIN = "hf_image_classifier"
    PAPER_PROTOCOL = False  # the model's own processor prepares the pixels
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "fake_labels": ((list, str), None, "the label(s) of the model's config.id2label that mean fake (required)"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        labels = fake_labels_of(spec)
        if not labels or not all(isinstance(x, str) and x for x in labels):
            raise SpecError(spec.source, "options.fake_labels",
                            f"name the label(s) of the model's id2label that mean fake, got {labels!r}")

    def build_preprocessing(self) -> Preprocessing:
        # The processor does the work (see `score`); this records that no crop can be moved.
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> torch.nn.Module:
        from ...models.loader import load_model

        kind, ref = self.weight_ref("model")
        hub_id, revision = parse_revision(ref) if kind == "hub" else (ref, None)
        # Named as the spec key that overrides it: offline errors say to point it at a local copy.
        model_ref = ModelRef("weights.model", "image_classifier", kind, hub_id, hub_id if kind == "hub" else None,
                             revision, spec=self.spec.source or "the in-memory spec")
        try:
            loaded = load_model(model_ref, self.device, self.dtype, cached=False)
        except ModelUnavailableError as exc:  # a CheckpointError, so `verify` and the sensor refuse the spec
            raise CheckpointError(str(exc)) from exc
        self.processor = loaded.processor
        self.fake_index = self.check_labels(loaded.model.config.id2label)
        return loaded.model

    def check_labels(self, id2label: dict[Any, str]) -> list[int]:
        """Indices of the fake labels; an unknown label (or no real one left) is a SpecError."""
        by_label = {str(v): int(k) for k, v in id2label.items()}
        source, key = self.spec.source, "options.fake_labels"
        for label in fake_labels_of(self.spec):
            if label not in by_label:
                raise SpecError(source, key, f"{label!r} is not a label of the model (its id2label labels: "
                                f"{sorted(by_label)})")
        index = sorted(by_label[x] for x in fake_labels_of(self.spec))
        if len(by_label) > 1 and len(index) == len(by_label):
            raise SpecError(source, key, f"every label of the model is fake ({sorted(by_label)}): P(fake) would be 1")
        return index

    def preprocessing_signature(self, box: CropBox | None = None) -> str:
        config = self.processor.to_json_string() if hasattr(self.processor, "to_json_string") else repr(self.processor)
        return super().preprocessing_signature(None) + "|processor=" + hashlib.sha256(config.encode()).hexdigest()[:16]

    def to_probability(self, outputs: torch.Tensor) -> torch.Tensor:
        logits = outputs.float()
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=1)[:, self.fake_index].sum(dim=1)

    @torch.inference_mode()
    def score(
        self,
        images: Sequence[Image.Image],
        boxes: Sequence[CropBox | None] | None = None,
        texts: Sequence[str] | None = None,
        batch_size: int = 16,
    ) -> np.ndarray:
        """P(fake) per image: batches of PIL images through the model's processor, then the model."""
        out = np.empty(len(images), dtype=np.float64)
        for start in range(0, len(images), batch_size):
            chunk = [image.convert("RGB") for image in images[start : start + batch_size]]
            pixels = self.processor(images=chunk, return_tensors="pt")["pixel_values"]
            logits = self.model(pixel_values=pixels.to(self.device, dtype=self.dtype)).logits
            out[start : start + len(chunk)] = self.to_probability(logits).cpu().double().numpy()
        return out

    @classmethod
    def random_model(cls, tiny: bool) -> Any:
        from transformers import ViTConfig, ViTForImageClassification

        shape = TINY_VIT if tiny else VIT_BASE
        config = ViTConfig(**shape, num_labels=2, id2label={0: "real", 1: "fake"}, label2id={"real": 0, "fake": 1})
        return ViTForImageClassification(config).eval()

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        from transformers import ViTImageProcessor

        folder = out_dir / "model"
        model.save_pretrained(folder)  # config.json + model.safetensors: the hub layout
        side = (TINY_VIT if tiny else VIT_BASE)["image_size"]
        ViTImageProcessor(size={"height": side, "width": side}).save_pretrained(folder)
        return {"model": str(folder)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"fake_labels": ["fake"]}
