"""Sentence similarity with the real all-MiniLM-L6-v2 weights, and CLIP embeddings."""

import torch

from semitruths_dagster.models import ModelRegistry, paired_cosine, sentence_embeddings


def test_minilm_near_synonyms_are_closer_than_unrelated_sentences():
    encoder = ModelRegistry("paper", device="cpu").load("sentence")
    assert encoder.random_weights is False
    emb = sentence_embeddings(
        encoder,
        [
            "a small cat sleeping on a sofa",
            "a little kitten napping on a couch",
            "stock prices fell sharply today",
            "red car",
            "crimson automobile",
            "maple tree",
        ],
    )
    assert torch.allclose(emb.norm(dim=-1), torch.ones(6), atol=1e-5)
    near, far = paired_cosine(emb[[0, 3]], emb[[1, 4]]), paired_cosine(emb[[0, 3]], emb[[2, 5]])
    assert near[0] > 0.6 > far[0] and near[1] > far[1]
