"""Change metrics, saliency checks and binning (paper 3.1, 3.2, B.2, C.2, C.3).

Model-free parts live here: `pixel` (MSE, SSIM, post-edit surface-area change, localization), `saliency`
(similarities on precomputed embeddings and the pass/fail rules) and `bins` (dataset-wide cutoffs).
"""
