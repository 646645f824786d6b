"""Prompt-to-prompt with null-text inversion on the tiny SD 1.x model: alignment, inversion, map swaps."""

from __future__ import annotations

from dataclasses import replace

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
from semitruths_dagster.generation.p2p import (
    SELF_MAX_TOKENS,
    AttentionReplace,
    LocalBlend,
    align_ids,
    choose_mode,
    ddim_invert,
    null_text_invert,
    refine_mapper,
    replace_mapper,
    sample,
    token_ids,
    word_token_indices,
)
from semitruths_dagster.generation.p2p.edit import (
    ddim_scheduler,
    edit_batch,
    edit_one,
    embed_texts,
    encode_image,
)
from semitruths_dagster.hub import ModelSource
from semitruths_dagster.random_weights.clip_tokenizer import clip_tokenizer

SOURCE, SWAP = "a photo of a cat", "a photo of a dog"


@pytest.fixture(scope="module")
def loaded(tiny_models):
    ref = resolve_generator("sd14", ModelSource("tiny", tiny_root=tiny_models))
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
    with pytest.raises(ValueError, match="same word count"):
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
    assert len(nulls.nulls) == 3 and all(1 <= n <= 10 for n in nulls.inner_steps[0])


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


# --- 12.4 aligner: hand-made token sequences and maps with known answers ---------------------------------


def test_refinement_padding_maps_to_itself():
    """Reference `get_mapper`: target positions past the target prompt take the source map at p."""
    bos, eos = 49406, 49407
    mapper, alphas = align_ids([bos, 10, 11, eos], [bos, 10, 12, 11, eos], max_len=8)
    assert mapper.tolist() == [0, 1, 0, 2, 3, 5, 6, 7]  # token 12 is new (alpha 0, its own map)
    assert alphas.tolist() == [1, 1, 0, 1, 1, 1, 1, 1]
    mapper, alphas = align_ids([bos, 10, 11, 12, eos], [bos, 10, eos], max_len=8)
    assert mapper.tolist() == [0, 1, 4, 3, 4, 5, 6, 7] and alphas.tolist() == [1] * 8


def test_auto_mode_follows_word_counts_and_swaps_words_of_other_token_lengths(tokenizer):
    target = "a photo of a zyxqwv"  # 'zyxqwv' is 4 CLIP tokens, 'cat' one: same words, other token count
    assert len(token_ids(tokenizer, target)) == len(token_ids(tokenizer, SOURCE)) + 3
    assert choose_mode(tokenizer, SOURCE, target) == "replace"
    assert choose_mode(tokenizer, "a cat", "a photo of a cat") == "refine"
    m = replace_mapper(tokenizer, SOURCE, target, max_len=16)
    # BOS a photo of a: token to token; 'cat' (5) spread in quarters over 5..8; EOS 6 -> 9; padding p -> p
    expected = torch.zeros(16, 16)
    for k in range(5):
        expected[k, k] = 1.0
    expected[5, 5:9] = 0.25
    expected[6, 9] = 1.0
    for p in range(10, 16):
        expected[p, p] = 1.0
    assert torch.equal(m, expected)
    base = torch.rand(1, 4, 16)  # (heads, queries, tokens): 'cat' map shared by the four new tokens
    swapped = AttentionReplace(m, num_steps=1, cross_replace=1.0, self_replace=0.0).replace_cross(base, None)[
        0
    ]
    assert torch.allclose(swapped[..., 7], base[..., 5] / 4) and torch.equal(swapped[..., 9], base[..., 6])
    same = replace_mapper(tokenizer, SOURCE, SWAP, max_len=16)
    assert torch.equal(same, torch.eye(16))


def test_local_blend_uses_the_maps_after_replacement():
    """Before replacement the edit attends the blend word at the bottom right; the source (and so the edit,
    after full cross replacement) at the top left: the kept region is the top left only."""
    controller = AttentionReplace(torch.eye(77), num_steps=1, cross_replace=1.0, self_replace=0.0)
    probs = torch.zeros(2, 1, 16, 77)  # (prompts, heads, 4x4 queries, tokens)
    probs[0, :, 0, 3] = 1.0  # source: top-left query on token 3
    probs[1, :, 15, 3] = 1.0  # edit: bottom-right query on token 3
    controller.set_step(0)
    used = controller(probs, True, "up")
    [stored] = controller.summed[("up", 4)]
    assert torch.equal(stored, used) and torch.equal(stored[1], probs[0])
    alpha = torch.zeros(2, 77)
    alpha[:, 3] = 1.0
    latents = torch.stack([torch.zeros(4, 8, 8), torch.ones(4, 8, 8)])
    out = LocalBlend(alpha, start_step=0)(latents, controller, step=0)
    assert out[1, :, :2, :2].eq(1).all() and out[1, :, 6:, 6:].eq(0).all()


