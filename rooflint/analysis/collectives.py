"""One collective over n GPUs: its roofline bound and NCCL's forecast.

The message T is what nccl-tests calls the size: the buffer on each rank for all-reduce and
all-to-all, the gathered output for all-gather, the input for reduce-scatter, the buffer sent for
send/recv. Each rank sends (and receives) `factor x T` bytes, the algorithm's traffic (nccl-tests'
bus-bandwidth factor):

    all_reduce      2 (n - 1) / n   (a ring: reduce-scatter, then all-gather)
    all_gather      (n - 1) / n     (each rank receives the n - 1 shards it lacks)
    reduce_scatter  (n - 1) / n
    all_to_all      (n - 1) / n     (each rank keeps 1/n of its own buffer)
    send_recv       1

The bound is that traffic over the link alone: factor T / link, where link is the profile's
`interconnect` inside a node; across M nodes the per-GPU network (`network`) carries the
inter-node share (factor T for the rings, (M - 1) / M x T for all-to-all) and the bound is the
slower of the two.

The forecast is what NCCL does: it picks, per message, the faster of its protocols. LL (8-byte
stores with flags: little latency, a small share of the link) wins small messages, Simple (bulk
copies: more setup, most of the link) wins large ones:

    t_p = t0_p + steps x hop_p + factor T / (link f_p)        p in {LL, Simple}
    t = min(t_LL, t_Simple)

with steps the ring's hops (2 (n - 1) for all-reduce, n - 1 for the others, 1 for send/recv).
The six numbers per op are hardware.achievable.collectives, fitted on aiconfigurator's
nccl-tests tables (bench/fit_forecast.py). Across nodes each protocol's bandwidth is capped at the
network's share (achievable.network_fraction; half of it for LL, whose lines are half flags) and
each inter-node hop adds achievable.network_latency_s: priors, since the shipped tables are
single-node.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.expr import Const, Expr, emax, emin, sym
from rooflint.analysis.terms import Figure, Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
GPUS_PER_NODE = 8  # an HGX/DGX node's NVLink domain: beyond it, traffic crosses the network
PROTOCOLS = ("ll", "simple")
PARAMETERS = tuple(f"{p}_{k}" for p in PROTOCOLS for k in ("latency_s", "hop_s", "fraction"))
"""Per op: each protocol's fixed time, time per ring hop, and share of the link."""

n, M, T = sym("n M T")
_FACTOR: dict[str, Expr] = {"all_reduce": 2 * (n - 1) / n, "all_gather": (n - 1) / n,
                            "reduce_scatter": (n - 1) / n, "all_to_all": (n - 1) / n, "send_recv": Const(1)}
_STEPS: dict[str, Expr] = {"all_reduce": 2 * (n - 1), "all_gather": n - 1, "reduce_scatter": n - 1,
                           "all_to_all": n - 1, "send_recv": Const(1)}
# across M nodes: what crosses the network per rank (the rings cross it with all their traffic;
# all-to-all sends the (M - 1) / M of its buffer bound for other nodes), and the hops that do
_NET_FACTOR: dict[str, Expr] = {**_FACTOR, "all_to_all": (M - 1) / M}
_NET_STEPS: dict[str, Expr] = {"all_reduce": 2 * (M - 1), "all_gather": M - 1, "reduce_scatter": M - 1,
                               "all_to_all": M - 1, "send_recv": Const(1)}

link, net, f_net, t_net, factor, net_factor, steps, net_steps = sym(
    "link net f_net t_net factor net_factor steps net_steps")


# LL moves 4 bytes of data with each 4-byte flag: across the network, where NCCL cannot use the
# NVLink share it was fitted on, it reaches half of what Simple does
_NET_SHARE = {"ll": Const(0.5), "simple": Const(1)}


def _protocol(p: str, nodes: int) -> Expr:
    t0, hop, f = sym(f"t0_{p} hop_{p} f_{p}")
    if nodes == 1:
        return t0 + steps * hop + factor * T / (link * f)
    return t0 + steps * hop + net_steps * t_net + emax(factor * T / (link * f),
                                                       net_factor * T / (net * f_net * _NET_SHARE[p]))


def protocol_values(params) -> dict:
    """An op's six parameters (achievable.collectives[op]) as the symbols the protocols use; each
    value may be a number or an array."""
    return {f"{short}_{p}": params[f"{p}_{name}"] for p in PROTOCOLS
            for short, name in (("t0", "latency_s"), ("hop", "hop_s"), ("f", "fraction"))}


