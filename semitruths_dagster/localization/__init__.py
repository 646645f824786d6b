"""Pixel-level localization: per-pixel maps of where an image was edited, and their scores against the
edit masks (issue 26). Maps come from map-output detectors (`PRODUCES_MAPS`, their own `localize`) or,
for any image-level detector, from a sliding window (`maps.py`); they are stored quantized in the image
store (`storage.py`), matched with their ground truth (`truth.py`) and scored (`metrics.py`).

Heavy modules (torch through the detectors) are imported by the functions that need them; importing this
package or its settings imports no model library.
"""
