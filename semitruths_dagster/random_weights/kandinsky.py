"""Tiny random-weight Kandinsky 2.2 inpainting: the decoder (UNet on image embeddings + MoVQ) and its prior.

On the hub the decoder repo's README names the prior repo (`prior: [kandinsky-community/kandinsky-2-2-prior]`)
and AutoPipelineForInpainting loads both into KandinskyV22InpaintCombinedPipeline. The tiny build does the
same: the prior is saved in a `prior/` folder inside the decoder folder and the decoder's README names it
by absolute path, so the combined pipeline loads through the same code as the hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hub import CLIP_MEAN, CLIP_STD
from .clip_tokenizer import CLIP_VOCAB_SIZE, clip_tokenizer

EMBED = 32  # CLIP image-embedding width (1280 for the real ViT-bigG)


def prior_scheduler() -> Any:
    """The prior's UnCLIP scheduler, as the hub's kandinsky-2-2-prior ships it."""
    from diffusers import UnCLIPScheduler

    return UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000,
                           clip_sample=True, clip_sample_range=10.0)


def decoder_scheduler() -> Any:
    """The decoder's DDPM scheduler (learned variance), as the hub's decoder ships it."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                         clip_sample=False, steps_offset=1, prediction_type="epsilon",
                         variance_type="learned_range", thresholding=False)


def clip_image_processor(size: int) -> Any:
    """The prior's CLIP image preprocessing at `size` px (224 for the real ViT-bigG)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                              image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), resample=3)


def _build_prior(out: Path) -> Any:
    from diffusers import KandinskyV22PriorPipeline, PriorTransformer
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    text = CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=EMBED,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=EMBED,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=0,
    )
    vision = CLIPVisionConfig(
        hidden_size=EMBED,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=EMBED,
    )
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=EMBED, num_layers=1)
    # The real prior stores CLIP statistics; ones/zeros keep random embeddings in a sane range.
    prior.clip_std.data.fill_(1.0)
    prior.clip_mean.data.fill_(0.0)
    pipe = KandinskyV22PriorPipeline(
        prior=prior,
        image_encoder=CLIPVisionModelWithProjection(vision).eval(),
        text_encoder=CLIPTextModelWithProjection(text).eval(),
        tokenizer=clip_tokenizer(pad_token="!"),
        scheduler=prior_scheduler(),
        image_processor=clip_image_processor(32),
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


def _build_decoder(out: Path) -> Any:
    from diffusers import KandinskyV22InpaintPipeline, UNet2DConditionModel, VQModel

    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=9,  # noisy latents + masked-image latents + mask
        out_channels=8,  # epsilon and learned variance
        addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
        layers_per_block=1,
        encoder_hid_dim=EMBED,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=EMBED,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    )
    # MoVQ: a VQ autoencoder with spatially conditioned norms, 4 levels (downsamples by 8 like the real one).
    movq = VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3 + ("AttnDownEncoderBlock2D",),
        up_block_types=("AttnUpDecoderBlock2D",) + ("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 32, 32, 32),  # spatial norms use 32 groups: widths must divide by 32
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        norm_type="spatial",
        num_vq_embeddings=12,
        vq_embed_dim=4,
    )
    pipe = KandinskyV22InpaintPipeline(unet=unet, scheduler=decoder_scheduler(), movq=movq)
    pipe.save_pretrained(out, safe_serialization=True)
    return pipe


def build_kandinsky22_inpaint(out: Path, final_dir: Path) -> Any:
    """Decoder in `out`, prior in `out/prior`; the README names the prior at `final_dir/prior`, where it
    will be once the build folder is renamed into place."""
    prior = _build_prior(out / "prior")
    decoder = _build_decoder(out)
    write_model_card(out, final_dir)
    return decoder, prior


def write_model_card(folder: Path, final_dir: Path) -> None:
    """The decoder's README naming its prior (at `final_dir/prior`) the way the hub's model card does."""
    prior_path = (Path(final_dir) / "prior").resolve()
    (Path(folder) / "README.md").write_text(
        f"---\nprior:\n- {prior_path}\n---\n\nTiny random-weight Kandinsky 2.2 inpainting decoder "
        "(semitruths-dagster). The prior pipeline is in `prior/`.\n"
    )


def refresh_model_card(folder: Path) -> None:
    """Re-point the model card at the prior when the cache folder was moved since it was built."""
    if not model_card_is_current(folder):
        write_model_card(folder, folder)


def model_card_is_current(folder: Path) -> bool:
    """False when the folder was moved since it was built (its README names the prior's old path)."""
    card = Path(folder) / "README.md"
    return card.is_file() and f"- {(Path(folder) / 'prior').resolve()}\n" in card.read_text()
