"""Detectors without code: a Hugging Face image classifier, an ONNX model and an external process, each from a
spec alone. Scores are checked against an independent computation (the transformers model and processor
called directly, the exported torch module on the same preprocessing, the script's known rule); bad specs
give one-line errors naming the spec. End to end through `semitruths detector add` and the sensor:
tests/test_detectors_nocode_e2e.py."""

from __future__ import annotations

import gc
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from semitruths_dagster.detectors import CheckpointError, Preprocessing, SpecError, build_detector, load_spec
from semitruths_dagster.detectors.verify import verify_spec

RNG = np.random.default_rng(0)
IMAGES = [Image.fromarray(RNG.integers(0, 256, (40 + 3 * i, 48, 3), dtype=np.uint8)) for i in range(5)]


def write_spec(folder: Path, data: dict) -> Path:
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_line(exc: pytest.ExceptionInfo, spec: Path, *words: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and str(spec) in text, text
    for word in words:
        assert word in text, text


# --- hf_image_classifier ---------------------------------------------------------------------------
def save_vit(folder: Path, id2label: dict[int, str], seed: int = 0) -> Path:
    """A tiny random ViT image classifier and its processor, in the hub layout (save_pretrained)."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, num_labels=len(id2label), id2label=id2label,
                       label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(seed)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def reference_probs(folder: Path) -> np.ndarray:
    """Softmax (or sigmoid) of the model's logits, computed with transformers alone."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    pixels = AutoImageProcessor.from_pretrained(folder)(images=[i.convert("RGB") for i in IMAGES],
                                                       return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits.double()
    return (torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)).numpy()


def hf_spec(tmp_path: Path, model: Path | str, fake_labels, name: str = "hf-vit") -> Path:
    return write_spec(tmp_path, {"name": name, "plugin": "hf_image_classifier", "version": "1",
                                 "weights": {"model": str(model)}, "options": {"fake_labels": fake_labels}})


def test_hf_classifier_scores_the_softmax_of_its_fake_labels(tmp_path):
    folder = save_vit(tmp_path / "vit", {0: "real", 1: "sd", 2: "gan"})
    det = build_detector(load_spec(hf_spec(tmp_path, folder, ["sd", "gan"])))
    probs = reference_probs(folder)
    np.testing.assert_allclose(det.score(IMAGES, batch_size=2), probs[:, 1] + probs[:, 2], atol=1e-6)
    single = build_detector(load_spec(hf_spec(tmp_path, folder, "gan", "hf-gan")))
    np.testing.assert_allclose(single.score(IMAGES), probs[:, 2], atol=1e-6)
    assert det.crop_box_for_mask(np.ones((40, 48), bool)) is None  # the processor decides the crop


def test_hf_classifier_with_one_logit_is_its_sigmoid(tmp_path):
    folder = save_vit(tmp_path / "vit1", {0: "fake"}, seed=1)
    det = build_detector(load_spec(hf_spec(tmp_path, folder, ["fake"])))
    np.testing.assert_allclose(det.score(IMAGES), reference_probs(folder)[:, 0], atol=1e-6)


def test_hf_classifier_in_bfloat16_is_close_to_float32(tmp_path):
    folder = save_vit(tmp_path / "vit", {0: "real", 1: "fake"})
    spec = load_spec(hf_spec(tmp_path, folder, ["fake"]))
    low = build_detector(spec, dtype=torch.bfloat16)
    assert next(low.model.parameters()).dtype == torch.bfloat16 and low.dtype_name == "bfloat16"
    np.testing.assert_allclose(low.score(IMAGES), build_detector(spec).score(IMAGES), atol=0.02)


def test_hf_classifier_bad_specs_are_one_line_errors_naming_the_spec(tmp_path):
    folder = save_vit(tmp_path / "vit", {0: "real", 1: "fake"})
    spec = hf_spec(tmp_path, folder, ["synthetic"])
    with pytest.raises(SpecError) as exc:
        build_detector(load_spec(spec))
    one_line(exc, spec, "options.fake_labels", "'synthetic'", "['fake', 'real']")
    report = verify_spec(load_spec(spec))  # what the registry sensor runs: refused with that reason
    assert not report.ok and "'synthetic'" in report.reason()
    spec = hf_spec(tmp_path, folder, ["real", "fake"], "hf-all")
    with pytest.raises(SpecError) as exc:
        build_detector(load_spec(spec))
    one_line(exc, spec, "every label")
    with pytest.raises(SpecError) as exc:
        load_spec(hf_spec(tmp_path, folder, [], "hf-none"))
    one_line(exc, tmp_path / "hf-none.yaml", "options.fake_labels")


def test_hf_classifier_offline_hub_id_says_where_to_point_the_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = hf_spec(tmp_path, "nobody-has/this-detector", ["fake"], "hf-hub")
    with pytest.raises(CheckpointError) as exc:
        build_detector(load_spec(spec))
    one_line(exc, spec, "hub id 'nobody-has/this-detector'", "`weights.model: /path/to/local/copy`")


