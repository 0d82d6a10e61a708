"""Kernels written once against the numpy array API, run by numpy (CPU) and CuPy (CUDA).

Eager only: numpy and CuPy have no fused attention. Softmax is the textbook sequence (max,
subtract, exp, sum, divide), several passes over the rows, which the comparison shows against
the analyzer's one-pass kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rooflint.measure.backends.base import (
    Prepared,
    checker,
    input_sets,
    input_shapes,
    output_shape,
    rotating,
    rotation_sets,
    set_elements,
)
from rooflint.measure.cases import Case
from rooflint.measure.environment import available_memory_bytes, cpu_cores

ARRAY_KERNELS = ("copy", "gemm", "qk", "softmax", "attention", "decode_attention")
PARALLEL_COPY_BYTES = 8 << 20  # copies this large are split over all cores (numpy copies on one); smaller ones would pay the pool more than they gain


def softmax_rows(xp, s, p) -> None:
    xp.subtract(s, s.max(axis=-1, keepdims=True), out=p)
    xp.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)


def kernel_call(xp, case: Case, inp: dict[str, Any], out, scratch: dict[str, Any],
                copy: Callable[[Any, Any], None] | None = None) -> Callable[[], None]:
    """One call of the case's kernel on one input set, writing `out`."""
    k = case.kernel
    if k == "copy":
        src = inp["src"]
        if copy is not None:
            return lambda: copy(out, src)
        return lambda: xp.copyto(out, src)
    if k == "gemm":
        a, b = inp["A"], inp["B"]
        return lambda: xp.matmul(a, b, out=out)
    if k == "qk":
        q, kt = inp["Q"], inp["K"].swapaxes(-1, -2)
        return lambda: xp.matmul(q, kt, out=out)
    if k == "softmax":
        s = inp["S"]
        return lambda: softmax_rows(xp, s, out)
    if case.variant != "eager":
        raise ValueError(f"{case.variant} is not an array-API kernel")
    q, kt, v = inp["Q"], inp["K"].swapaxes(-1, -2), inp["V"]
    s, p = scratch["S"], scratch["P"]

    def eager() -> None:  # three kernels, S and P through memory
        xp.matmul(q, kt, out=s)
        softmax_rows(xp, s, p)
        xp.matmul(p, v, out=out)
    return eager


class Arena:
    """One block of random numbers that input sets are views into, kept from case to case:
    filling a gigabyte costs more than timing most kernels. Kernels never write their inputs,
    so the values stay what they were drawn as."""

    def __init__(self, draw: Callable[[int, Any], Any]):
        self._draw, self._dtype, self._block = draw, None, None

    def get(self, count: int, dt) -> Any:
        if self._block is None or self._dtype != dt or len(self._block) < count:
            self._block = None  # free the old block before drawing the new one
            self._block, self._dtype = self._draw(count, dt), dt
        return self._block[:count]

    @property
    def nbytes(self) -> int:
        return 0 if self._block is None else int(self._block.nbytes)

    def clear(self) -> None:
        self._block = self._dtype = None


def scores_shape(case: Case) -> tuple[int, ...]:
    shapes = input_shapes(case)
    q, kv = shapes["Q"], shapes["K"]
    return (*q[:-1], kv[-2])


