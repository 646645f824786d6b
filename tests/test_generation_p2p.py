"""Prompt-to-prompt with null-text inversion on the tiny SD 1.x model: alignment, inversion, map swaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semitruths_dagster.generation import (
    DeviceSettings,
    EditItem,
    P2PParams,
    edit,
    load_pipeline,
    resolve_generator,
)
from semitruths_dagster.generation.clip_tokenizer import clip_tokenizer
from semitruths_dagster.generation.p2p import (
    choose_mode,
    ddim_invert,
    null_text_invert,
    refine_mapper,
    sample,
    word_token_indices,
)
from semitruths_dagster.generation.p2p.edit import ddim_scheduler, edit_one, embed_texts, encode_image

SOURCE, SWAP = "a photo of a cat", "a photo of a dog"


@pytest.fixture(scope="module")
def loaded(tiny_models):
    ref = resolve_generator("sd14", "tiny", tiny_root=tiny_models)
    return load_pipeline(ref, "p2p", DeviceSettings(device="cpu"))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea()).resize((80, 64))


@pytest.fixture(scope="module")
def tokenizer():
    return clip_tokenizer()


def test_clip_tokenizer_matches_open_clip(tokenizer):
    from open_clip.tokenizer import SimpleTokenizer

    text = "a photo of a tabby cat, sitting next to a mirror!"
    assert tokenizer(text).input_ids[1:-1] == SimpleTokenizer().encode(text)
    assert len(tokenizer) == 49408


def test_mode_and_alignment(tokenizer):
    assert choose_mode(tokenizer, SOURCE, SWAP) == "replace"
    assert choose_mode(tokenizer, SOURCE, "a photo of a fluffy cat") == "refine"
    with pytest.raises(ValueError, match="same token count"):
        choose_mode(tokenizer, SOURCE, "a photo of a fluffy cat", "replace")
    mapper, alphas = refine_mapper(tokenizer, SOURCE, "a photo of a fluffy cat")
    # BOS a photo of a | fluffy (new) | cat EOS ; source: BOS a photo of a cat EOS
    assert mapper[:8].tolist()[:5] == [0, 1, 2, 3, 4] and alphas[5] == 0
    assert mapper[6] == 5 and mapper[7] == 6 and alphas[6] == alphas[7] == 1
    assert word_token_indices(tokenizer, "a photo of a fluffy cat", "cat") == [6]


def test_null_text_inversion_reconstructs_better_than_ddim_inversion(loaded, photo):
    """With guidance 7.5, sampling back from the DDIM-inverted noise drifts from the image's latents;
    the optimised null embeddings bring it back (measured in latent space: the tiny VAE cannot
    reconstruct pixels either way)."""
    pipe = loaded.pipe
    sched = ddim_scheduler(pipe, 3)
    x0 = encode_image(pipe, photo, (64, 64))
    cond, null = embed_texts(pipe, [SOURCE, ""]).split(1)
    inverted = ddim_invert(pipe.unet, sched, x0, cond)
    plain = sample(pipe.unet, sched, inverted.latents[-1], cond, null, 7.5)
    nulls = null_text_invert(pipe.unet, sched, inverted, cond, null, 7.5, inner_steps=10)
    optimised = sample(pipe.unet, sched, inverted.latents[-1], cond, nulls.nulls, 7.5)
    err_plain, err_null = (float(torch.mean((x - x0) ** 2)) for x in (plain, optimised))
    assert err_null < 0.9 * err_plain, (err_null, err_plain)
    assert len(nulls.nulls) == 3 and all(1 <= n <= 10 for n in nulls.inner_steps)


def _maps(artifacts):
    return [(step, place, m) for step, layers in artifacts["attention_maps"].items() for place, m in layers]


def test_full_cross_replacement_gives_the_edit_the_source_maps(loaded, photo):
    params = P2PParams(steps=3, null_inner_steps=2, size=64, record_maps=True, cross_replace_steps=1.0)
    _, _, details, artifacts = edit_one(loaded.pipe, photo, SOURCE, SWAP, params)
    maps = _maps(artifacts)
    assert details["mode"] == "replace" and {step for step, _, _ in maps} == {0, 1, 2}
    assert {place for _, place, _ in maps} == {"down", "mid", "up"}
    for _, _, m in maps:  # (prompts, heads, queries, tokens): the edit's maps are the source's
        assert torch.equal(m[1], m[0])
    no_swap = P2PParams(steps=3, null_inner_steps=2, size=64, record_maps=True, cross_replace_steps=0.0)
    _, _, _, artifacts = edit_one(loaded.pipe, photo, SOURCE, SWAP, no_swap)
    assert all(not torch.equal(m[1], m[0]) for _, _, m in _maps(artifacts))


def test_refinement_maps_aligned_tokens_and_keeps_new_ones(loaded, photo, tokenizer):
    target = "a photo of a fluffy cat"
    params = P2PParams(steps=2, null_inner_steps=1, size=64, record_maps=True, cross_replace_steps=1.0)
    _, _, details, artifacts = edit_one(loaded.pipe, photo, SOURCE, target, params)
    assert details["mode"] == "refine"
    for _, _, m in _maps(artifacts):
        assert torch.equal(m[1][..., 6], m[0][..., 5])  # 'cat' takes the source's 'cat' map
        assert torch.equal(m[1][..., 1], m[0][..., 1])
        assert not torch.equal(m[1][..., 5], m[0][..., 5])  # 'fluffy' is new: its own map


def test_edit_records_everything(loaded, photo):
    params = P2PParams(steps=3, null_inner_steps=2, size=64, blend_words=("cat", "dog"))
    items = [EditItem("e1", photo, SOURCE, SWAP, seed=5)]
    [result] = edit(loaded, items, params=params)
    again = next(edit(loaded, items, params=params))
    assert np.array_equal(np.asarray(result.image), np.asarray(again.image))  # deterministic
    assert result.image.size == photo.size and result.working_size == (64, 64)
    row = result.record()
    assert row["method"] == "p2p" and row["random_weights"] is True and row["scheduler"] == "DDIMScheduler"
    p = row["params"]
    assert p["mode"] == "replace" and p["blend_words"] == ["cat", "dog"] and p["cross_replace_steps"] == 0.8
    assert p["source_caption"] == SOURCE and row["prompt"] == SWAP and len(p["null_text_losses"]) == 3
    assert p["reconstruction_latent_mse"] >= 0 and row["black"] is False


def test_local_blend_resets_latents_outside_the_word_region():
    from semitruths_dagster.generation.p2p import AttentionStore, LocalBlend

    store = AttentionStore()
    maps = torch.zeros(2, 1, 16, 77)  # (prompts, heads, 4x4 queries, tokens)
    maps[:, :, :2, 3] = 1.0  # token 3 attends to the top-left of the map only
    store.store(maps, True, "up")
    alpha = torch.zeros(2, 77)
    alpha[:, 3] = 1.0
    blend = LocalBlend(alpha, start_step=1)
    latents = torch.stack([torch.zeros(4, 8, 8), torch.ones(4, 8, 8)])
    assert torch.equal(blend(latents, store, step=0), latents)  # before start_step: untouched
    out = blend(latents, store, step=1)
    assert torch.equal(out[0], latents[0]) and out[1, :, :2, :4].eq(1).all()  # inside kept (max-pooled)
    assert out[1, :, 6:, :].eq(0).all()  # far outside: back to the source's latents