# --- onnx ------------------------------------------------------------------------------------------
class SmallCNN(nn.Module):
    def __init__(self, classes: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                 nn.Linear(24, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NHWCBGR255(nn.Module):
    """The same CNN behind another convention: NHWC, BGR, pixels in 0-255 normalised by BGR mean/std."""

    def __init__(self, cnn: nn.Module) -> None:
        super().__init__()
        self.cnn = cnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(x.permute(0, 3, 1, 2))


def export(module: nn.Module, path: Path, shape: tuple[int, ...]) -> Path:
    torch.onnx.export(module.eval(), (torch.zeros(*shape),), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


def onnx_spec(tmp_path: Path, model: Path, name: str = "onnx-cnn", **options) -> Path:
    return write_spec(tmp_path, {"name": name, "plugin": "onnx", "version": "1", "weights": {"model": str(model)},
                                 "options": options})


def test_onnx_logit_model_scores_as_the_torch_module_it_was_exported_from(tmp_path):
    cnn = SmallCNN()
    model = export(cnn, tmp_path / "cnn.onnx", (1, 3, 32, 32))
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    det = build_detector(load_spec(onnx_spec(tmp_path, model, resize=36, crop=32, mean=mean, std=std)))
    pre = Preprocessing(resize=36, crop=32, mean=tuple(mean), std=tuple(std))
    with torch.no_grad():
        expected = torch.sigmoid(cnn(torch.stack([pre.apply(i) for i in IMAGES]))[:, 0]).double().numpy()
    np.testing.assert_allclose(det.score(IMAGES, batch_size=2), expected, atol=1e-5)
    low = build_detector(load_spec(onnx_spec(tmp_path, model, "onnx-bf16", resize=36, crop=32, mean=mean, std=std)),
                         dtype=torch.bfloat16)
    assert low.dtype_name == "float32"  # the model's input type is the precision it scores in, and rows say so
    assert det.crop_box_for_mask(np.ones((40, 48), bool)) is not None  # a declared crop moves to the edit


def test_onnx_nhwc_bgr_0_255_softmax_model(tmp_path):
    cnn = SmallCNN(classes=3)
    model = export(NHWCBGR255(cnn), tmp_path / "nhwc.onnx", (1, 32, 32, 3))
    mean_bgr, std_bgr = [104.0, 117.0, 124.0], [57.0, 57.0, 58.0]
    det = build_detector(load_spec(onnx_spec(tmp_path, model, resize=[32, 32], mean=mean_bgr, std=std_bgr,
                                             value_range="0-255", channels="BGR", layout="NHWC", output="softmax",
                                             fake_index=2)))
    raw = torch.stack([torch.from_numpy(np.asarray(i.convert("RGB").resize((32, 32), Image.BILINEAR),
                                                   dtype=np.float32)) for i in IMAGES])  # N, H, W, RGB 0-255
    bgr = (raw.flip(-1) - torch.tensor(mean_bgr)) / torch.tensor(std_bgr)
    with torch.no_grad():
        expected = torch.softmax(cnn(bgr.permute(0, 3, 1, 2)), dim=1)[:, 2].double().numpy()
    # torchvision's resize of a PIL image is PIL's: the same pixels; tolerance for float rounding only.
    np.testing.assert_allclose(det.score(IMAGES), expected, atol=1e-4)


def test_onnx_input_that_does_not_match_the_spec_is_a_one_line_error(tmp_path):
    model = export(SmallCNN(), tmp_path / "cnn.onnx", (1, 3, 32, 32))
    model_fixed = tmp_path / "fixed.onnx"
    torch.onnx.export(SmallCNN().eval(), (torch.zeros(1, 3, 32, 32),), str(model_fixed), dynamo=False)
    for name, options, words in [
        ("onnx-size", {"crop": 64}, ["[N, 3, 64, 64]", "['n', 3, 32, 32]"]),
        ("onnx-layout", {"crop": 32, "layout": "NHWC"}, ["NHWC"]),
        ("onnx-free", {"resize": 48}, ["set crop or resize"]),
        ("onnx-classes", {"crop": 32, "output": "softmax", "fake_index": 1}, ["fake_index=1"]),
    ]:
        spec = onnx_spec(tmp_path, model, name, **options)
        with pytest.raises(SpecError) as exc:
            build_detector(load_spec(spec))
        one_line(exc, spec, *words)
    # A model exported with a fixed batch of one still scores batches (one image at a time).
    det = build_detector(load_spec(onnx_spec(tmp_path, model_fixed, "onnx-batch1", crop=32)))
    assert det.fixed_batch == 1 and det.score(IMAGES, batch_size=4).shape == (5,)
    with pytest.raises(SpecError) as exc:
        load_spec(onnx_spec(tmp_path, model, "onnx-bad", crop=32, layout="CHW"))
    one_line(exc, tmp_path / "onnx-bad.yaml", "options.layout")


# --- command ---------------------------------------------------------------------------------------
SCRIPT = textwrap.dedent('''
    """P(fake) = mean pixel / 255. Width 41: an error answer; 42: a crash; 43: too slow; 44: garbage."""
    import json, os, sys, time
    import numpy as np
    from PIL import Image

    print("starting", file=sys.stderr, flush=True)
    print(json.dumps({"name": "mean-brightness", "version": "1", "protocol": 1}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        image = Image.open(req["path"])
        if image.width == 41:
            print(json.dumps({"id": req["id"], "error": "too narrow"}), flush=True)
        elif image.width == 42:
            print("segfault-ish", file=sys.stderr, flush=True)
            os._exit(3)
        elif image.width == 43:
            time.sleep(30)
        elif image.width == 44:
            print("loading weights 100%", flush=True)
        else:
            score = float(np.asarray(image.convert("RGB"), dtype=np.float64).mean() / 255)
            print(json.dumps({"id": req["id"], "score": score}), flush=True)
''')


def command_spec(tmp_path: Path, name: str = "cmd", script: str = SCRIPT, **options) -> Path:
    (tmp_path / f"{name}.py").write_text(script)
    return write_spec(tmp_path, {"name": name, "plugin": "command", "version": "1",
                                 "weights": {"program": f"{name}.py"},
                                 "options": {"command": ["{python}", "{program}"], **options}})


def sized(width: int, value: int = 100) -> Image.Image:
    return Image.fromarray(np.full((30, width, 3), value, dtype=np.uint8))


def test_command_scores_and_quarantines_one_image_at_a_time(tmp_path):
    det = build_detector(load_spec(command_spec(tmp_path, timeout_s=2, max_restarts=2)))
    images = [sized(50, 51), sized(41), sized(42), sized(50, 204), sized(43), IMAGES[0]]
    scores, failed = det.score_each(images)
    assert sorted(failed) == [1, 2, 4]
    assert "too narrow" in failed[1] and "code 3" in failed[2] and "segfault-ish" in failed[2]
    assert "timeout_s=2" in failed[4]
    expected = [51 / 255, 204 / 255, np.asarray(IMAGES[0]).mean() / 255]
    np.testing.assert_allclose(scores[[0, 3, 5]], expected, atol=1e-9)  # scored after each restart too
    assert np.isnan(scores[[1, 2, 4]]).all() and det.restarts == 2
    assert det.preprocessing_signature().endswith("|process=mean-brightness@1")  # the handshake keys the cache
    with pytest.raises(CheckpointError) as exc:  # a third crash is one too many
        det.score_each([sized(42)])
    one_line(exc, tmp_path / "cmd.yaml", "max_restarts=2", "code 3")


def test_command_that_prints_garbage_or_dies_at_start_is_a_one_line_error(tmp_path):
    spec = command_spec(tmp_path, "garbage")
    det = build_detector(load_spec(spec))
    with pytest.raises(CheckpointError) as exc:
        det.score([sized(44)])
    one_line(exc, spec, "'loading weights 100%'", "stderr")
    spec = command_spec(tmp_path, "dies", "import sys\nprint('no handshake', file=sys.stderr)\nsys.exit(2)\n")
    report = verify_spec(load_spec(spec))  # the sensor refuses it with that line
    assert not report.ok and "exited before its handshake" in report.reason() and str(spec) in report.reason()
    spec = command_spec(tmp_path, "chatty", "print('hello')\n")
    with pytest.raises(CheckpointError) as exc:
        build_detector(load_spec(spec))
    one_line(exc, spec, "'hello'")
    spec = command_spec(tmp_path, "answers", "import json\nprint(json.dumps({'name': 'x', 'version': 1}), "
                        "flush=True)\nimport sys\nfor l in sys.stdin:\n    print(json.dumps({'id': json.loads(l)"
                        "['id'], 'score': 7}), flush=True)\n")
    with pytest.raises(CheckpointError) as exc:
        build_detector(load_spec(spec)).score([sized(50)])
    one_line(exc, spec, "P(fake) in [0, 1]")
    with pytest.raises(SpecError) as exc:
        load_spec(write_spec(tmp_path, {"name": "noargv", "plugin": "command", "version": "1", "weights": {},
                                        "options": {}}))
    one_line(exc, tmp_path / "noargv.yaml", "options.command")


def test_command_process_ends_with_its_detector(tmp_path):
    det = build_detector(load_spec(command_spec(tmp_path)), dtype=torch.bfloat16)
    assert det.dtype_name == "float32"  # the process keeps its own precision; keys do not follow the run's
    popen = det.model["process"].popen
    assert popen.poll() is None
    del det
    gc.collect()
    assert popen.wait(timeout=10) is not None
