"""The caption rewriter: a causal LM (paper: LLaMA-7B; here Llama-2-7B-chat) rewrites at a magnitude."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...models import LoadedModel
from ..parsing import parse_caption_answer
from ..templates import LLM_CAPTION, llm_caption_prompt
from .base import BackendInfo, CaptionQuery, CaptionRewriter
from .generation import GenerationParams, batch_seed, batches, decode_new_tokens, seeded

LLM_GENERATION = GenerationParams(max_new_tokens=60, do_sample=True, temperature=0.7, top_p=0.9)


class LlmRewriter(CaptionRewriter):
    """Caption rewriter over a loaded causal LM and tokenizer (role `llm`)."""

    MODEL_ROLE = "llm"

    def __init__(self, handle: LoadedModel, generation: GenerationParams = LLM_GENERATION) -> None:
        self.handle = handle
        self.generation = generation
        self.info = BackendInfo.of_model("llm", handle)

    def template_version(self) -> str:
        return LLM_CAPTION.tag

    def build_prompt(self, query: CaptionQuery) -> str:
        """The instruction as one user turn of the model's chat template (plain text if it has none)."""
        text = llm_caption_prompt(query.caption, query.magnitude)
        tokenizer = self.handle.processor
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        return text

    @torch.inference_mode()
    def rewrite_captions(self, queries: Sequence[CaptionQuery]) -> list[str]:
        tokenizer, model = self.handle.processor, self.handle.model
        answers: list[str] = []
        for batch in batches(list(queries), self.generation.batch_size):
            prompts = [self.build_prompt(q) for q in batch]
            # A chat template already holds the BOS token; do not add a second one.
            inputs = tokenizer(
                prompts,
                padding=True,
                return_tensors="pt",
                add_special_tokens=not getattr(tokenizer, "chat_template", None),
            ).to(self.handle.device)
            with seeded(batch_seed([q.seed for q in batch]), self.handle.device):
                output = model.generate(
                    **inputs, pad_token_id=tokenizer.pad_token_id, **self.generation.generate_kwargs()
                )
            answers += decode_new_tokens(tokenizer, output, inputs["input_ids"].shape[1])
        return answers

    def parse_caption(self, raw: str) -> str:
        return parse_caption_answer(raw)
