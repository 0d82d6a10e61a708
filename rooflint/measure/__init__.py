"""`rooflint measure`: time real kernels, fit the machine's empirical roofline, and compare the
analyzer's predictions with what the hardware did.

Modules: stats (robust statistics), timing (the sampling loop and device samplers), cases (what
is timed), backends (numpy, torch, CuPy; imported only when used), tiny_decoder (generation),
environment (what explains an odd number), runner (faults become skips), result (plain data).
Nothing here is imported by `import rooflint`.
"""
