"""DE-FAKE's BLIP captions made three ways, and how far apart their CLIP text features are.

    .venv/bin/python benchmarks/defake_captions.py --images DIR \\
        --captioner Salesforce/blip-image-captioning-base \\
        --original weights/defake/model_base_capfilt_large.pth --clip weights/defake/finetune_clip.pt

Rows: `exact` (the authors' BLIP file at its own 224-px positions, `weights.captioner_original`; the
reference when `--original` is given), `hub@224` (the transformers captioner at 224 px, its 384-px
position embeddings interpolated: the default without the file), `old` (before issue 21: the processor's
own size and CLIP normalisation, no prompt). Columns: captions identical to the reference's, and the mean
and minimum cosine between CLIP text embeddings of the captions and of the reference's. `--clip`: DE-FAKE's
`finetune_clip.pt` (a pickled whole module: pass it only if you trust the file) or, without it,
open_clip ViT-B/32 with OpenAI's weights. Without `--images` it runs on the tiny random captioner, a tiny
random CLIP and synthetic images: the numbers then only show that the command works (random captions).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def old_captions(captioner, images) -> list[str]:
    """The plugin before issue 21: the processor's preprocessing, no prompt, beam 3, 5-60 tokens."""
    import torch

    proc, model = captioner.processor, captioner.model
    with torch.inference_mode():
        inputs = proc(images=[im.convert("RGB") for im in images], return_tensors="pt").to(captioner.device)
        out = model.generate(**inputs, num_beams=3, max_length=60, min_length=5)
    return [t.strip() for t in proc.batch_decode(out, skip_special_tokens=True)]


def main() -> None:
    import numpy as np
    import open_clip
    import torch
    from PIL import Image

    from semitruths_dagster.detectors.backbones import build_open_clip, seeded, tiny_clip_config
    from semitruths_dagster.detectors.blip_caption import BlipCaptioner, CaptionSettings
    from semitruths_dagster.detectors.checkpoints import load_pickled_module
    from semitruths_dagster.models import ensure_tiny

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, help="a folder of images (default: 8 synthetic ones)")
    ap.add_argument("--captioner", help="transformers BLIP captioner (default: the tiny random one)")
    ap.add_argument("--original", type=Path, help="the authors' model_base_capfilt_large.pth")
    ap.add_argument("--clip", type=Path, help="DE-FAKE's finetune_clip.pt (default: open_clip ViT-B/32 openai)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    tmp = tempfile.TemporaryDirectory()
    if args.images:
        paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
        images = [Image.open(p).convert("RGB") for p in paths]
    else:
        rng = np.random.default_rng(0)
        images = [Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) for _ in range(8)]
    ref = args.captioner or str(ensure_tiny(Path(tmp.name), "captioner"))
    if args.clip:
        clip = load_pickled_module(args.clip, True, "--clip").float().to(device).eval()
    elif args.captioner:
        clip = open_clip.create_model("ViT-B-32-quickgelu", pretrained="openai").to(device).eval()
    else:
        with seeded(0):
            clip = build_open_clip(tiny_clip_config(512)).to(device)
    settings = CaptionSettings()
    hub = BlipCaptioner(ref, device, "--captioner")
    rows = {"hub@224": hub(images, settings), "old": old_captions(hub, images)}
    if args.original:
        exact = BlipCaptioner(ref, device, "--captioner", original=(args.original, "--original"))
        rows = {"exact": exact(images, settings)} | rows
    reference = next(iter(rows))

    def embed(texts: list[str]) -> torch.Tensor:
        with torch.inference_mode():
            feats = clip.encode_text(open_clip.tokenize(texts).to(device)).float()
        return feats / feats.norm(dim=-1, keepdim=True)

    base = embed(rows[reference])
    print(f"{len(images)} images; reference: {reference}"
          + ("" if args.captioner else " (RANDOM WEIGHTS: meaningless numbers)"))
    print(f"{'captions':<10} {'same':>6} {'mean cos':>9} {'min cos':>8}  first caption")
    for name, caps in rows.items():
        cos = (embed(caps) * base).sum(-1)
        same = sum(a == b for a, b in zip(caps, rows[reference], strict=True))
        print(f"{name:<10} {same:>3}/{len(caps):<2} {cos.mean().item():>9.4f} {cos.min().item():>8.4f}  {caps[0][:50]!r}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