# --- 12.3 self-attention injection window ----------------------------------------------------------------


def test_self_attention_is_injected_up_to_32x32_queries():
    assert SELF_MAX_TOKENS == 32**2 and P2PParams().self_replace_max_tokens == 1024
    controller = AttentionReplace(torch.eye(77), num_steps=2, cross_replace=0.0, self_replace=1.0)
    controller.set_step(1)
    for side, injected in ((32, True), (33, False)):
        probs = torch.rand(2, 1, side * side, side * side)
        out = controller(probs, False, "up")
        assert torch.equal(out[0], probs[0])
        assert torch.equal(out[1], probs[0]) is injected and torch.equal(out[1], probs[1]) is not injected
    small = AttentionReplace(
        torch.eye(77), num_steps=2, cross_replace=0.0, self_replace=1.0, self_max_tokens=16**2
    )
    small.set_step(0)
    probs = torch.rand(2, 1, 1024, 1024)
    assert torch.equal(small(probs, False, "up"), probs)  # configurable: 16x16 leaves 32x32 alone


# --- 12.2 precision: inversion in float32 whatever the pipeline's dtype ----------------------------------


@pytest.fixture(scope="module")
def loaded_half(tmp_path_factory):
    ref = resolve_generator("sd14", ModelSource("tiny", tiny_root=tmp_path_factory.mktemp("tiny-p2p-half")))
    return load_pipeline(ref, "p2p", DeviceSettings(device="cpu", dtype="float16"))


def _unet_call_dtypes(pipe, params):
    from semitruths_dagster.generation.p2p.processor import P2PAttnProcessor

    calls = []

    def hook(module, args, kwargs):
        editing = any(isinstance(p, P2PAttnProcessor) for p in module.attn_processors.values())
        calls.append(("edit" if editing else "invert", module.conv_in.weight.dtype, args[0].dtype))

    weights = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    handle = pipe.unet.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        _, _, details, _ = edit_one(pipe, _PHOTO, SOURCE, SWAP, params)
    finally:
        handle.remove()
    unchanged = all(torch.equal(v, pipe.unet.state_dict()[k]) for k, v in weights.items())
    return calls, details, unchanged


_PHOTO = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def test_inversion_runs_in_float32_in_a_half_precision_pipeline(loaded_half):
    pipe = loaded_half.pipe
    params = P2PParams(steps=2, null_inner_steps=2, size=64)
    calls, details, unchanged = _unet_call_dtypes(pipe, params)
    inverting = [c for c in calls if c[0] == "invert"]
    editing = [c for c in calls if c[0] == "edit"]
    # DDIM inversion: 1 call per step; null-text: per step 1 conditional + the Adam steps used + 1 guided
    assert len(inverting) == 2 + 2 * 2 + details["null_text_inner_steps_used"] and len(editing) == 2
    assert all(w == x == torch.float32 for _, w, x in inverting)
    assert all(w == x == torch.float16 for _, w, x in editing)
    assert unchanged and pipe.unet.dtype == torch.float16  # cast back exactly
    assert details["inversion_dtype"] == "float32" and details["edit_dtype"] == "float16"
    calls, details, _ = _unet_call_dtypes(pipe, replace(params, inversion_dtype="pipeline"))
    assert {w for _, w, _ in calls} == {torch.float16} and details["inversion_dtype"] == "float16"


def test_reconstruction_mse_is_the_hand_computed_one(loaded, photo):
    """The column: mean squared error between the source branch sampled back from the inverted noise with
    the optimised nulls and the image's latents x_0, recomputed here step by step."""
    pipe, params = loaded.pipe, P2PParams(steps=3, null_inner_steps=2, size=64)
    _, _, details, _ = edit_one(pipe, photo, SOURCE, SWAP, params)
    sched = ddim_scheduler(pipe, 3)
    x0 = encode_image(pipe, photo, (64, 64))
    cond, null = embed_texts(pipe, [SOURCE, ""]).split(1)
    inverted = null_text_invert(pipe.unet, sched, ddim_invert(pipe.unet, sched, x0, cond), cond, null, 7.5, 2)
    recon = sample(pipe.unet, sched, inverted.latents[-1], cond, inverted.nulls, 7.5)
    expected = float(((recon - x0) ** 2).mean())
    assert details["reconstruction_latent_mse"] == pytest.approx(expected, rel=1e-4)
    assert details["reconstruction_latent_mse"] > 0


