"""Random-weight builders: every model this project makes with random weights, one module per family.

Tiny stand-ins saved in the hub layout (loaded through the same code as hub ids): `sd` (SD 1.x, SDXL
inpainting, InstructPix2Pix), `flow` (FLUX.1, SD 3.5, Qwen-Image), `kandinsky` (Kandinsky 2.2 and its prior),
`roles` (the model roles of `models.profiles`: LLaVA-NeXT, BLIP, LLaMA, CLIP), with their offline tokenizers
(`clip_tokenizer`, `tokenizers`). Full-size random-weight pipelines for throughput benchmarks: `full_sd`,
`full_flow`, `full_kandinsky`. Callers (`generation.families`, `models.loader`, detector plugins) import the
builders from here; nothing here imports the layers above (models, generation). Model libraries are imported
inside the builders, so importing a module of this package stays torch-free.
"""

from ..common import lazy_exports

# submodule -> the names this package gives; imported on first use (`common.lazy_exports`).
_EXPORTS = {
    ".roles": ("TINY_RECIPE_VERSION", "ensure_tiny", "tiny_dir"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
