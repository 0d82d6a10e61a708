"""Where the analyzer and the measurements meet (measure/ knows nothing of the op model).

Modules: kernels (the analyzer's ops for each measured case), calibration (the empirical
roofline fitted from a run's copies and GEMMs), profile (a run's datasheet and calibrated
profiles, and the calibrated one as hardware YAML), comparison (each measured kernel against its
predictions, as terms), groups (figures across rows: median errors, eager vs fused, generation).
"""
