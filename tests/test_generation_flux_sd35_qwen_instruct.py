"""FLUX.1 Fill, SD 3.5 and Qwen-Image inpainting, and instruction editing (FLUX.1 Kontext, Qwen-Image-Edit,
InstructPix2Pix) on tiny random-weight builds, through their real diffusers pipeline classes and the
generations stage, on the embedded sample."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from semitruths_dagster.evaluation.stage import edit_pair
from semitruths_dagster.generation import DeviceSettings, load_pipeline, resolve_generator
from semitruths_dagster.generation.families import FAMILIES
from semitruths_dagster.generation.registry import GENERATORS, INSTRUCTION, generator_spec
from semitruths_dagster.generation.stage import SCHEMA, TABLE, GenerationParams, plan, run_partition
from semitruths_dagster.hub import ModelSource, ModelUnavailableError
from semitruths_dagster.prompts.instructions import INSTRUCTION_TEMPLATE_VERSION, instruction_for
from semitruths_dagster.sources.embedded import render_embedded_sample
from semitruths_dagster.storage import ImageStore
from semitruths_dagster.storage.resumable import ResumablePartition
from semitruths_dagster.storage.tables import TableStore

INPAINTERS = {"flux_fill": "FluxFillPipeline", "sd35_medium": "StableDiffusion3InpaintPipeline",
              "sd35_large": "StableDiffusion3InpaintPipeline", "qwen_image": "QwenImageInpaintPipeline"}
EDITORS = {"flux_kontext": "FluxKontextPipeline", "qwen_image_edit": "QwenImageEditPipeline",
           "instruct_pix2pix": "StableDiffusionInstructPix2PixPipeline"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The embedded sample's astronaut with its spacesuit mask in an image store, and two edit requests:
    a mask label (inpainting) and a caption (prompt-based)."""
    root = tmp_path_factory.mktemp("gen-new")
    src = render_embedded_sample(root / "sample")
    store = ImageStore(root / "images")
    image_path, _ = store.put_file(src / "images/sample/astronaut.png")
    mask_path, _ = store.put_file(src / "masks/sample/astronaut_spacesuit.png")
    base = {"dataset": "sample", "image_id": "astronaut", "valid": True, "magnitude": "medium"}
    prompts = [
        base | {"request_id": "r-label", "mask_id": "astronaut_spacesuit", "method": "inpainting",
                "original": "spacesuit", "perturbed": "red raincoat", "edit_mode": "replace"},
        base | {"request_id": "r-caption", "mask_id": None, "method": "p2p", "edit_mode": "caption",
                "original": "an astronaut in a spacesuit", "perturbed": "an astronaut in a red raincoat"},
    ]
    return {"root": root, "store": store, "prompts": prompts, "images": {"astronaut": image_path},
            "masks": {"astronaut_spacesuit": mask_path}}


def _run(sample, generator: str):
    params = GenerationParams(generators=(generator,), steps=2, size=64, chunk_size=1)
    ref = resolve_generator(generator, ModelSource("tiny", tiny_root=sample["root"] / "tiny"))
    items = plan(sample["prompts"], sample["masks"], sample["images"], generator, params, ref.ref, seed=0)
    partition = ResumablePartition(TableStore(sample["root"] / "tables"), TABLE,
                                   {"dataset": "sample", "generator": generator}, "generation_id", SCHEMA)
    settings = DeviceSettings(device="cpu")
    frame, counts = run_partition(items, partition, sample["store"],
                                  lambda method: load_pipeline(ref, method, settings), params, log=lambda _: None)
    return items, frame, counts


@pytest.mark.parametrize("generator", list(INPAINTERS))
def test_inpainting_generator_edits_the_sample(sample, generator):
    items, frame, counts = _run(sample, generator)
    assert counts["made"] == 1 == frame.height  # the label request; the caption one is not inpainting
    row = frame.row(0, named=True)
    assert row["method"] == "inpainting" and row["generator"] == generator
    assert row["pipeline"] == INPAINTERS[generator] and row["scheduler"] == "FlowMatchEulerDiscreteScheduler"
    assert row["mask_id"] == "astronaut_spacesuit" and row["prompt"] == "red raincoat"
    assert row["seed"] == items[0].seed and row["steps"] == 2 and row["working_size"] == [64, 64]
    assert row["random_weights"] is True and row["peak_gpu_memory_mb"] is None  # CPU: no GPU peak
    assert row["hub_id"] == generator_spec(generator).hub_id
    image = sample["store"].open(row["image_path"])
    assert image.size == sample["store"].open(sample["images"]["astronaut"]).size
    call = json.loads(row["params"])["call"]
    assert call["strength"] == 1.0
    if generator == "qwen_image":  # true CFG with a blank negative prompt
        assert row["negative_prompt"] == " " and row["guidance"] == 4.0


