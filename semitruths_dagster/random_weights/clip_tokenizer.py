"""CLIP's BPE tokenizer built offline from the vocabulary open_clip ships (`bpe_simple_vocab_16e6.txt.gz`).

This is the real vocabulary of every CLIP text encoder the generators use (SD 1.x, both SDXL encoders,
Kandinsky's prior): 256 byte symbols, their end-of-word forms, 48,894 merges and the two special tokens,
49,408 ids in OpenAI's order, so ids match the hub tokenizers' ids.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # transformers is imported when a tokenizer is built, not with the package
    from transformers import CLIPTokenizer

CLIP_VOCAB_SIZE = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def clip_tokenizer(pad_token: str = EOS, max_length: int = 77) -> CLIPTokenizer:
    """A transformers CLIPTokenizer with CLIP's full BPE vocabulary.

    pad_token: '<|endoftext|>' as in SD 1.x's tokenizer; '!' as in SDXL's second tokenizer and
    Kandinsky's prior (they pad with id 0).
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe
    from transformers import CLIPTokenizer

    with gzip.open(default_bpe()) as fh:
        lines = fh.read().decode("utf-8").split("\n")
    # The same slice OpenAI's SimpleTokenizer takes: skip the header line, keep 49152 - 256 - 2 merges.
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS, EOS]
    assert len(vocab) == CLIP_VOCAB_SIZE, len(vocab)
    return CLIPTokenizer(
        vocab={token: i for i, token in enumerate(vocab)},
        merges=merges,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=pad_token,
        model_max_length=max_length,
    )
