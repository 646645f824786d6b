"""Token bookkeeping for prompt-to-prompt: which target token takes which source token's attention map.

Word swap (AttentionReplace) needs prompts of the same *word* count (split on spaces): word k of the target
takes the map of word k of the source; a swapped word of another token length spreads each source token's
map evenly over the target word's tokens (as the reference's replacement mapper). Refinement
(AttentionRefine) aligns the two token sequences (longest common subsequence, as the global alignment of
the reference with gap 0 / match 1 / mismatch -1 reduces to): aligned target tokens take the source's maps,
new tokens keep their own. In both, target positions past the target prompt (padding) take the source map
at the same position (p -> p), as the reference's `get_mapper`.
"""

from __future__ import annotations

from typing import Any

import torch

MODES = ("auto", "replace", "refine")


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """Ids of a prompt with BOS / EOS, truncated to the tokenizer's length (77 for CLIP)."""
    return tokenizer(text, truncation=True, max_length=tokenizer.model_max_length).input_ids


def word_spans(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    """[start, end) token positions (BOS = 0) of each space-separated word of `text` (CLIP's BPE never
    merges across spaces, so a prompt's tokens are its words' tokens in order)."""
    spans, pos = [], 1
    for word in text.split(" "):
        n = len(tokenizer(word, add_special_tokens=False).input_ids) if word else 0
        spans.append((pos, pos + n))
        pos += n
    return spans


def choose_mode(tokenizer: Any, source: str, target: str, mode: str = "auto") -> str:
    """'replace' (word swap) when both prompts have the same number of words, else 'refine'; or as asked."""
    if mode not in MODES:
        raise ValueError(f"unknown p2p mode '{mode}' ({', '.join(MODES)})")
    same = len(source.split(" ")) == len(target.split(" "))
    if mode == "replace" and not same:
        raise ValueError(
            f"word swap needs prompts of the same word count: {source!r} vs {target!r}; use mode 'refine'"
        )
    if mode == "auto":
        return "replace" if same else "refine"
    return mode


def _padding_to_itself(mapper: torch.Tensor, n_target: int) -> None:
    """Target positions past the target prompt take the source's map at the same position."""
    for p in range(n_target, mapper.shape[0]):
        mapper[:, p] = 0.0
        mapper[p, p] = 1.0


def replace_mapper(tokenizer: Any, source: str, target: str, max_len: int = 77) -> torch.Tensor:
    """(max_len, max_len) mapper M for word swap: the edit's map of target token l is
    sum_k source_map[k] * M[k, l]. Equal words and swapped words of the same token length map token to
    token; a swapped word of another length sends each source token's map in equal shares 1/n to the n
    tokens of the target word (each source token's maps keep a total weight of 1)."""
    choose_mode(tokenizer, source, target, "replace")
    n_src, n_tgt = len(token_ids(tokenizer, source)), len(token_ids(tokenizer, target))
    mapper = torch.zeros(max_len, max_len)
    mapper[0, 0] = 1.0  # BOS
    for (s0, s1), (t0, t1) in zip(word_spans(tokenizer, source), word_spans(tokenizer, target), strict=True):
        s1, t1 = min(s1, n_src - 1), min(t1, n_tgt - 1)  # words cut by truncation keep what is left
        if s1 <= s0 or t1 <= t0:
            continue
        if s1 - s0 == t1 - t0:
            mapper[torch.arange(s0, s1), torch.arange(t0, t1)] = 1.0
        else:
            mapper[s0:s1, t0:t1] = 1.0 / (t1 - t0)
    mapper[n_src - 1, n_tgt - 1] = 1.0  # EOS
    _padding_to_itself(mapper, n_tgt)
    return mapper


def _lcs_pairs(x: list[int], y: list[int]) -> list[tuple[int, int]]:
    """Index pairs (i, j) of a longest common subsequence of x and y."""
    n, m = len(x), len(y)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if x[i] == y[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if x[i] == y[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def align_ids(x: list[int], y: list[int], max_len: int = 77) -> tuple[torch.Tensor, torch.Tensor]:
    """(mapper, alphas), each (max_len,), for token sequences x (source) and y (target) with BOS / EOS:
    target token j takes source token mapper[j]'s map where alphas[j] == 1; new tokens (alphas 0) keep
    their own maps; padding positions p past the target map to themselves (mapper[p] = p, alphas 1)."""
    mapper = torch.zeros(max_len, dtype=torch.long)
    alphas = torch.zeros(max_len)
    for i, j in _lcs_pairs(x, y):
        mapper[j], alphas[j] = i, 1.0
    mapper[len(y) :] = torch.arange(len(y), max_len)
    alphas[len(y) :] = 1.0
    return mapper, alphas


def refine_mapper(
    tokenizer: Any, source: str, target: str, max_len: int = 77
) -> tuple[torch.Tensor, torch.Tensor]:
    """`align_ids` of the two prompts' token ids."""
    return align_ids(token_ids(tokenizer, source), token_ids(tokenizer, target), max_len)


def word_token_indices(tokenizer: Any, text: str, word: str) -> list[int]:
    """Token positions (BOS = 0) of every occurrence of `word` (split on spaces) in `text`."""
    out = []
    for w, (start, end) in zip(text.split(" "), word_spans(tokenizer, text), strict=True):
        if w.strip(".,;:!?").lower() == word.lower():
            out.extend(range(start, end))
    return [i for i in out if i < tokenizer.model_max_length - 1]
