"""Weight digests, golden outputs, conversion to safetensors, and every kind of bad input: each refused with a
one-line error naming the spec, the file and the rule, while the other detectors go on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors import (  # noqa: E402
    CheckpointError,
    GoldenError,
    SpecError,
    add_spec,
    build_detector,
    load_spec,
    random_spec,
    validate_spec,
    verify_spec,
    weights_digest,
)
from semitruths_dagster.detectors.convert import convert_spec  # noqa: E402
from semitruths_dagster.detectors.registry_review import read_cursor, review_registry  # noqa: E402


def _image(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (256, 256, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def npr(tmp_path_factory):
    return random_spec("npr", tmp_path_factory.mktemp("npr"))


def _spec(base, folder=None, **changes):
    return validate_spec(base.to_dict() | changes, source=(folder / "spec.yaml") if folder else "<test>",
                         base_dir=folder)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_digest_mismatch_names_expected_and_actual(npr):
    actual = weights_digest(npr.weights["model"])
    build_detector(_spec(npr, sha256={"model": actual}))
    with pytest.raises(CheckpointError) as exc:
        build_detector(_spec(npr, sha256={"model": "0" * 64}))
    text = _one_line(exc)
    assert "weights.model" in text and "rule sha256.model" in text
    assert f"expected {'0' * 64}, actual {actual}" in text


def test_digest_of_a_folder_changes_with_any_file(tmp_path):
    spec = random_spec("universal_fake_detect", tmp_path)
    folder = spec.weights["backbone"]
    before = weights_digest(folder)
    build_detector(_spec(spec, sha256={"backbone": before, "head": weights_digest(spec.weights["head"])}))
    (tmp_path / "backbone" / "open_clip_config.json").write_text("{}")
    assert weights_digest(folder) != before


def test_spec_rules_for_digests_and_golden(npr):
    with pytest.raises(SpecError, match="key 'sha256.model': 'abc' is not 64 hex digits"):
        _spec(npr, sha256={"model": "abc"})
    with pytest.raises(SpecError, match="key 'sha256.head': no weight role 'head'"):
        _spec(npr, sha256={"head": "0" * 64})
    with pytest.raises(SpecError, match=r"key 'golden\[0\].image': must not contain '\.\.'"):
        _spec(npr, golden=[{"image": "../x.png", "p_fake": 0.5, "tolerance": 0.1}])
    with pytest.raises(SpecError, match=r"key 'golden\[0\]': needs exactly image, p_fake, tolerance"):
        _spec(npr, golden=[{"image": "x.png", "p_fake": 0.5}])


def test_golden_pass_and_fail_with_numbers(npr, tmp_path):
    _image(3).save(tmp_path / "golden.png")
    score = float(build_detector(npr).score([_image(3)], batch_size=1)[0])
    good = _spec(npr, tmp_path, golden=[{"image": "golden.png", "p_fake": score, "tolerance": 1e-5}])
    report = verify_spec(good)
    assert report.ok, report.lines
    assert any(line.startswith("pass golden golden.png") for line in report.lines)
    bad = _spec(npr, tmp_path, golden=[{"image": "golden.png", "p_fake": min(1.0, score + 0.2), "tolerance": 0.01}])
    report = verify_spec(bad)
    assert not report.ok
    assert f"P(fake) {score:.4f}, expected {min(1.0, score + 0.2):.4f} +- 0.01" in report.reason()
    assert "rule golden" in report.reason()


def test_missing_golden_image_is_refused(npr, tmp_path):
    spec = _spec(npr, tmp_path, golden=[{"image": "nowhere.png", "p_fake": 0.5, "tolerance": 0.1}])
    from semitruths_dagster.detectors.verify import golden_results

    with pytest.raises(GoldenError) as exc:
        golden_results(build_detector(spec))
    text = _one_line(exc)
    assert "golden[0].image" in text and "nowhere.png" in text and "rule golden_image_exists" in text
    assert str(tmp_path / "spec.yaml") in text
    assert not verify_spec(spec).ok


def test_truncated_file_and_extra_keys_and_pickle(npr, tmp_path):
    data = Path(npr.weights["model"]).read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        build_detector(_spec(npr, tmp_path, weights={"model": "cut.pth"}))
    text = _one_line(exc)
    assert "cut.pth is not a readable" in text and "weights.model" in text and "spec.yaml" in text
    state = torch.load(npr.weights["model"], weights_only=True)
    torch.save(state | {"extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"1 unexpected keys \(e\.g\. \['extra\.weight'\]\)") as exc:
        build_detector(_spec(npr, tmp_path, weights={"model": "extra.pth"}))
    _one_line(exc)
    torch.save(torch.nn.Linear(2, 1), tmp_path / "module.pth")  # a pickled module, not a state dict
    with pytest.raises(CheckpointError, match="weights_only=True.*allow_pickle: true") as exc:
        build_detector(_spec(npr, tmp_path, weights={"model": "module.pth"}))
    _one_line(exc)
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(CheckpointError, match="cut.safetensors is not a readable"):
        build_detector(_spec(npr, tmp_path, weights={"model": "cut.safetensors"}))


def test_registry_review_refuses_bad_specs_and_accepts_the_rest(npr, tmp_path):
    registry = tmp_path / "registry"
    add_spec(registry, npr)
    data = Path(npr.weights["model"]).read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:1000])
    add_spec(registry, npr.to_dict() | {"name": "truncated", "weights": {"model": str(tmp_path / "cut.pth")}})
    add_spec(registry, npr.to_dict() | {"name": "wrong-digest", "sha256": {"model": "1" * 64}})
    safe = random_spec("safe", tmp_path / "safe")
    add_spec(registry, npr.to_dict() | {"name": "other-detector", "weights": safe.weights})  # SAFE's file to NPR
    (registry / "broken.yaml").write_text("name: broken\nplugin: npr\n")  # no version, no weights
    review = review_registry(registry, {}, {})
    assert review.accepted == ["npr-random"]
    reasons = {os.path.basename(p): r for p, r in review.refused.items()}
    assert set(reasons) == {"truncated.yaml", "wrong-digest.yaml", "other-detector.yaml", "broken.yaml"}
    assert "cut.pth is not a readable" in reasons["truncated.yaml"]
    assert "rule sha256.model: expected 1111" in reasons["wrong-digest.yaml"]
    assert "checkpoint-best.pth is not a state dict of tensors" in reasons["other-detector.yaml"]
    assert "key 'version': missing" in reasons["broken.yaml"]
    assert all("\n" not in r for r in reasons.values())
    # Next tick: nothing new, the refused stay refused (reasons still shown), nothing is verified again.
    seen, refused = read_cursor(review.cursor())
    assert read_cursor(None, registry, {"npr-random"}) == ({"npr-random": review.seen["npr-random"]}, {})
    again = review_registry(registry, seen, refused, verify=lambda spec: pytest.fail("verified twice"))
    assert again.accepted == [] and set(again.refused) == set(review.refused)
    assert "4 refused" in again.skip_reason(registry)
    # Fixing a file re-verifies only it.
    add_spec(registry, npr.to_dict() | {"name": "wrong-digest", "sha256": {"model": weights_digest(npr.weights["model"])}},
             overwrite=True)
    fixed = review_registry(registry, seen, refused)
    assert fixed.accepted == ["wrong-digest"] and len(fixed.refused) == 3


def test_convert_writes_safetensors_with_digests_and_same_scores(tmp_path):
    spec = random_spec("cnnspot", tmp_path / "w")
    ckpt = torch.load(spec.weights["model"], weights_only=True)
    wrapped = tmp_path / "dp.pth"  # the wrapped, DataParallel-prefixed layout
    torch.save({"model": {f"module.{k}": v for k, v in ckpt["model"].items()}, "total_steps": 7}, wrapped)
    original = _spec(spec, weights={"model": str(wrapped)})
    path, data = convert_spec(original, tmp_path / "out")
    assert data["sha256"]["model"] == weights_digest(data["weights"]["model"])
    state = load_file(data["weights"]["model"])
    assert set(state) == set(ckpt["model"]) and data["allow_pickle"] is False  # normalised keys
    converted = load_spec(path)
    assert converted.weights["model"].endswith(".safetensors") and yaml.safe_load(path.read_text())["sha256"]
    np.testing.assert_allclose(build_detector(converted).score([_image()]), build_detector(original).score([_image()]))


def test_convert_refuses_pickled_modules(tmp_path):
    spec = random_spec("defake", tmp_path / "w")
    with pytest.raises(ValueError, match="pickled whole module"):
        convert_spec(spec, tmp_path / "out")


def test_cli_verify_prints_pass_fail(npr, tmp_path, capsys):
    from semitruths_dagster.cli import main
    from semitruths_dagster.config import load_config
    from semitruths_dagster.detectors.stage import DetectorParams

    config = load_config()
    registry = config.params("detectors", DetectorParams).registry_dir(config.path.parent)
    shutil.rmtree(registry, ignore_errors=True)
    try:
        add_spec(registry, npr.to_dict() | {"sha256": {"model": weights_digest(npr.weights["model"])}})
        add_spec(registry, npr.to_dict() | {"name": "bad-digest", "sha256": {"model": "2" * 64}})
        with pytest.raises(SystemExit) as code:
            main(["detector", "verify", "npr-random"])
        assert code.value.code == 0
        out = capsys.readouterr().out
        assert "pass sha256.model" in out and "PASS detector 'npr-random'" in out
        with pytest.raises(SystemExit) as code:
            main(["detector", "verify", "bad-digest"])
        assert code.value.code == 1 and "FAIL detector 'bad-digest'" in capsys.readouterr().out
        with pytest.raises(SystemExit) as code:
            main(["detector", "convert", "npr-random", "--out", str(tmp_path / "conv")])
        assert code.value.code == 0
        out = capsys.readouterr().out
        assert "npr-random-safetensors.yaml" in out
        assert load_spec(tmp_path / "conv" / "npr-random-safetensors" / "npr-random-safetensors.yaml").sha256
    finally:
        shutil.rmtree(registry, ignore_errors=True)
