"""torch on CPU and CUDA: every kernel, fused attention (scaled_dot_product_attention with a
chosen backend), and generation on the tiny decoder.

torch is imported when this backend is built, never by `import rooflint`. On CUDA the timer
uses events, flushes L2 by writing a buffer of twice its size, and captures CUDA graphs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rooflint.errors import BackendUnavailable
from rooflint.measure.backends.arrays import Arena, scores_shape
from rooflint.measure.backends.base import (
    Prepared,
    checker,
    input_sets,
    output_shape,
    rotating,
    rotation_sets,
    set_elements,
)
from rooflint.measure.cases import Case
from rooflint.measure.environment import available_memory_bytes, cpu_model
from rooflint.measure.tiny_decoder import prepare_generation

SDPA_BACKENDS = {"sdpa-flash": "FLASH_ATTENTION", "sdpa-efficient": "EFFICIENT_ATTENTION", "sdpa-math": "MATH"}


def load_torch():
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("torch is not installed (pip install 'rooflint[torch]' torch==2.13.0)") from None
    return torch


class TorchCudaTimer:
    """DeviceTimer over torch.cuda: events on the current stream, an L2 flush by zeroing a
    buffer of twice the L2 size, graphs by torch.cuda.CUDAGraph."""

    def __init__(self, torch, l2_bytes: int):
        self.torch = torch
        self.flush_bytes = max(2 * l2_bytes, 64 << 20)
        self._buf = torch.empty(self.flush_bytes // 4, dtype=torch.int32, device="cuda")

    def flush(self) -> None:
        self._buf.zero_()

    def elapsed_s(self, fn: Callable[[], None]) -> float:
        cuda = self.torch.cuda
        start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    def capture(self, fn: Callable[[], None], times: int) -> Callable[[], None] | None:
        torch = self.torch
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up off the capture, as torch's docs ask
                for _ in range(2):
                    fn()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(times):
                    fn()
            torch.cuda.synchronize()
        except Exception:  # a kernel that cannot be captured: the runner falls back to events
            return None
        return graph.replay


class TorchBackend:
    name = "torch"

    def __init__(self, device: str = "cpu"):
        torch = load_torch()
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("torch: no CUDA device (torch.cuda.is_available() is False)")
        self.torch, self.device = torch, device
        self.dtypes = {"fp32": torch.float32, "tf32": torch.float32, "fp64": torch.float64,
                       "fp16": torch.float16, "bf16": torch.bfloat16}
        self.arena = Arena(self._random)
        self._timer = None
        if device == "cuda":
            props = torch.cuda.get_device_properties(0)
            self._timer = TorchCudaTimer(torch, int(getattr(props, "L2_cache_size", 50 << 20)))

    # ---------------------------------------------------------------- facts

    def device_name(self) -> str:
        if self.device == "cuda":
            return self.torch.cuda.get_device_name(0)
        return cpu_model()

    def environment(self) -> dict[str, Any]:
        torch = self.torch
        env: dict[str, Any] = {
            "torch": torch.__version__, "device_name": self.device_name(),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "note": "torch: intra-op threads = physical cores by default (numpy's BLAS picks its own)",
        }
        if self.device == "cuda":
            props = torch.cuda.get_device_properties(0)
            env.update({
                "cuda": torch.version.cuda, "capability": f"{props.major}.{props.minor}",
                "sm_count": props.multi_processor_count, "memory_bytes": props.total_memory,
                "l2_bytes": getattr(props, "L2_cache_size", None),
                "l2_flush_bytes": self._timer.flush_bytes if self._timer else None,
                "tf32_matmul_default": torch.backends.cuda.matmul.allow_tf32,
                "tf32_cudnn": torch.backends.cudnn.allow_tf32,
                "note": "tf32 rows run fp32 storage with allow_tf32=True; fp32 rows with it False",
            })
        return env

    def free_memory_bytes(self) -> int | None:
        torch = self.torch
        if self.device == "cuda":
            free, _ = torch.cuda.mem_get_info()
            cached = torch.cuda.memory_reserved() - torch.cuda.memory_allocated()
            return int(free + cached + self.arena.nbytes)
        avail = available_memory_bytes()
        return None if avail is None else avail + self.arena.nbytes

    def timer(self):
        return self._timer

    def is_out_of_memory(self, exc: BaseException) -> bool:
        oom = getattr(self.torch.cuda, "OutOfMemoryError", ())
        return isinstance(exc, (MemoryError, oom)) or (
            isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "can't allocate memory" in str(exc)))

    def supports(self, case: Case) -> bool | str:
        if case.dtype not in self.dtypes:
            return False
        if case.dtype == "tf32" and self.device != "cuda":
            return False
        if case.kernel == "attention" and case.variant in SDPA_BACKENDS:
            from torch.nn import attention

            if not hasattr(attention.SDPBackend, SDPA_BACKENDS[case.variant]):
                return f"torch {self.torch.__version__} has no {case.variant} backend"
        return True

    def release(self) -> None:
        self.arena.clear()
        if self.device == "cuda":
            self.torch.cuda.empty_cache()

    # ---------------------------------------------------------------- kernels

    def _random(self, count: int, dt) -> Any:
        torch = self.torch
        if self.device == "cuda":
            return torch.randn(count, dtype=dt, device="cuda")
        pool = torch.randn(min(count, 1 << 22), dtype=dt)  # tiled: drawing a GiB of normals costs seconds
        out = torch.empty(count, dtype=dt)
        for at in range(0, count, pool.numel()):
            n = min(pool.numel(), count - at)
            out[at:at + n].copy_(pool[:n])
        return out

    def _to64(self, a):
        return a.detach().to("cpu", self.torch.float64).numpy()

    def synchronize(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def prepare(self, case: Case, rotation_bytes: float) -> Prepared:
        if case.kernel == "generate":
            return prepare_generation(self, case)
        torch = self.torch
        dt = self.dtypes["fp32" if case.kernel == "copy" else case.dtype]
        sets = rotation_sets(case.footprint_bytes(), rotation_bytes)
        inputs = input_sets(case, self.arena.get(set_elements(case) * sets, dt), sets)
        restore = self._set_flags(case)
        try:
            fused = case.variant in SDPA_BACKENDS or (case.kernel == "decode_attention" and case.variant == "sdpa")
            outs = [torch.empty(output_shape(case), dtype=dt, device=self.device) for _ in range(sets)]
            for o in outs:  # touch every page now: a first-touch fault is not the kernel's time
                o.zero_()
            scratch = {}
            if case.kernel in ("attention", "decode_attention") and not fused:
                scratch = {n: torch.empty(scores_shape(case), dtype=dt, device=self.device) for n in "SP"}
            calls = [self._call(case, one, o, scratch) for one, o in zip(inputs, outs)]
            check = checker(case, calls[0], inputs[0], outs[0], lambda o: o.fill_(float("nan")),
                            self.synchronize, self._to64)
            extra = {}
            if self.device == "cuda" and case.kernel == "attention":
                extra["peak_bytes"] = self._peak_bytes(case, inputs[0])
        except BaseException:
            restore()
            raise
        return Prepared(rotating(calls), check, sets, extra, close=restore)

    def _set_flags(self, case: Case) -> Callable[[], None]:
        """TF32 on for tf32 rows only, and the chosen SDPA backend; returns what undoes both."""
        torch = self.torch
        undo = []
        if self.device == "cuda":
            before = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = case.dtype == "tf32"
            undo.append(lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", before))
        if case.variant in SDPA_BACKENDS:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            ctx = sdpa_kernel([getattr(SDPBackend, SDPA_BACKENDS[case.variant])])
            ctx.__enter__()
            undo.append(lambda: ctx.__exit__(None, None, None))

        def restore() -> None:
            for u in reversed(undo):
                u()
        return restore

    def _call(self, case: Case, inp: dict[str, Any], out, scratch: dict[str, Any]) -> Callable[[], None]:
        torch = self.torch
        k = case.kernel
        if k == "copy":
            src = inp["src"]
            return lambda: out.copy_(src)
        if k == "gemm":
            a, b = inp["A"], inp["B"]
            return lambda: torch.matmul(a, b, out=out)
        if k == "qk":
            q, kt = inp["Q"], inp["K"].transpose(-1, -2)
            return lambda: torch.matmul(q, kt, out=out)
        softmax = _softmax_out(torch)
        if k == "softmax":
            s = inp["S"]
            return lambda: softmax(s, out)
        q, key, v = inp["Q"], inp["K"], inp["V"]
        if case.variant == "eager":
            s, p, kt = scratch["S"], scratch["P"], key.transpose(-1, -2)

            def eager() -> None:  # three kernels; S and P through memory
                torch.matmul(q, kt, out=s)
                softmax(s, p)
                torch.matmul(p, v, out=out)
            return eager
        sdpa = torch.nn.functional.scaled_dot_product_attention
        if k == "decode_attention":  # [B, H_kv, g, d] as [B, H_q, 1, d]: query head h uses KV head h // g
            b, hkv, g, d = q.shape
            q1, o1 = q.reshape(b, hkv * g, 1, d), out.view(b, hkv * g, 1, d)
            return lambda: o1.copy_(sdpa(q1, key, v, scale=1.0, enable_gqa=True))
        return lambda: out.copy_(sdpa(q, key, v, scale=1.0))

    def _peak_bytes(self, case: Case, inp: dict[str, Any]) -> float:
        """Memory one call allocates beyond its inputs, as torch's allocator saw it: eager
        attention's S and P, or a fused kernel's workspace (max_memory_allocated)."""
        torch = self.torch
        q, k, v = inp["Q"], inp["K"], inp["V"]
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        if case.variant == "eager":
            o = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        else:
            o = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        del o
        return float(peak)


def _softmax_out(torch) -> Callable[[Any, Any], None]:
    """softmax into a preallocated tensor (aten's out= overload); allocating P on every call
    would time the allocator (and, on CPU, page faults) rather than the kernel."""
    op = getattr(getattr(torch.ops.aten, "_softmax", None), "out", None)
    if op is not None:
        return lambda s, p: op(s, -1, False, out=p)
    return lambda s, p: p.copy_(torch.softmax(s, dim=-1))
