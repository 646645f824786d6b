"""Masks: measured, filtered and preprocessed for inpainting (paper A.1); `stage.py` is the `masks` stage."""
