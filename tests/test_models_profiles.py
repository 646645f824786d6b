"""Model profiles resolve to the right refs; missing models fail fast with a message that helps."""

from pathlib import Path

import pytest

from semitruths_dagster.hub import ModelSource
from semitruths_dagster.models import ModelRegistry, ModelUnavailableError, resolve_model


def test_paper_profile_resolves_to_the_papers_models():
    paper = ModelSource("paper")
    refs = {role: resolve_model(role, paper) for role in ("vlm", "captioner", "llm", "clip", "sentence")}
    assert refs["vlm"].ref == "llava-hf/llava-v1.6-mistral-7b-hf" and refs["vlm"].family == "llava_next"
    assert refs["captioner"].ref == "Salesforce/blip-image-captioning-large"
    assert refs["captioner"].family == "blip"
    assert refs["llm"].ref == "meta-llama/Llama-2-7b-chat-hf" and refs["llm"].family == "causal_lm"
    assert refs["clip"].ref == "open_clip:ViT-L-14/openai" and refs["clip"].family == "open_clip"
    assert all(refs[r].is_hub for r in ("vlm", "captioner", "llm", "clip"))
    # The sentence encoder is the packaged real all-MiniLM-L6-v2, in every profile.
    assert refs["sentence"].source == "package"
    assert refs["sentence"].hub_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert (Path(refs["sentence"].ref) / "model.safetensors").is_file()


def test_tiny_profile_and_overrides(tmp_path):
    tiny = resolve_model("vlm", ModelSource("tiny", tiny_root=tmp_path))
    assert tiny.source == "tiny" and Path(tiny.ref).parent == tmp_path
    local = resolve_model("vlm", ModelSource("paper", {"vlm": str(tmp_path)}))
    assert local.source == "local" and local.ref == str(tmp_path.resolve())
    hub = resolve_model("llm", ModelSource("tiny", {"llm": "mistralai/Mistral-7B-Instruct-v0.2@abc123"}, tmp_path))
    assert (hub.source, hub.ref, hub.revision) == ("hub", "mistralai/Mistral-7B-Instruct-v0.2", "abc123")
    with pytest.raises(ValueError, match="unknown model role"):
        resolve_model("painter", ModelSource("paper"))
    with pytest.raises(ValueError, match="unknown model profile 'huge'"):
        ModelSource("huge")
    with pytest.raises(ValueError, match="tiny_root"):
        resolve_model("vlm", ModelSource("tiny"))


def test_missing_hub_model_fails_fast_naming_role_and_id(tmp_path):
    registry = ModelRegistry("paper", {"captioner": "semitruths-tests/no-such-model"})
    with pytest.raises(ModelUnavailableError) as err:
        registry.load("captioner")
    message = str(err.value)
    assert "captioner" in message and "semitruths-tests/no-such-model" in message
    assert "models.overrides.captioner" in message and "semitruths.yaml" in message


def test_missing_local_folder_fails_naming_role(tmp_path):
    registry = ModelRegistry("paper", {"vlm": str(tmp_path / "absent")})
    with pytest.raises(ModelUnavailableError, match="role 'vlm'.*absent"):
        registry.load("vlm")


def test_one_model_source_describes_roles_and_generators(tmp_path):
    """One `ModelSource` (profile, overrides, tiny root, device, dtype) goes to every loader; it is frozen
    and keeps its own copy of the overrides."""
    from dataclasses import FrozenInstanceError

    from semitruths_dagster.generation import resolve_generator

    overrides = {"sd15": str(tmp_path), "captioner": "org/captioner@v2"}
    source = ModelSource("tiny", overrides, tmp_path / "tiny", device="cpu", dtype="float16")
    overrides["sd15"] = "org/changed"
    assert resolve_generator("sd15", source).ref == str(tmp_path.resolve())
    assert resolve_generator("sd14", source).source == "tiny"
    assert (resolve_model("captioner", source).ref, resolve_model("captioner", source).revision) == ("org/captioner", "v2")
    registry = ModelRegistry.of(source)
    assert registry.source == source and (registry.device, registry.dtype) == ("cpu", "float16")
    assert registry.ref("vlm") == resolve_model("vlm", source)
    with pytest.raises(FrozenInstanceError):
        source.profile = "paper"  # type: ignore[misc]
    with pytest.raises(TypeError):
        source.overrides["sd14"] = "x"  # type: ignore[index]
