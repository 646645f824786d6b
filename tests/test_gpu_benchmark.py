"""`bash benchmarks/gpu.sh` runs on the CPU (the small settings CI can afford) and prints its one table."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_gpu_script_prints_one_table_on_the_cpu(tiny_models):
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")  # CI has no GPU: the smoke path
    # The session's tiny generators: built once for every test that needs them.
    out = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--tiny-root", str(tiny_models)], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "running the small CPU version" in out.stderr
    lines = out.stdout.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("what "))
    rows = [line.split(" | ") for line in lines[header + 2:]]
    assert all(c in lines[header] for c in ("items/s", "peak_MiB", "x paper"))
    kinds = {(r[0].strip(), r[1].strip()) for r in rows}
    for generator in ("sd14", "sd15", "openjourney", "sdxl", "kandinsky22", "flux_fill", "sd35_medium",
                      "sd35_large", "qwen_image"):
        assert ("inpainting", generator) in kinds
    for generator in ("flux_kontext", "qwen_image_edit", "instruct_pix2pix"):
        assert ("instruction", generator) in kinds
    assert {("p2p", "sd15"), ("detector", "npr"), ("detector", "universal_fake_detect"), ("LPIPS", "alex")} <= kinds
    assert {("segmenter", "mask2former-swin-l"), ("segmenter+SAM", "mask2former-swin-l+sam-vit-h")} <= kinds
    p2p_batches = sorted(int(r[4]) for r in rows if r[0].strip() == "p2p")
    assert p2p_batches == [1, 2]
    assert all(float(r[7]) > 0 for r in rows)  # every row measured (no budget skips in the smoke run)
