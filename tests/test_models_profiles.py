"""Model profiles resolve to the right refs; missing models fail fast with a message that helps."""

from pathlib import Path

import pytest

from semitruths_dagster.models import ModelRegistry, ModelUnavailableError, resolve_model


def test_paper_profile_resolves_to_the_papers_models():
    refs = {role: resolve_model(role, "paper") for role in ("vlm", "captioner", "llm", "clip", "sentence")}
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
    tiny = resolve_model("vlm", "tiny", tiny_root=tmp_path)
    assert tiny.source == "tiny" and Path(tiny.ref).parent == tmp_path
    local = resolve_model("vlm", "paper", {"vlm": str(tmp_path)})
    assert local.source == "local" and local.ref == str(tmp_path.resolve())
    hub = resolve_model("llm", "tiny", {"llm": "mistralai/Mistral-7B-Instruct-v0.2@abc123"}, tmp_path)
    assert (hub.source, hub.ref, hub.revision) == ("hub", "mistralai/Mistral-7B-Instruct-v0.2", "abc123")
    with pytest.raises(ValueError, match="unknown model role"):
        resolve_model("painter", "paper")
    with pytest.raises(ValueError, match="unknown model profile"):
        resolve_model("vlm", "huge")
    with pytest.raises(ValueError, match="tiny_root"):
        resolve_model("vlm", "tiny")


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
