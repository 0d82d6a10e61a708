"""Collectives timed through torch.distributed, the way real deployments run them: N ranks
spawned on this machine (gloo over loopback on CPU, NCCL on GPUs), each op at each message size
with the kernel suites' harness (timing.sample_until_settled) and statistics (stats.summarize).

The ranks must issue the same calls in the same order, or a collective waits forever. Rank 0
therefore drives: before each sample it broadcasts (go, calls) and after it every rank's time is
reduced to the slowest (a collective is done when its last rank is); when rank 0's stop rule is
met it broadcasts stop. A sample is the time of `calls` back-to-back calls / calls, the calls
chosen after the first sample so that one lasts about a millisecond, as the host-clock kernels'.

Message sizes follow nccl-tests (analysis/collectives.py): all-reduce and all-to-all the buffer
on each rank, all-gather the gathered output, reduce-scatter the input, send/recv what each even
rank sends to the next odd one. fp32 elements (gloo reduces no bf16).

The parent process only waits: on a rank's failure, the time limit or Ctrl-C every rank still
running is terminated, so no process outlives the command.
"""

from __future__ import annotations

import os
import queue as queue_module
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rooflint.errors import BackendUnavailable, RooflintError
from rooflint.measure.stats import Summary, summarize
from rooflint.measure.timing import StopRule, calls_per_sample, sample_until_settled

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
SIZES = {"cpu": tuple(4 * 1024 * 4**i for i in range(6)),  # 4 KiB .. 4 MiB: latency to bandwidth on loopback
         "cuda": tuple(4 * 1024 * 4**i for i in range(9))}  # .. 256 MiB: NVLink's bus bandwidth needs >= 64 MiB
RULE = StopRule(min_samples=8, max_samples=200, min_time_s=0.05, max_time_s=0.4, target_rel_iqr=0.05,
                warmup_s=0.01)
ELEMENT_BYTES = 4


@dataclass(frozen=True, slots=True)
class Point:
    """One op at one message size: its samples (the slowest rank's, per sample)."""

    op: str
    message_bytes: int
    samples_s: tuple[float, ...]
    calls: int
    stop_reason: str

    @property
    def stats(self) -> Summary:
        return summarize(self.samples_s)


