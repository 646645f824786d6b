"""The vision-language perturber: LLaVA-NeXT (paper: llava-v1.6-mistral-7b) answers one label edit per mask."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...models import LoadedModel
from ..parsing import parse_label_answer
from ..templates import llava_prompt, llava_template
from .base import BackendInfo, LabelPerturber, LabelQuery
from .generation import GenerationParams, batch_seed, batches, decode_new_tokens, load_rgb, seeded, to_device

# The original pipeline sampled at temperature 0.5, top-p 0.5 (with 5 beams and up to 512 new tokens); a
# label needs a few tokens, and a long answer is rejected anyway.
LLAVA_GENERATION = GenerationParams(max_new_tokens=40, do_sample=True, temperature=0.5, top_p=0.5)


class LlavaPerturber(LabelPerturber):
    """Label perturber over a loaded LLaVA-NeXT model and processor (role `vlm`)."""

    MODEL_ROLE = "vlm"

    def __init__(self, handle: LoadedModel, generation: GenerationParams = LLAVA_GENERATION) -> None:
        self.handle = handle
        self.generation = generation
        self.info = BackendInfo.of_model("llava", handle)

    def template_version(self, mode: str) -> str:
        return llava_template(mode).tag

    def build_prompt(self, query: LabelQuery) -> str:
        return llava_prompt(query.label, query.magnitude, query.mode)

    @torch.inference_mode()
    def perturb_labels(self, queries: Sequence[LabelQuery]) -> list[str]:
        """Raw answers, one per query, generated in batches (left-padded prompts, one seed per batch)."""
        processor, model = self.handle.processor, self.handle.model
        answers: list[str] = []
        for batch in batches(list(queries), self.generation.batch_size):
            images = [load_rgb(q.image_path) for q in batch]
            inputs = processor(
                images=images, text=[self.build_prompt(q) for q in batch], padding=True, return_tensors="pt"
            )
            inputs = to_device(inputs, self.handle.device, self.handle.dtype)
            with seeded(batch_seed([q.seed for q in batch]), self.handle.device):
                output = model.generate(**inputs, **self.generation.generate_kwargs())
            answers += decode_new_tokens(processor.tokenizer, output, inputs["input_ids"].shape[1])
        return answers

    def parse_label(self, raw: str) -> str:
        return parse_label_answer(raw)
