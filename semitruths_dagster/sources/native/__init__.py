"""Adapters for the benchmarks' own formats, one module each (registered in `sources.adapters.SOURCE_ADAPTERS`).

Each reads the benchmark's files as its authors distribute them and yields one ImageEntry per image with
one MaskEntry per instance (or per class, where the benchmark labels classes only): a binary mask file,
or one label's pixels of a label map (`MaskEntry.select`), so nothing is converted or written. `common.py`
holds what they share. NATIVE_FORMATS says what each benchmark holds (paper A.1).
"""

NATIVE_FORMATS: dict[str, str] = {
    "ade20k": "ADE20K: JPEG images with *_seg.png class/instance maps encoded in the R/G/B channels",
    "cityscapes": "CityScapes: leftImg8bit PNGs with gtFine *_instanceIds.png and *_polygons.json",
    "celebamask_hq": "CelebAMask-HQ: 1024px JPEGs with one 512px PNG per facial part (19 classes)",
    "lip": "LIP (HumanParsing): JPEG images with PNG label maps of 20 human-part classes",
    "openimages": "OpenImages V4+ segmentation: per-instance PNG masks listed in a segmentation csv",
    "sunrgbd": "SUN RGB-D: RGB frames with seg.mat label maps and per-frame class names",
}