class ArrayBackend:
    """numpy or CuPy: `xp` is the module, `dtypes` maps rooflint dtype names to its dtypes."""

    def __init__(self, xp, name: str, device: str, dtypes: dict[str, Any], cores: int = 1):
        self.xp, self.name, self.device, self.dtypes, self.cores = xp, name, device, dtypes, cores
        self._pool = ThreadPoolExecutor(cores) if device == "cpu" and cores > 1 else None
        self.arena = Arena(self._random)

    def supports(self, case: Case) -> bool | str:
        if case.kernel not in ARRAY_KERNELS:
            return False
        if case.kernel in ("attention", "decode_attention") and case.variant != "eager":
            return False
        if case.dtype not in self.dtypes:
            return False
        return True

    def _random(self, count: int, dt) -> Any:
        raise NotImplementedError

    def _to64(self, a) -> Any:
        raise NotImplementedError

    def _copy(self) -> Callable[[Any, Any], None] | None:
        """numpy's copyto runs on one core; split large copies into one chunk per core (copyto
        releases the GIL), so that the copy uses the machine as torch's does."""
        if self._pool is None:
            return None
        xp, pool, cores = self.xp, self._pool, self.cores

        def copy(dst, src) -> None:
            if src.nbytes < PARALLEL_COPY_BYTES:
                xp.copyto(dst, src)
                return
            step = -(-src.size // cores)
            list(pool.map(lambda i: xp.copyto(dst[i:i + step], src[i:i + step]), range(0, src.size, step)))
        return copy

    def prepare(self, case: Case, rotation_bytes: float) -> Prepared:
        xp = self.xp
        dt = self.dtypes["fp32" if case.kernel == "copy" else case.dtype]
        sets = rotation_sets(case.footprint_bytes(), rotation_bytes)
        inputs = input_sets(case, self.arena.get(set_elements(case) * sets, dt), sets)  # one region per set
        outs = [xp.empty(output_shape(case), dtype=dt) for _ in range(sets)]
        for o in outs:  # touch every page now: a first-touch fault is not the kernel's time
            o.fill(0)
        scratch = {}
        if case.kernel in ("attention", "decode_attention"):
            scratch = {"S": xp.empty(scores_shape(case), dtype=dt), "P": xp.empty(scores_shape(case), dtype=dt)}
        calls = [kernel_call(xp, case, one, o, scratch, self._copy()) for one, o in zip(inputs, outs)]
        check = checker(case, calls[0], inputs[0], outs[0], lambda o: o.fill(float("nan")), self.synchronize, self._to64)
        return Prepared(rotating(calls), check, sets)

    def synchronize(self) -> None:
        pass

    def release(self) -> None:
        self.arena.clear()


class NumpyBackend(ArrayBackend):
    def __init__(self):
        import numpy

        super().__init__(numpy, "numpy", "cpu",
                         {"fp32": numpy.float32, "fp64": numpy.float64}, cores=cpu_cores())
        self._rng = numpy.random.default_rng()

    def _random(self, count: int, dt) -> Any:
        import numpy as np

        # A pool of normals tiled over the arena: fast, and never zeros.
        pool = self._rng.standard_normal(min(count, 1 << 22), dtype=np.float32).astype(dt)
        out = np.empty(count, dtype=dt)
        for at in range(0, count, pool.size):
            n = min(pool.size, count - at)
            out[at:at + n] = pool[:n]
        return out

    def _to64(self, a) -> Any:
        return self.xp.asarray(a, dtype=self.xp.float64)

    def environment(self) -> dict[str, Any]:
        import numpy as np

        blas = {}
        try:
            cfg = np.show_config(mode="dicts")
            dep = cfg.get("Build Dependencies", {}).get("blas", {})
            blas = {"name": dep.get("name"), "version": dep.get("version")}
        except Exception:  # older numpy: no dict mode
            pass
        threads = None
        try:
            from threadpoolctl import threadpool_info  # type: ignore[import-not-found]

            threads = max((p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"), default=None)
        except ImportError:
            pass
        return {"numpy": np.__version__, "blas": blas,
                "blas_threads": threads if threads is not None else "BLAS default (all cores unless *_NUM_THREADS is set)",
                "elementwise_threads": 1, "copy_threads": self.cores,
                "note": "numpy: matmul on its BLAS's threads; softmax single-threaded; copies split over all cores by rooflint"}

    def free_memory_bytes(self) -> int | None:
        return available_memory_bytes()

    def timer(self):
        return None

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, MemoryError)
