"""The ways to lay a model over N GPUs that plan and serve compare.

A layout is tp GPUs per pipeline stage (tensor parallel, plan.py's shard and all-reduces), pp
stages per replica (pipeline.py) and dp = N / (tp pp) replicas; or, for a MoE model, data-parallel
attention over all N with the routed experts placed over them (expert_parallel.py, ep = N).
Tensor parallelism stays inside a node's NVLink domain (tp <= 8); pipeline stages are powers of
two. `every_pp` lists every pipeline depth (plan --gpus); otherwise pipelines are tried only
where tensor parallelism alone cannot span the GPUs of one replica (beyond one node).
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.collectives import GPUS_PER_NODE
from rooflint.analysis.expert_parallel import ep_shard
from rooflint.analysis.plan import shard
from rooflint.errors import SpecError
from rooflint.specs import Model

MAX_TP = GPUS_PER_NODE
POWERS = tuple(2**i for i in range(8))  # 1 .. 128


@dataclass(frozen=True, slots=True)
class Layout:
    tp: int
    dp: int
    ep: int = 1  # > 1: data-parallel attention over ep GPUs, the routed experts placed over them
    pp: int = 1

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def label(self) -> str:
        if self.ep > 1:
            return f"dp{self.dp} attn + ep{self.ep}"
        return f"tp{self.tp} x " + (f"pp{self.pp} x " if self.pp > 1 else "") + f"dp{self.dp}"

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "dp": self.dp, "pp": self.pp, "ep": self.ep}


def layouts(m: Model, gpus: int, tp: int | None = None, ep: bool | None = None, pp: int | None = None,
            every_pp: bool = False) -> list[Layout]:
    """The layouts of `gpus` GPUs for m: tp (given, or every power of two up to MAX_TP) x pp (given,
    or as `every_pp` says) that divide the GPUs and the model; and for a MoE model data-parallel
    attention with the experts over all of them (ep True: that alone; False: never)."""
    if ep:
        if tp is not None or pp is not None:
            raise SpecError("--dp-attention", None, "the expert-parallel layout has no --tp or --pp of its own")
        ep_shard(m, gpus)  # refused here when the experts do not split over the GPUs
        return [Layout(1, gpus, gpus)]
    if tp is not None and tp > MAX_TP:
        raise SpecError("--tp", None, f"tensor parallelism stays inside a node's {MAX_TP} NVLink GPUs; "
                        f"got {tp} (use --pp across nodes)")
    out = []
    for t in (tp,) if tp is not None else POWERS:
        if t > gpus or gpus % t or (tp is None and t > MAX_TP):
            continue
        try:
            shard(m, t)
        except SpecError:
            if tp is not None:
                raise
            continue
        for q in (pp,) if pp is not None else POWERS:
            if gpus % (t * q) or q > m.num_hidden_layers:
                continue
            if pp is None and q > 1 and not every_pp and not (t == MAX_TP and gpus > MAX_TP):
                continue
            out.append(Layout(t, gpus // (t * q), 1, q))
    if tp is not None and not out:
        raise SpecError("--tp", None, f"{tp} GPUs per stage{f' x {pp} stages' if pp else ''} do not divide "
                        f"--gpus {gpus}")
    if pp is not None and not out:
        raise SpecError("--pp", None, f"{pp} stages do not divide --gpus {gpus} (or {m.name}'s layers)")
    if ep is None and m.num_experts and gpus > 1 and tp is None and pp is None:
        try:
            ep_shard(m, gpus)
            out.append(Layout(1, gpus, gpus))
        except SpecError:
            pass
    if not out:
        raise SpecError("--gpus", None, f"no layout of {gpus} GPUs splits {m.name}")
    return out
