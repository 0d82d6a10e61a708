"""`rooflint measure`'s timing half: run real kernels and record what the hardware did.

Modules: stats (robust statistics), timing (the sampling loop and device samplers), cases (what
is timed: shapes and footprints), backends (numpy, torch, CuPy; imported only when used),
tiny_decoder (generation), environment (what explains an odd number), runner (faults become
skips), result (plain data), session (one run, or a recorded one loaded back).

measure/ knows shapes and timers, nothing of the op model: it imports units, dtypes, errors,
inputs (strict reading of a saved run), specs and itself. Predicting a case, calibrating the roofline and comparing are compare/'s.
Nothing here is imported by `import rooflint`.
"""
