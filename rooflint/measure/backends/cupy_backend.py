"""CuPy on CUDA: the array-API kernels (copy, GEMM via cuBLAS, QK^T, softmax, eager attention).

Without CuPy, or without a CUDA device, building this backend raises BackendUnavailable with a
one-line reason, and the other backends go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rooflint.errors import BackendUnavailable
from rooflint.measure.backends.arrays import ArrayBackend


def load_cupy():
    try:
        import cupy  # type: ignore[import-not-found]
    except ImportError:
        raise BackendUnavailable("cupy is not installed (pip install cupy-cuda12x on a CUDA machine)") from None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise BackendUnavailable("cupy: no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        raise BackendUnavailable(f"cupy: no usable CUDA device ({exc})") from None
    return cupy


class CupyTimer:
    """DeviceTimer over CuPy: all work on one non-default stream (graph capture needs one)."""

    def __init__(self, cupy, l2_bytes: int):
        self.cupy = cupy
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.flush_bytes = max(2 * l2_bytes, 64 << 20)
        with self.stream:
            self._buf = cupy.empty(self.flush_bytes // 4, dtype=cupy.int32)

    def flush(self) -> None:
        with self.stream:
            self._buf.fill(0)

    def elapsed_s(self, fn: Callable[[], None]) -> float:
        cuda = self.cupy.cuda
        start, end = cuda.Event(), cuda.Event()
        with self.stream:
            start.record(self.stream)
            fn()
            end.record(self.stream)
        end.synchronize()
        return cuda.get_elapsed_time(start, end) / 1e3

    def capture(self, fn: Callable[[], None], times: int) -> Callable[[], None] | None:
        try:
            with self.stream:
                fn()  # warm-up: cuBLAS handles and workspaces exist before capture
                self.stream.synchronize()
                self.stream.begin_capture()
                try:
                    for _ in range(times):
                        fn()
                finally:
                    graph = self.stream.end_capture()
        except Exception:  # cuBLAS or an allocation refused capture: the runner uses events
            return None
        return lambda: graph.launch(self.stream)


class CupyBackend(ArrayBackend):
    def __init__(self):
        cupy = load_cupy()
        super().__init__(cupy, "cupy", "cuda", {"fp32": cupy.float32, "fp16": cupy.float16, "fp64": cupy.float64})
        props = cupy.cuda.runtime.getDeviceProperties(0)
        self.props = props
        self._timer = CupyTimer(cupy, int(props.get("l2CacheSize", 50 << 20)))

    def device_name(self) -> str:
        name = self.props.get("name", b"")
        return name.decode() if isinstance(name, bytes) else str(name)

    def _random(self, count: int, dt) -> Any:
        with self._timer.stream:
            return self.xp.random.standard_normal(count, dtype=self.xp.float32).astype(dt)

    def _to64(self, a) -> Any:
        return self.xp.asnumpy(a).astype("float64")

    def synchronize(self) -> None:
        self.xp.cuda.Device().synchronize()  # whatever stream the work went to

    def environment(self) -> dict[str, Any]:
        cupy = self.xp
        return {"cupy": cupy.__version__, "device_name": self.device_name(),
                "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                "l2_bytes": self.props.get("l2CacheSize"), "l2_flush_bytes": self._timer.flush_bytes,
                "sm_count": self.props.get("multiProcessorCount"),
                "note": "cupy: fp32 matmul runs without TF32 unless CUPY_TF32=1 is set"}

    def free_memory_bytes(self) -> int | None:
        free, _ = self.xp.cuda.runtime.memGetInfo()
        pool = self.xp.get_default_memory_pool()
        return int(free + pool.free_bytes() + self.arena.nbytes)

    def timer(self):
        return self._timer

    def prepare(self, case, rotation_bytes):
        with self._timer.stream:
            return super().prepare(case, rotation_bytes)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, (MemoryError, self.xp.cuda.memory.OutOfMemoryError))

    def release(self) -> None:
        super().release()
        self.xp.get_default_memory_pool().free_all_blocks()