@pytest.mark.parametrize("generator", list(EDITORS))
def test_instruction_editor_edits_the_sample(sample, generator):
    items, frame, counts = _run(sample, generator)
    assert counts["made"] == 2 == frame.height  # the label and the caption request, both as instructions
    rows = {r["request_id"]: r for r in frame.iter_rows(named=True)}
    for row in rows.values():
        assert row["method"] == INSTRUCTION and row["generator"] == generator
        assert row["pipeline"] == EDITORS[generator] and row["random_weights"] is True
        assert row["working_size"] == [64, 64] and row["steps"] == 2
        instruction = json.loads(row["params"])["instruction"]
        assert instruction["template_version"] == INSTRUCTION_TEMPLATE_VERSION
        assert row["prompt"] == instruction["text"]
        assert sample["store"].abspath(row["image_path"]).is_file()
        assert json.loads(row["params"])["call"]["input_mask"] is False
    assert rows["r-label"]["prompt"].startswith("Replace the spacesuit with red raincoat")
    assert rows["r-label"]["mask_id"] == "astronaut_spacesuit"  # the request's mask, never sent to the model
    assert "an astronaut in a red raincoat" in rows["r-caption"]["prompt"]
    # The request's perturbed text is recorded: the evaluation's directional pair (not the instruction).
    for request, pair in (("r-label", ("spacesuit", "red raincoat")), ("r-caption", ("spacesuit", "red raincoat"))):
        row = rows[request]
        assert edit_pair(row["method"], row["original_text"], row["prompt"], row["params"]) == pair
    # rerun: nothing to redo
    _, again, counts = _run(sample, generator)
    assert counts["made"] == 0 and again.height == 2


def test_instruction_templates_per_magnitude():
    small = instruction_for("inpainting", "dog", "cat", "replace", "small")
    large = instruction_for("inpainting", "dog", "bicycle", "replace", "large")
    alter = instruction_for("inpainting", "car", "matte car", "alter", "medium")
    assert small.text == "Replace the dog with a similar cat. Keep everything else unchanged."
    assert large.text.startswith("Replace the dog with bicycle, a completely different thing.")
    assert alter.text.startswith("Change the car so that it becomes matte car.")
    with pytest.raises(ValueError, match="magnitude 'huge'"):
        instruction_for("inpainting", "dog", "cat", "replace", "huge")


def test_registry_records_licence_gates_and_per_generator_sizes():
    assert generator_spec("sdxl").default_size == 1024 and generator_spec("sd15").default_size == 512
    assert generator_spec("flux_fill").default_guidance == 30.0 and generator_spec("flux_fill").default_steps == 50
    assert {g for g, s in GENERATORS.items() if s.gated} == {"flux_fill", "flux_kontext", "sd35_medium",
                                                              "sd35_large"}
    for spec in GENERATORS.values():
        assert spec.family in FAMILIES and spec.licence
        assert set(spec.methods) <= set(FAMILIES[spec.family].pipelines)  # every method has a pipeline


def test_default_working_size_is_per_generator_and_recorded():
    params = GenerationParams(generators=("sdxl",))
    assert params.size is None  # no global size: SDXL inpainting runs at its own 1024
    from semitruths_dagster.generation.inpaint import resolved_call

    class Item:
        steps = guidance = size = None
        image = Image.new("RGB", (1024, 1024))

    assert resolved_call(Item(), "sdxl")["size"] == (1024, 1024)
    assert resolved_call(Item(), "sd14")["size"] == (512, 512)  # within SD 1.x's 512 x 512 budget


