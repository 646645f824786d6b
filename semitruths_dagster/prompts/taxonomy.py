"""The semantic-change taxonomy of the paper (Table 2): small, medium, large."""

from __future__ import annotations

MAGNITUDES = ("small", "medium", "large")

# Wording of the original pipeline's LLaVA context (spelling fixed), which is the paper's Table 2.
DEFINITIONS: dict[str, str] = {
    "small": (
        "Would not significantly alter the overall meaning or interpretation of the image. Changes to "
        "lighting, an object's color, adding or removing a minor detail, and minor alterations to the "
        "background are considered small semantic changes."
    ),
    "medium": (
        "Could slightly alter the way the viewer perceives the image and its subject matter. Changes to "
        "attributes of the subject or objects in the foreground, the orientation of an object or person, "
        "the emotions of the people in the frame, and noticeable alterations to background elements are "
        "considered medium semantic changes."
    ),
    "large": (
        "Involves substantial modifications that fundamentally transform the interpretation or message "
        "conveyed by the image. It may even appear surprising or strange to an audience. Changes that "
        "alter, add or remove key elements of the image, such as people, objects, and landmarks, replace "
        "the subject of the image, and dramatic alteration to the color scheme or mood are considered "
        "large semantic changes."
    ),
}


def check_magnitude(magnitude: str) -> str:
    """Return the magnitude if it is one of small / medium / large, else raise ValueError."""
    if magnitude not in DEFINITIONS:
        raise ValueError(f"unknown magnitude '{magnitude}' (use one of {', '.join(MAGNITUDES)})")
    return magnitude


def taxonomy_context() -> str:
    """The three definitions as the numbered context that precedes a perturbation request."""
    lines = [
        "Semantic change in images refers to alterations in meaning or interpretation. Here's how you might "
        "describe small, medium, and large semantic changes to an image:",
        "",
    ]
    for i, name in enumerate(MAGNITUDES, start=1):
        lines.append(f"{i}. {name.capitalize()} Semantic Change: {DEFINITIONS[name]}")
    return "\n".join(lines)