@dataclass(frozen=True, slots=True)
class CollectiveRun:
    backend: str  # gloo | nccl
    device: str
    world_size: int
    points: tuple[Point, ...]
    environment: dict
    interrupted: bool = False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _closure(op: str, size: int, rank: int, world: int, device: str) -> Callable[[], None]:
    """One call of `op` on a `size`-byte message (nccl-tests' convention) from this rank."""
    import torch
    import torch.distributed as dist

    n = max(world, size // ELEMENT_BYTES // world * world)  # elements: a multiple of the ranks
    full = torch.ones(n, dtype=torch.float32, device=device)
    shard = torch.empty(n // world, dtype=torch.float32, device=device)
    if op == "all_reduce":
        return lambda: dist.all_reduce(full)
    if op == "all_gather":
        return lambda: dist.all_gather_into_tensor(full, shard)
    if op == "reduce_scatter":
        return lambda: dist.reduce_scatter_tensor(shard, full)
    if op == "all_to_all":
        out = torch.empty_like(full)
        return lambda: dist.all_to_all_single(out, full)
    if op != "send_recv":
        raise ValueError(f"unknown collective {op!r}")
    peer = rank ^ 1  # pairs (0, 1), (2, 3), ...
    return (lambda: dist.send(full, peer)) if rank % 2 == 0 else (lambda: dist.recv(full, peer))


def _rank_main(rank: int, world: int, port: int, backend: str, device: str, ops: Sequence[str],
               sizes: Sequence[int], rule: StopRule, deadline: float, results) -> None:
    """One rank: every (op, size) in lockstep with rank 0; rank 0 puts the points on `results`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if backend == "gloo" and sys.platform.startswith("linux"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback, whatever the hostname resolves to
    warnings.filterwarnings("ignore")  # torch.distributed's deprecation notes, once per rank
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    if device == "cuda":
        torch.cuda.set_device(rank)
        dev = f"cuda:{rank}"
    else:
        dev = "cpu"
    dist.init_process_group(backend, rank=rank, world_size=world)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    ctrl = torch.zeros(2, dtype=torch.int64, device=dev)
    slowest = torch.zeros(1, dtype=torch.float64, device=dev)
    try:
        for op in ops:
            for size in sizes:
                fn = _closure(op, size, rank, world, dev)
                state = {"calls": 1}

                def sample(calls: int) -> float:
                    dist.barrier()
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        fn()
                    sync()
                    slowest[0] = (time.perf_counter() - t0) / calls
                    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
                    return float(slowest[0])

                if rank == 0:
                    def take() -> float:
                        ctrl[0], ctrl[1] = 1, state["calls"]
                        dist.broadcast(ctrl, 0)
                        t = sample(state["calls"])
                        if "chosen" not in state:  # the first sample (a warm-up one) sizes the rest
                            state["chosen"] = state["calls"] = calls_per_sample(t)
                        return t

                    left = deadline - time.perf_counter()
                    if left > 0:  # past the deadline the point is skipped, in step with the others
                        got = sample_until_settled(take, StopRule(
                            rule.min_samples, rule.max_samples, rule.min_time_s, min(rule.max_time_s, left),
                            rule.target_rel_iqr, rule.warmup_s))
                        results.put(("point", Point(op, size, got.samples_s, state["calls"], got.stop_reason)))
                    ctrl[0] = 0
                    dist.broadcast(ctrl, 0)
                else:
                    while True:
                        dist.broadcast(ctrl, 0)
                        if int(ctrl[0]) == 0:
                            break
                        sample(int(ctrl[1]))
        if rank == 0:
            results.put(("done", None))
    finally:
        dist.destroy_process_group()


def check_available(world_size: int, device: str) -> None:
    """torch.distributed present, and on GPUs one per rank: refused before anything starts."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        raise BackendUnavailable("measuring collectives needs torch (pip install 'rooflint[torch]')") from None
    if not dist.is_available():
        raise BackendUnavailable("this torch build has no torch.distributed")
    if device == "cuda" and torch.cuda.device_count() < world_size:
        raise BackendUnavailable(f"--world-size {world_size} needs {world_size} GPUs; "
                                 f"{torch.cuda.device_count()} are visible")


def run_collectives(world_size: int = 2, device: str = "cpu", ops: Sequence[str] = OPS,
                    sizes: Sequence[int] | None = None, rule: StopRule = RULE, time_budget_s: float | None = None,
                    progress: Callable[[str, int, int], None] = lambda *_: None) -> CollectiveRun:
    """Spawn world_size ranks, time every op at every size, and return rank 0's points."""
    check_available(world_size, device)
    import torch
    import torch.multiprocessing as mp

    backend = "nccl" if device == "cuda" else "gloo"
    ops = [op for op in ops if op != "send_recv" or world_size % 2 == 0]
    sizes = SIZES[device] if sizes is None else sizes
    budget = time_budget_s if time_budget_s is not None else 120.0
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    deadline_in = budget  # each rank counts from its own start
    port = _free_port()
    procs = [ctx.Process(target=_rank_entry, args=(r, world_size, port, backend, device, ops, sizes, rule,
                                                  deadline_in, results), daemon=True)
             for r in range(world_size)]
    points: list[Point] = []
    interrupted = False
    began = time.perf_counter()
    limit = budget + 60.0  # start-up (torch imported by every rank) and the last point's sampling
    try:
        for p in procs:
            p.start()
        total = len(ops) * len(sizes)
        while True:
            try:
                kind, point = results.get(timeout=0.5)
            except queue_module.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RooflintError(f"a rank of the collective run exited with code {dead[0].exitcode} "
                                        f"({len(points)} of {total} points measured)") from None
                if time.perf_counter() - began > limit:
                    raise RooflintError(f"the collective run did not finish in {limit:.0f} s "
                                        f"({len(points)} of {total} points measured)") from None
                continue
            if kind == "done":
                break
            points.append(point)
            progress(f"{point.op} {point.message_bytes} B: {point.stats.median * 1e6:.1f} us", len(points), total)
        for p in procs:
            p.join(timeout=10)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    env = {"torch": torch.__version__, "backend": backend, "device": device, "world_size": world_size,
           "date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count()}
    return CollectiveRun(backend, device, world_size, tuple(points), env, interrupted)


def _rank_entry(rank, world, port, backend, device, ops, sizes, rule, budget_s, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle: it stops the ranks
    _rank_main(rank, world, port, backend, device, ops, sizes, rule, time.perf_counter() + budget_s, results)

