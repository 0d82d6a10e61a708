"""Timing backends: numpy (CPU), torch (CPU and CUDA), CuPy (CUDA), each imported only when asked for."""

from __future__ import annotations

from rooflint.errors import BackendUnavailable
from rooflint.measure.backends.arrays import NumpyBackend
from rooflint.measure.backends.cupy_backend import CupyBackend
from rooflint.measure.backends.torch_backend import TorchBackend

BACKENDS = ("numpy", "torch", "cupy")
DEVICES = {"numpy": ("cpu",), "torch": ("cpu", "cuda"), "cupy": ("cuda",)}


def make_backend(name: str, device: str):
    """Build one backend, or raise BackendUnavailable with the one-line reason it cannot run."""
    if device not in DEVICES.get(name, ()):
        raise BackendUnavailable(f"{name} does not run on {device}")
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        return TorchBackend(device)
    if name == "cupy":
        return CupyBackend()
    raise BackendUnavailable(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")


def cuda_present() -> bool:
    """Whether torch or CuPy sees a CUDA device (imports them: measure only)."""
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    try:
        import cupy  # type: ignore[import-not-found]

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False
