"""Token bookkeeping for prompt-to-prompt: which target token takes which source token's attention map.

Word swap (AttentionReplace) needs prompts of the same token count: target token j takes source token j.
Refinement (AttentionRefine) aligns the two token sequences (longest common subsequence, as the global
alignment of the original code with gap 0 / match 1 / mismatch -1 reduces to): aligned target tokens take
the source's maps, new tokens keep their own.
"""

from __future__ import annotations

from typing import Any

import torch


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """Ids of a prompt with BOS / EOS, truncated to the tokenizer's length (77 for CLIP)."""
    return tokenizer(text, truncation=True, max_length=tokenizer.model_max_length).input_ids


def choose_mode(tokenizer: Any, source: str, target: str, mode: str = "auto") -> str:
    """'replace' when both prompts have the same token count (word swap), else 'refine'; or as asked."""
    if mode not in ("auto", "replace", "refine"):
        raise ValueError(f"unknown p2p mode '{mode}' (auto, replace, refine)")
    same = len(token_ids(tokenizer, source)) == len(token_ids(tokenizer, target))
    if mode == "replace" and not same:
        raise ValueError(
            f"word swap needs prompts of the same token count: {source!r} vs {target!r}; use mode 'refine'"
        )
    if mode == "auto":
        return "replace" if same else "refine"
    return mode


def replace_mapper(tokenizer: Any, source: str, target: str, max_len: int = 77) -> torch.Tensor:
    """(max_len, max_len) mapper for word swap: the identity (same token count is checked)."""
    choose_mode(tokenizer, source, target, "replace")
    return torch.eye(max_len)


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


def refine_mapper(
    tokenizer: Any, source: str, target: str, max_len: int = 77
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mapper, alphas), each (max_len,): target token j takes source token mapper[j]'s map where
    alphas[j] == 1; new words (alphas 0) keep their own maps. Padding positions map onto padding."""
    x, y = token_ids(tokenizer, source), token_ids(tokenizer, target)
    mapper = torch.zeros(max_len, dtype=torch.long)
    alphas = torch.zeros(max_len)
    for i, j in _lcs_pairs(x, y):
        mapper[j], alphas[j] = i, 1.0
    tail = torch.arange(max_len - len(y))
    mapper[len(y) :] = (len(x) + tail).clamp(max=max_len - 1)
    alphas[len(y) :] = 1.0
    return mapper, alphas


def word_token_indices(tokenizer: Any, text: str, word: str) -> list[int]:
    """Token positions (BOS = 0) of every occurrence of `word` (split on spaces) in `text`."""
    out, pos = [], 1
    for w in text.split(" "):
        n = len(tokenizer(w, add_special_tokens=False).input_ids) if w else 0
        if w.strip(".,;:!?").lower() == word.lower():
            out.extend(range(pos, pos + n))
        pos += n
    return [i for i in out if i < tokenizer.model_max_length - 1]