# --- 13.3 batched prompt-to-prompt ------------------------------------------------------------------------


def test_a_batch_gives_the_results_of_one_item_at_a_time(loaded, photo):
    """Three items in one UNet call per step vs one at a time: the same latents, losses and Adam steps up to
    float32 rounding (Adam's normalised steps carry rounding of ~1e-7 to ~1e-4 in the latents; items differ
    from each other by ~1). The early-stop threshold sits among the items' losses, so they stop after
    different numbers of Adam steps: each item has its own optimizer and its own early stop."""
    from skimage import data

    images = [photo, Image.fromarray(data.astronaut()).resize((64, 64)), Image.fromarray(data.coffee())]
    targets = [SWAP, "a photo of a fluffy cat", "a photo of a zyxqwv"]  # replace, refine, replace (4 tokens)
    params = P2PParams(steps=2, null_inner_steps=3, null_early_stop=1.3, size=64)
    batched = edit_batch(loaded.pipe, images, [SOURCE] * 3, targets, params)
    singles = [
        edit_batch(loaded.pipe, [im], [SOURCE], [t], params)[0] for im, t in zip(images, targets, strict=True)
    ]
    assert [b.details["mode"] for b in batched] == ["replace", "refine", "replace"]
    used = [b.details["null_text_inner_steps_used"] for b in batched]
    assert used == [s.details["null_text_inner_steps_used"] for s in singles] and len(set(used)) > 1, used
    for b, s in zip(batched, singles, strict=True):
        assert torch.allclose(b.latents, s.latents, atol=5e-4, rtol=1e-4)
        assert np.allclose(b.details["null_text_losses"], s.details["null_text_losses"], rtol=1e-4)
        assert b.details["reconstruction_latent_mse"] == pytest.approx(
            s.details["reconstruction_latent_mse"], rel=1e-3
        )
    assert (batched[0].latents - batched[1].latents).abs().max() > 0.1  # the items are not copies


def test_edit_batches_by_the_batch_size_setting(loaded, photo):
    params = P2PParams(steps=2, null_inner_steps=1, size=64)
    items = [
        EditItem(f"e{i}", photo, SOURCE, t, seed=i)
        for i, t in enumerate([SWAP, SWAP, "a photo of a fluffy cat"])
    ]
    sizes = [r.batch_size for r in edit(loaded, items, DeviceSettings(device="cpu", batch_size=2), params)]
    assert sizes == [2, 2, 1]
    assert [r.batch_size for r in edit(loaded, items[:2], params=params)] == [1, 1]  # loaded with batch 1


def test_the_stage_runs_p2p_in_batches_of_the_gpu_batch_size(loaded, photo, tmp_path):
    """`generations` passes the gpu resource's batch size; the rows carry the new columns."""
    from semitruths_dagster.generation import stage
    from semitruths_dagster.storage import ImageStore, TableStore
    from semitruths_dagster.storage.resumable import ResumablePartition

    store = ImageStore(tmp_path / "images")
    path, _ = store.put_png(photo)
    params = stage.GenerationParams(
        generators=("sd14",), methods=("p2p",), size=64, steps=2, p2p={"null_inner_steps": 1}
    )
    request = {
        "dataset": "d",
        "image_id": "a",
        "mask_id": None,
        "magnitude": "small",
        "original": SOURCE,
        "perturbed": SWAP,
    }
    items = [
        stage.WorkItem(f"g{i}", {**request, "request_id": f"r{i}"}, "p2p", i, path, None) for i in range(3)
    ]
    partition = ResumablePartition(
        TableStore(tmp_path / "tables"),
        stage.TABLE,
        {"dataset": "d", "generator": "sd14"},
        "generation_id",
        stage.SCHEMA,
    )
    frame, _ = stage.run_partition(
        items, partition, store, lambda method: loaded, params, log=lambda s: None, batch_size=2
    )
    frame = frame.sort("generation_id")
    assert frame["batch_size"].to_list() == [2, 2, 1]
    assert (
        frame["inversion_dtype"].to_list() == ["float32"] * 3
        and (frame["reconstruction_latent_mse"] > 0).all()
    )
