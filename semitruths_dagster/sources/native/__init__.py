"""Adapters for the benchmarks' own formats go here, one module each.

Each module holds a `SourceAdapter` subclass and is
registered in `semitruths_dagster.sources.adapters.SOURCE_ADAPTERS`. It yields one ImageEntry per image with one
MaskEntry per instance mask (paths relative to the listing's root; masks may be written to
`storage_root / "sources" / <name>` when the benchmark stores label maps instead of binary masks).
Until an adapter exists, convert the benchmark to the standardized layout (metadata.csv + images +
masks), which is how the released Semi-Truths data ships.

What each benchmark holds (paper A.1), for whoever writes its adapter:
"""

NATIVE_FORMATS: dict[str, str] = {
    "ade20k": "ADE20K: JPEG images with *_seg.png class/instance maps encoded in the R/G/B channels",
    "cityscapes": "CityScapes: leftImg8bit PNGs with gtFine *_instanceIds.png and *_polygons.json",
    "celebamask_hq": "CelebAMask-HQ: 1024px JPEGs with one 512px PNG per facial part (19 classes)",
    "lip": "LIP (HumanParsing): JPEG images with PNG label maps of 20 human-part classes",
    "openimages": "OpenImages V4+ segmentation: per-instance PNG masks listed in a segmentation csv",
    "sunrgbd": "SUN RGB-D: RGB frames with seg.mat label maps and per-frame class names",
}
