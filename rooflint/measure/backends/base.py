"""The interface every backend implements, and what backends share: input rotation, result
checks against a float64 reference, tolerances per dtype.

A backend turns a Case into a Prepared kernel: `run` performs one call on the next input set,
`check` runs once on poisoned (NaN) outputs and returns the result's relative error against a
float64 reference computed with numpy on a slice of the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rooflint.measure.cases import Case
from rooflint.measure.timing import DeviceTimer

# Largest relative error (Frobenius norm of the difference / of the reference) a correct kernel
# shows: a few units of the format's rounding, grown by the sqrt of the accumulation length.
TOLERANCE = {"fp64": 1e-10, "fp32": 1e-4, "tf32": 5e-3, "fp16": 5e-3, "bf16": 3e-2}
ROTATION_CAP = 256  # input sets at most (small kernels): each a distinct region of memory
CHECK_ROWS = 64  # rows of a result compared with the reference
CHECK_COLS = 512  # and columns, where a row is a matmul's


@dataclass
class Prepared:
    run: Callable[[], None]
    check: Callable[[], float]
    sets: int = 1
    extra: dict[str, float] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None  # undoes global flags the kernel needed (TF32, SDPA backend)
    graphs: bool = True  # False: time with launches included (generation is launch-bound by nature)


class Backend(Protocol):
    name: str  # numpy | torch | cupy
    device: str  # cpu | cuda

    def environment(self) -> dict[str, Any]: ...

    def supports(self, case: Case) -> bool | str:
        """True; False (not this backend's kind of kernel, silently left out); or the reason a
        kernel it would run cannot run here (reported as a skip)."""

    def free_memory_bytes(self) -> int | None: ...

    def prepare(self, case: Case, rotation_bytes: float) -> Prepared: ...

    def timer(self) -> DeviceTimer | None:
        """A device timer on a GPU; None on a CPU (host clock)."""

    def is_out_of_memory(self, exc: BaseException) -> bool: ...

    def release(self) -> None:
        """Free cached allocations between cases."""


def rotation_sets(set_bytes: float, target_bytes: float, cap: int = ROTATION_CAP) -> int:
    """Input sets to rotate through so that together they span target_bytes (twice the last-level
    cache on a CPU): each call then reads memory the previous calls have not left in cache."""
    if set_bytes <= 0 or target_bytes <= set_bytes:
        return 1
    return max(1, min(cap, math.ceil(target_bytes / set_bytes)))


def rel_error(got, want) -> float:
    """||got - want|| / ||want|| over float64 numpy arrays; inf when got holds NaN (a kernel
    that left the poisoned output unwritten)."""
    import numpy as np

    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return math.inf
    norm = float(np.linalg.norm(want))
    return float(np.linalg.norm(got - want)) / norm if norm else float(np.linalg.norm(got))


def softmax64(s):
    import numpy as np

    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference(case: Case, inputs: dict[str, Any], to64: Callable[[Any], Any]):
    """The float64 result on a slice of the output (see result_slice), computed by numpy from the
    matching slices of the inputs; to64 turns a backend's array slice into a float64 numpy array."""
    k, r = case.kernel, CHECK_ROWS
    if k == "copy":
        return to64(inputs["src"][::_copy_stride(case)])
    if k == "gemm":
        return to64(inputs["A"][:r]) @ to64(inputs["B"][:, :CHECK_COLS])
    if k == "qk":
        return to64(inputs["Q"][0, :r]) @ to64(inputs["K"][0, :CHECK_COLS]).T
    if k == "softmax":
        return softmax64(to64(inputs["S"][:r]))
    if k == "attention":  # batch 0, head 0, first rows (no 1/sqrt(d): it folds into Q's projection)
        q, kk, v = (to64(inputs[n][0, 0]) for n in "QKV")
        return softmax64(q[:r] @ kk.T) @ v
    if k == "decode_attention":  # batch 0, KV head 0 and its query heads
        q, kk, v = (to64(inputs[n][0, 0]) for n in "QKV")
        return softmax64(q @ kk.T) @ v
    raise ValueError(k)


def result_slice(case: Case, out):
    """The part of a kernel's output that reference() computes (any backend's array)."""
    k, r = case.kernel, CHECK_ROWS
    if k == "copy":
        return out[::_copy_stride(case)]
    if k == "gemm":
        return out[:r, :CHECK_COLS]
    if k == "qk":
        return out[0, :r, :CHECK_COLS]
    if k == "softmax":
        return out[:r]
    if k == "attention":
        return out[0, 0, :r]
    if k == "decode_attention":
        return out[0, 0]
    raise ValueError(k)


def _copy_stride(case: Case) -> int:
    """Compare about a million elements of a copy, spread over all of it."""
    return max(1, case.params["n"] // 4 // (1 << 20))


def input_shapes(case: Case) -> dict[str, tuple[int, ...]]:
    """The arrays one input set holds (element counts in the case's dtype; copy moves fp32)."""
    p = case.params
    k = case.kernel
    if k == "copy":
        return {"src": (p["n"] // 4,)}
    if k == "gemm":
        return {"A": (p["M"], p["K"]), "B": (p["K"], p["N"])}
    if k == "qk":
        return {"Q": (p["G"], p["N"], p["d"]), "K": (p["G"], p["N"], p["d"])}
    if k == "softmax":
        return {"S": (p["R"], p["N"])}
    if k == "attention":
        shape = (p["B"], p["H"], p["N"], p["d"])
        return {"Q": shape, "K": shape, "V": shape}
    if k == "decode_attention":
        g = p["H_q"] // p["H_kv"]
        kv = (p["B"], p["H_kv"], p["C"], p["d"])
        return {"Q": (p["B"], p["H_kv"], g, p["d"]), "K": kv, "V": kv}
    raise ValueError(k)


def output_shape(case: Case) -> tuple[int, ...]:
    p, shapes = case.params, input_shapes(case)
    k = case.kernel
    if k == "copy":
        return shapes["src"]
    if k == "gemm":
        return (p["M"], p["N"])
    if k == "qk":
        return (p["G"], p["N"], p["N"])
    if k == "softmax":
        return shapes["S"]
    return shapes["Q"]  # attention, decode attention: O has Q's shape


def elements(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def input_sets(case: Case, block: Any, sets: int) -> list[dict[str, Any]]:
    """`sets` input sets as views into one flat random block (numpy, torch and CuPy alike)."""
    shapes = input_shapes(case)
    out, at = [], 0
    for _ in range(sets):
        one = {}
        for name, shape in shapes.items():
            one[name] = block[at:at + elements(shape)].reshape(shape)
            at += elements(shape)
        out.append(one)
    return out


def set_elements(case: Case) -> int:
    return sum(elements(s) for s in input_shapes(case).values())


def rotating(calls: list[Callable[[], None]]) -> Callable[[], None]:
    """One call per invocation, each on the next input set."""
    state = {"i": 0}

    def run() -> None:
        i = state["i"]
        calls[i]()
        state["i"] = (i + 1) % len(calls)
    return run


def checker(case: Case, call: Callable[[], None], inputs: dict[str, Any], out, poison: Callable[[Any], None],
            synchronize: Callable[[], None], to64: Callable[[Any], Any]) -> Callable[[], float]:
    """Poison the output with NaN, run once, compare with the float64 reference."""
    def check() -> float:
        poison(out)
        call()
        synchronize()
        return rel_error(to64(result_slice(case, out)), reference(case, inputs, to64))
    return check