def single_protocol(latency_s: float, fraction: float) -> dict[str, float]:
    """Six parameters that make both protocols one: a latency and a share of the link, no hops
    (what a measured latency + bandwidth fit says)."""
    return {f"{p}_{k}": v for p in PROTOCOLS for k, v in (("latency_s", latency_s), ("hop_s", 0.0),
                                                          ("fraction", fraction))}


def traffic_factor(op: str, gpus: int) -> float:
    """Bytes each of `gpus` ranks sends per byte of the message."""
    return float(_FACTOR[op].evaluate({"n": gpus}))


def figures(op: str, nodes: int) -> tuple[Figure, ...]:
    """The collective's figures in order: traffic, bound, each protocol, forecast, and the
    forecast as nccl-tests reports bandwidths."""
    bound = factor * T / link if nodes == 1 else emax(factor * T / link, net_factor * T / net)
    return (figure("factor", _FACTOR[op], "ratio", "bytes each rank sends per byte of the message"),
            figure("steps", _STEPS[op], "count", "ring hops"),
            *((figure("net_factor", _NET_FACTOR[op], "ratio", "bytes each rank sends across nodes per byte"),
               figure("net_steps", _NET_STEPS[op], "count", "hops between nodes")) if nodes > 1 else ()),
            figure("traffic_bytes", factor * T, "bytes", "sent by each rank"),
            figure("time_s", bound, "seconds", "the traffic over the link alone"),
            figure("ll_s", _protocol("ll", nodes), "seconds", "NCCL's LL protocol"),
            figure("simple_s", _protocol("simple", nodes), "seconds", "NCCL's Simple protocol"),
            figure("time_forecast_s", emin(sym("ll_s"), sym("simple_s")), "seconds", "the faster protocol"),
            figure("algbw_bytes_per_s", T / sym("time_forecast_s"), "bytes_per_s", "nccl-tests' algbw, forecast"),
            figure("busbw_bytes_per_s", sym("traffic_bytes") / sym("time_forecast_s"), "bytes_per_s",
                   "nccl-tests' busbw, forecast"))


@dataclass(frozen=True, slots=True)
class Collective:
    """One collective's terms (factor ... time_forecast_s) and where its parameters came from."""

    op: str
    message_bytes: float
    gpus: int
    nodes: int
    terms: tuple[Term, ...]
    sources: tuple[str, ...]

    def value(self, key: str) -> float:
        return next(t.value for t in self.terms if t.key == key)

    @property
    def protocol(self) -> str:
        return "LL" if self.value("ll_s") <= self.value("simple_s") else "Simple"


def collective(op: str, message_bytes: float, gpus: int, hw: Hardware, nodes: int = 1) -> Collective:
    """`op` of a `message_bytes` message over `gpus` ranks on `nodes` nodes of hw."""
    if op not in OPS:
        raise SpecError("OP", None, f"expected one of {', '.join(OPS)}, got {op!r}")
    if gpus < 2:
        raise SpecError("--gpus", None, f"a collective needs 2 or more GPUs, got {gpus}")
    if op == "send_recv" and gpus != 2:
        raise SpecError("--gpus", None, f"send_recv is between 2 GPUs, got {gpus}")
    if nodes < 1 or gpus % nodes or (nodes > 1 and gpus < nodes):
        raise SpecError("--nodes", None, f"{nodes} nodes do not divide {gpus} GPUs")
    if not hw.interconnect_bytes_per_s:
        raise SpecError(hw.path or hw.name, "interconnect", "no interconnect bandwidth to time a collective over")
    network = hw.network_bytes_per_s
    if nodes > 1 and not network:
        raise SpecError(hw.path or hw.name, "network",
                        "no per-GPU network bandwidth to time a collective across nodes (give --network)")
    a = hw.achievable
    values = {"n": gpus, "M": nodes, "T": message_bytes, "link": hw.interconnect_bytes_per_s,
              **protocol_values(a.collectives[op])}
    if nodes > 1:
        values.update(net=network, f_net=a.network_fraction, t_net=a.network_latency_s)
    terms = tuple(evaluate_figures(figures(op, nodes), values))
    src = a.source
    sources = (f"collectives.{op}: {', '.join(f'{k} = {v:.4g}' for k, v in a.collectives[op].items())} "
               f"({src.get('collectives.' + op, src.get('collectives', 'prior'))})",)
    if nodes > 1:
        sources += (f"network: {network:.4g} B/s (the profile's, or --network); "
                    f"network_fraction = {a.network_fraction:.4g}, network_latency_s = {a.network_latency_s:.4g} "
                    f"({src.get('network_fraction', 'prior')})",)
    return Collective(op, message_bytes, gpus, nodes, terms, sources)
