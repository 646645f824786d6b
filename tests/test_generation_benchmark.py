"""The generation benchmark runs end to end on a tiny model and prints its table; full-size configs build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "generation.py"


def test_benchmark_prints_a_table(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_generation", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = [
        "--generators",
        "sd14",
        "--methods",
        "inpainting",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--warmup",
        "0",
    ]
    module.main([*args, "--batch", "1", "2", "--tiny-root", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("generator") and "img/s" in lines[0] and "peak_MiB" in lines[0]
    assert len(lines) == 4 and all(line.startswith("sd14") for line in lines[2:])


def test_full_size_configs_have_the_real_parameter_counts():
    """Built on the meta device (no memory): SD 1.5's UNet has 859.5 M parameters, SDXL's 2.567 B."""
    from semitruths_dagster.generation.families import build_full
    from semitruths_dagster.random_weights.full_sd import parameter_count

    sd = build_full("sd1", "inpainting", torch.device("meta"), torch.float16)
    assert round(parameter_count(sd.unet) / 1e6, 1) == 859.5
    xl = build_full("sdxl", "inpainting", torch.device("meta"), torch.float16)
    assert round(parameter_count(xl.unet) / 1e9, 3) == 2.567


def test_benchmark_includes_the_new_generators_and_instruction(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_generation", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {"flux_fill", "sd35_medium", "sd35_large", "qwen_image", "flux_kontext", "qwen_image_edit",
            "instruct_pix2pix"} == set(module.GROUPS["new"])
    module.main(["--generators", "flux_kontext", "sd35_medium", "--steps", "1", "--repeats", "1", "--warmup", "0",
                 "--tiny-root", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert "offload" in lines[0] and "peak_MiB" in lines[0]
    methods = {line.split("|")[0].strip(): line.split("|")[1].strip() for line in lines[2:]}
    assert methods == {"flux_kontext": "instruction", "sd35_medium": "inpainting"}


def test_benchmark_puts_batched_p2p_beside_batch_1(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_generation", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--generators", "sd14", "--methods", "p2p", "--steps", "1", "--null-inner-steps", "1"]
    module.main([*args, "--repeats", "1", "--warmup", "0", "--batch", "2", "--tiny-root", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    header = [c.strip() for c in lines[0].split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.split("|")), strict=True)) for line in lines[2:]]
    assert [(r["method"], r["batch"]) for r in rows] == [("p2p", "1"), ("p2p", "2")]
    assert rows[0]["x_batch1"] == "1.000" and float(rows[1]["x_batch1"]) > 0
