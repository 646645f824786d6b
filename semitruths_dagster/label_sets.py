"""The class lists of the panoptic label sets the segmenters are trained on, and which classes are stuff.

Facts from the label sets' definitions: ADE20K's 150 panoptic classes in their id order (first synonym of each
name), with the 50 ids the ADE20K panoptic benchmark counts as stuff (`isthing: 0` in Mask2Former's
ADE20K_150_CATEGORIES); COCO panoptic's 133 classes put the 80 things first, then the 53 stuff classes.
"""

from __future__ import annotations

from collections.abc import Mapping

ADE20K_150 = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "window", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "tub", "rail", "cushion",
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door",
    "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine",
    "hovel",
    "bus", "towel", "light", "truck", "tower", "chandelier", "awning", "street lamp", "booth", "tv",
    "plane", "dirt track", "clothes", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "pool",
    "stool", "barrel", "basket", "falls", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher",
    "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "trash can", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
ADE20K_150_STUFF = frozenset({
    0, 1, 2, 3, 4, 5, 6, 9, 11, 13, 16, 17, 21, 25, 26, 28, 29, 34, 40, 46, 48, 51, 52, 54, 59, 60, 61, 63, 68,
    77, 79, 84, 91, 94, 96, 99, 100, 101, 105, 106, 109, 113, 114, 117, 122, 128, 131, 140, 141, 145,
})
COCO_PANOPTIC_THINGS = 80  # of 133 classes: ids 0..79 are things, 80..132 stuff


def stuff_ids(id2label: Mapping[int, str], stuff_labels: tuple[str, ...] = ()) -> frozenset[int]:
    """The ids of a segmenter's stuff classes: those named in `stuff_labels` when given, else by its label set
    (ADE20K-150 or COCO panoptic, recognised by size and first class); an unknown set has no stuff."""
    if stuff_labels:
        wanted = {s.lower() for s in stuff_labels}
        return frozenset(i for i, name in id2label.items() if name.lower() in wanted)
    first = str(id2label.get(0, "")).lower()
    if len(id2label) == len(ADE20K_150) and first == "wall":
        return ADE20K_150_STUFF
    if len(id2label) == 133 and first == "person":
        return frozenset(range(COCO_PANOPTIC_THINGS, 133))
    return frozenset()