@pytest.mark.parametrize("online", [False, True])
def test_a_gated_model_fails_at_once_with_licence_and_override(monkeypatch, tmp_path, online):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0" if online else "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty hub cache
    ref = resolve_generator("flux_kontext", ModelSource("paper"))
    with pytest.raises(ModelUnavailableError) as err:
        load_pipeline(ref, INSTRUCTION, DeviceSettings(device="cpu"))
    message = str(err.value)
    assert "black-forest-labs/FLUX.1-Kontext-dev" in message and "gated" in message
    assert "flux-1-dev-non-commercial-license" in message and "generation.overrides.flux_kontext" in message


def test_export_names_new_models_and_methods_and_reads_them_back(sample, tmp_path):
    """The released-layout export writes `model` as the registry spells it and `method` instruction;
    the import reads both back unchanged (and the instruction text)."""
    import polars as pl

    from semitruths_dagster.config import SourceConfig
    from semitruths_dagster.sources.released import parse_released
    from semitruths_dagster.sources.released_export import export_released
    from semitruths_dagster.sources.released_stage import build_edits

    for generator in ("flux_fill", "instruct_pix2pix"):
        _run(sample, generator)
    tables = TableStore(sample["root"] / "tables")
    tables.write("source_images", {"dataset": "sample"}, [{
        "image_id": "astronaut", "dataset": "sample", "benchmark": "sample", "entities": "['person']",
        "classes": "['person']", "image_path": sample["images"]["astronaut"]}],
        {"image_id": pl.Utf8, "dataset": pl.Utf8, "benchmark": pl.Utf8, "entities": pl.Utf8, "classes": pl.Utf8,
         "image_path": pl.Utf8})
    edits = tables.read_all("generations")
    export_released(tables, sample["store"], tmp_path / "export")
    table = parse_released(SourceConfig(name="back", adapter="released", root=tmp_path / "export"))
    assert not table.rejections
    rows: list[dict] = []
    made, rejections = build_edits(table, "back", ImageStore(tmp_path / "store"), set(), rows.extend)
    assert made == edits.height and not rejections
    back = sorted((r["generator"], r["method"], r["prompt"]) for r in rows)
    given = sorted((r["generator"], r["method"], r["prompt"]) for r in edits.iter_rows(named=True))
    assert back == given
    # The module's sample tables also hold the other new generators' rows when the whole module runs.
    assert {("flux_fill", "inpainting"), ("instruct_pix2pix", "instruction")} <= {(g, m) for g, m, _ in back}
    assert (tmp_path / "export" / "instruction" / "sample" / "instruct_pix2pix").is_dir()


def test_instructions_written_by_a_language_model(tmp_path):
    """instruction_backend llm: the `llm` role (tiny Llama, random weights) writes each instruction; the
    row records the backend, its version and that the text came from random weights."""
    from semitruths_dagster.generation.stage import llm_instructions
    from semitruths_dagster.models import ModelRegistry
    from semitruths_dagster.prompts.instructions import LLM_INSTRUCTION_VERSION, parse_instruction

    assert parse_instruction('\n "Paint the car red."\nmore') == "Paint the car red."
    assert parse_instruction("  \n") is None and parse_instruction("word " * 41) is None
    handle = ModelRegistry(profile="tiny", tiny_root=tmp_path, device="cpu").load("llm")
    rows = [{"request_id": "r1", "valid": True, "method": "inpainting", "original": "dog", "perturbed": "cat",
             "edit_mode": "replace", "magnitude": "small"},
            {"request_id": "r2", "valid": False, "method": "p2p", "original": "a", "perturbed": "b",
             "edit_mode": "caption", "magnitude": "large"}]
    written = llm_instructions(rows, handle, seed=0)
    assert set(written) == {"r1"}  # invalid requests get no instruction
    made = written["r1"]
    if made.backend.startswith("llm:"):
        assert made.template_version == LLM_INSTRUCTION_VERSION and made.random_weights and made.text
    else:  # an empty or overlong answer falls back to the template, and says so
        assert made.backend == "template (llm answer rejected)" and made.text.startswith("Replace the dog")
    again = llm_instructions(rows, handle, seed=0)
    assert again == written  # greedy decoding: the same instruction twice
