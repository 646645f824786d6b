"""A snapshot of the code location: asset keys, their upstream assets, partitioning, checks, jobs,
sensors, schedules and the demo's steps. It fails when the graph changes; if the change is intended,
update SNAPSHOT in the same commit (the diff then documents the new graph)."""

from __future__ import annotations

from dagster import Definitions

from assets.graph import steps
from semitruths_dagster.definitions import STAGE_ASSETS, defs

SNAPSHOT = {
    "assets": {
        "source_images": {"deps": [], "over": ["dataset"],
                          "checks": ["files_in_store", "mostly_accepted", "unique_image_ids"]},
        "released_edits": {"deps": [], "over": ["dataset"],
                           "checks": ["cells_readable", "files_in_store", "unique_generation_ids"]},
        "segments": {"deps": ["source_images"], "over": ["dataset"], "checks": []},
        "masks": {"deps": ["segments", "source_images"], "over": ["dataset"],
                  "checks": ["area_ratio_in_range", "declared_ratio_agrees", "eligible_meet_min_area",
                             "files_in_store"]},
        "perturbed_prompts": {"deps": ["masks", "source_images"], "over": ["dataset"],
                              "checks": ["every_magnitude_valid", "unique_request_ids",
                                         "valid_rows_pass_validation"]},
        "prompt_filters": {"deps": ["perturbed_prompts"], "over": [], "checks": []},
        "generations": {"deps": ["masks", "perturbed_prompts", "prompt_filters", "source_images"],
                        "over": ["dataset", "generator"], "checks": []},
        "controls": {"deps": ["generations", "masks", "source_images"], "over": ["dataset", "generator"],
                     "checks": []},
        "saliency_scores": {"deps": ["generations", "source_images"], "over": ["dataset", "generator"],
                            "checks": []},
        "saliency_labels": {"deps": ["saliency_scores"], "over": [], "checks": ["every_edit_labelled"]},
        "change_metrics": {"deps": ["generations", "masks", "perturbed_prompts", "source_images"],
                           "over": ["dataset", "generator"],
                           "checks": ["every_edit_measured", "no_silent_nan", "values_in_range"]},
        "bins": {"deps": ["change_metrics", "masks"], "over": [], "checks": ["every_edit_binned", "monotone_cutoffs"]},
        "detector_predictions": {"deps": ["change_metrics", "controls", "generations", "masks", "released_edits",
                                          "saliency_labels", "source_images"], "over": ["dataset", "detector"],
                                 "checks": []},
        "evaluation": {"deps": ["bins", "detector_predictions", "released_edits"], "over": ["detector"],
                       "checks": []},
        "leaderboard": {"deps": ["evaluation", "localization_evaluation"], "over": [], "checks": []},
        "localization_predictions": {"deps": ["change_metrics", "controls", "generations", "masks",
                                              "released_edits", "saliency_labels", "source_images"],
                                     "over": ["dataset", "detector"], "checks": []},
        "localization_evaluation": {"deps": ["bins", "change_metrics", "evaluation", "localization_predictions",
                                             "released_edits"], "over": ["detector"], "checks": []},
    },
    "jobs": ["backfill_dataset", "cross_dataset", "dataset_detector_pipeline", "dataset_generator_pipeline", "dataset_pipeline",
             "detector_pipeline"],
    "sensors": ["detector_registry", "evaluation_automation", "localization_automation"],
    "schedules": ["detector_reevaluation"],
    "resources": ["gpu", "models", "project"],
    "demo_steps": [
        (["released_edits", "source_images", "segments", "masks", "perturbed_prompts"], ["dataset"]),
        (["prompt_filters"], []),
        (["generations", "change_metrics", "controls", "saliency_scores"], ["dataset", "generator"]),
        (["bins", "saliency_labels"], []),
        (["detector_predictions", "localization_predictions"], ["dataset", "detector"]),
        (["evaluation", "localization_evaluation"], ["detector"]),
        (["leaderboard"], []),
    ],
}


def snapshot() -> dict:
    from assets.partitions import dimensions

    graph = {}
    for a in STAGE_ASSETS:
        for key in a.keys:
            graph[key.to_user_string()] = {
                "deps": sorted(d.to_user_string() for d in a.asset_deps[key]),
                "over": list(dimensions(a.partitions_def)),
                "checks": sorted(c.name for c in a.check_keys if c.asset_key == key),
            }
    return {
        "assets": graph,
        "jobs": sorted(j.name for j in defs.jobs or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "resources": sorted(defs.resources or {}),
        "demo_steps": [(names, list(scope)) for names, scope in steps(STAGE_ASSETS)],
    }


def test_definitions_match_the_snapshot():
    current = snapshot()
    for part in SNAPSHOT:
        assert current[part] == SNAPSHOT[part], f"the code location's {part} changed"


def test_definitions_load():
    Definitions.validate_loadable(defs)  # every dependency, partition mapping and resource resolves


def test_each_stage_module_owns_its_definitions():
    import semitruths_dagster.definitions as code_location

    owned = [a.key for stage in code_location.STAGES for a in stage.defs.assets]
    assert len(owned) == len(set(owned)) == len(SNAPSHOT["assets"])  # each asset in exactly one stage
