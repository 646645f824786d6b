"""Tiny random-weight models of the paper's architectures, built offline and saved in the hub layout.

Each builder makes a model of the same class as the paper's (LlavaNextForConditionalGeneration,
BlipForConditionalGeneration, LlamaForCausalLM, an open_clip CLIP, transformers' CLIPModel) with a few layers of width 32, saves it
with `save_pretrained` (config.json + model.safetensors + tokenizer/processor files; open_clip: its hub
layout open_clip_config.json + open_clip_model.safetensors), and writes a marker file saying its weights are
random. The loader reads these folders through exactly the code that reads a hub id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..hub import CLIP_MEAN, CLIP_STD, build_once, save_open_clip
from .segmenters import build_refiner, build_segmenter
from .tokenizers import bert_like_tokenizer, llama_like_tokenizer

# Bump when a recipe changes, so old folders are not mistaken for the new recipe.
TINY_RECIPE_VERSION = "1"
TINY_SEED = 0
# Every tiny transformer: two layers of width 32 (two heads), enough to run the real code paths.
TINY_WIDTH = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def _tiny_decoder(tok: Any) -> dict[str, Any]:
    """What the tiny Mistral (LLaVA's language model) and Llama share beyond TINY_WIDTH: one KV head,
    the long context, and the tokenizer's special ids."""
    return {"num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 4096,
            "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}


def tiny_dir(root: Path, role: str) -> Path:
    """The folder of the tiny model for a role under the tiny cache."""
    return Path(root) / f"{role}-v{TINY_RECIPE_VERSION}"


def _build_vlm(out: Path) -> Any:
    from transformers import (
        CLIPVisionConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        MistralConfig,
    )

    tok = llama_like_tokenizer()
    # 32 px tiles of 8 px patches; the pinpoints play the role of the real model's 336 px anyres grid.
    pinpoints = [[32, 64], [64, 32], [64, 64]]
    vision = CLIPVisionConfig(
        **TINY_WIDTH,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    text = MistralConfig(
        vocab_size=len(tok),
        **TINY_WIDTH,
        **_tiny_decoder(tok),
    )
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_grid_pinpoints=pinpoints,
        image_seq_length=16,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    model = LlavaNextForConditionalGeneration(config).eval()
    images = LlavaNextImageProcessor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        image_grid_pinpoints=pinpoints,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    # One extra token per tile: CLIP's CLS token, as in the real llava-hf processor config.
    processor = LlavaNextProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return model


def _build_captioner(out: Path) -> Any:
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    tok = bert_like_tokenizer()
    # BLIP's decoder starts from [DEC] and stops at [SEP], as in Salesforce/blip-image-captioning-large.
    text = BlipTextConfig(
        vocab_size=len(tok),
        **TINY_WIDTH,
        encoder_hidden_size=32,
        max_position_embeddings=64,
        bos_token_id=tok.bos_token_id,
        pad_token_id=tok.pad_token_id,
        sep_token_id=tok.sep_token_id,
        eos_token_id=tok.sep_token_id,
    )
    vision = BlipVisionConfig(
        **TINY_WIDTH,
        image_size=32,
        patch_size=8,
    )
    config = BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32)
    model = BlipForConditionalGeneration(config).eval()
    images = BlipImageProcessor(size={"height": 32, "width": 32}, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    model.save_pretrained(out)
    BlipProcessor(image_processor=images, tokenizer=tok).save_pretrained(out)
    return model


def _build_llm(out: Path) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = llama_like_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        **TINY_WIDTH,
        **_tiny_decoder(tok),
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return model


def _act(model_id: str) -> str:
    """The activation of the published model a tiny CLIP stands for (published_configs.py)."""
    from ..published_configs import published

    return published(model_id)["vision"]["act"]


def _build_clip(out: Path) -> Any:
    import open_clip

    # The ViT-L-14 config scaled down; the text tower keeps CLIP's BPE vocabulary (open_clip's bundled
    # default_bpe), so open_clip's own tokenizer serves it.
    model_cfg = {
        "embed_dim": 32,
        "quick_gelu": _act("openai/clip-vit-large-patch14") == "quick_gelu",  # what OpenAI's weights need
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }
    model = open_clip.CLIP(**model_cfg)
    save_open_clip(model, model_cfg, out)
    return model


def _build_saliency(out: Path) -> Any:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from .clip_tokenizer import CLIP_VOCAB_SIZE, clip_tokenizer

    # transformers' CLIPModel (the class of openai/clip-vit-base-patch32) scaled down; CLIP's real BPE
    # vocabulary, so captions tokenize as they would for the real model.
    act = _act("openai/clip-vit-base-patch32")
    text = {**TINY_WIDTH, "vocab_size": CLIP_VOCAB_SIZE, "max_position_embeddings": 77,
            "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407, "hidden_act": act}
    vision = {**TINY_WIDTH, "image_size": 32, "patch_size": 8, "hidden_act": act}
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)).eval()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                image_mean=CLIP_MEAN, image_std=CLIP_STD)
    model.save_pretrained(out)
    CLIPProcessor(image_processor=images, tokenizer=clip_tokenizer()).save_pretrained(out)
    return model


# Each builder saves into the folder and returns the in-memory model (tests compare it with a reload).
BUILDERS: dict[str, Callable[[Path], Any]] = {
    "vlm": _build_vlm,
    "captioner": _build_captioner,
    "llm": _build_llm,
    "clip": _build_clip,
    "saliency": _build_saliency,
    "segmenter": build_segmenter,
    "refiner": build_refiner,
}


def ensure_tiny(root: str | os.PathLike, role: str) -> Path:
    """Build the tiny model for a role under `root` unless it is there; return its folder.

    Built once, atomically (`hub.build_once`), so concurrent processes never see a half-written model.
    """
    if role not in BUILDERS:
        raise ValueError(f"no tiny model for role '{role}' (tiny roles: {', '.join(BUILDERS)})")
    marker = {"random_weights": True, "role": role, "recipe": TINY_RECIPE_VERSION, "seed": TINY_SEED}
    # Same weights every time: the builder draws them from a fixed seed.
    return build_once(tiny_dir(Path(root), role), BUILDERS[role], stamp=json.dumps(marker, indent=2),
                      seed=TINY_SEED)
