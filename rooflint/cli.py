"""The `rooflint` command: a thin typer layer over the library. Formulas live in analysis/."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from rooflint.errors import RooflintError, SpecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Where the time and the memory of LLM inference go: roofline analysis of "
                       "prefill and decode, attention and KV cache, checked against real kernels.")


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class Attention(str, Enum):
    eager = "eager"
    flash = "flash"


class MlaMode(str, Enum):
    absorbed = "absorbed"
    naive = "naive"


_state = {"debug": False}

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file (whole or not at all).")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Show each figure's formula with its terms.")]
GpuOpt = Annotated[str, typer.Option("--gpu", "-g", help="Built-in GPU name or alias, or a hardware YAML file.")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Weights and activations: fp32, fp16, bf16, fp8, int8.")]
KvDtypeOpt = Annotated[Optional[str], typer.Option("--kv-dtype", help="KV cache: fp16, bf16, fp8, int8, int4 (default: --dtype).")]
KvGroupOpt = Annotated[Optional[str], typer.Option("--kv-group-size", help="Elements per fp16 scale of a quantized KV cache (default 64 for int8/int4).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a model field, e.g. num_key_value_heads=8.")]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def guarded(fn):
    """Turn RooflintError into one line on stderr and exit code 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RooflintError as exc:
            if _state["debug"]:
                raise
            _fail(str(exc))
    return wrapper


def _emit(report, fmt: Format, output: Optional[str], explain: bool) -> None:
    from rooflint.report.output import write_atomic
    from rooflint.report.render import render

    text = render(report, fmt.value, explain=explain)
    if output:
        write_atomic(output, text)
    else:
        sys.stdout.write(text)


def _overrides(pairs: Optional[list[str]]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", pair, "expected FIELD=VALUE, e.g. num_key_value_heads=8")
        out[key.strip()] = value.strip()
    return out


def _count(text: Optional[str], option: str) -> Optional[int]:
    """A positive whole number ('4k' = 4096); zero or negative is an error naming the option."""
    value = _whole(text, option)
    if value is not None and value <= 0:
        raise SpecError(option, None, f"expected a positive number, got {text}")
    return value


def _optional_dtype(name: Optional[str], option: str):
    from rooflint.dtypes import dtype as lookup

    return lookup(name, option) if name else None


def _counts(text: str, option: str) -> list[int]:
    return [_count(part, option) for part in text.split(",") if part.strip()]


@app.command()
@guarded
def analyze(
    model: Annotated[str, typer.Argument(help="Built-in model name, a model YAML, or a HF config.json (or its folder).")],
    gpu: GpuOpt = "a100",
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Prompt tokens per sequence (default: 4096, or the model's max).")] = None,
    batch: Annotated[str, typer.Option("--batch", "-b", help="Sequences in the batch.")] = "1",
    context: Annotated[Optional[str], typer.Option("--context", "-c", help="Tokens attended in the decode step (default: the prompt).")] = None,
    dtype: DtypeOpt = "fp16",
    attention_kernel: Annotated[Attention, typer.Option("--attention", help="eager: S/P through memory; flash: fused.")] = Attention.eager,
    kv_dtype: KvDtypeOpt = None,
    weight_dtype: Annotated[Optional[str], typer.Option("--weight-dtype", help="Weights (weight-only quantization): fp16, fp8, int8, int4.")] = None,
    kv_group_size: KvGroupOpt = None,
    mla_mode: Annotated[MlaMode, typer.Option("--mla-mode", help="MLA: absorbed (latent cache) or naive (decompressed K/V).")] = MlaMode.absorbed,
    flash_tile: Annotated[Optional[str], typer.Option("--flash-tile", help="Flash tiles B_r,B_c (default: from SRAM per SM).")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Tokens already cached before the prompt (chunked prefill).")] = "0",
    all_logits: Annotated[bool, typer.Option("--all-logits", help="lm_head on every prefill position, not just the last.")] = False,
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """Roofline of prefill and one decode step: every op's FLOPs, bytes, bound and time; memory."""
    from dataclasses import replace

    from rooflint.analysis.inference import Settings, analyze as run
    from rooflint.catalog import load_hardware, load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.views import analyze_report

    spec = load_model(model, _overrides(set_))
    hw = load_hardware(gpu)
    default_prompt = min(4096, spec.max_position_embeddings or 4096)
    tile = tuple(_counts(flash_tile, "--flash-tile")) if flash_tile else None
    settings = Settings(batch=_count(batch, "--batch"), prompt=_count(prompt, "--prompt") or default_prompt,
                        context=_count(context, "--context"), dtype=lookup(dtype),
                        kv_dtype=_optional_dtype(kv_dtype, "--kv-dtype"),
                        weight_dtype=_optional_dtype(weight_dtype, "--weight-dtype"),
                        kv_group_size=-1 if kv_group_size is None else _count(kv_group_size, "--kv-group-size"),
                        attention=attention_kernel.value, mla_mode=mla_mode.value, flash_tile=tile,
                        all_logits=all_logits, prefix=_count(prefix, "--prefix") if prefix != "0" else 0)
    result = run(spec, hw, settings)
    other = run(spec, hw, replace(settings, attention="eager" if settings.attention == "flash" else "flash"))
    _emit(analyze_report(result, other), fmt, output, explain)


@app.command()
@guarded
def gemm(
    m: Annotated[int, typer.Argument(help="Rows of A and C.")],
    n: Annotated[int, typer.Argument(help="Columns of B and C.")],
    k: Annotated[int, typer.Argument(help="Inner dimension.")],
    gpu: GpuOpt = "a100",
    dtype: DtypeOpt = "fp16",
    batch: Annotated[int, typer.Option("--batch", "-b", help="Independent matmuls of this shape.")] = 1,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """Intensity and bound of one matmul [M,K]x[K,N] (also counting inputs only, as seed 000 does)."""
    from rooflint.catalog import load_hardware
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.kernel_views import gemm_report

    for name, value in (("M", m), ("N", n), ("K", k), ("--batch", batch)):
        if value <= 0:
            raise SpecError(name, None, f"expected a positive size, got {value}")
    _emit(gemm_report(m, n, k, lookup(dtype), load_hardware(gpu), batch), fmt, output, explain)


@app.command()
@guarded
def attention(
    seq: Annotated[str, typer.Option("--seq", "-n", help="Sequence lengths, comma-separated.")] = "512,1024,2048,4096,8192,16384",
    head_dim: Annotated[int, typer.Option("--head-dim", "-d", help="Head dimension d.")] = 64,
    heads: Annotated[int, typer.Option("--heads", help="Heads h.")] = 1,
    batch: Annotated[int, typer.Option("--batch", "-b", help="Batch b.")] = 1,
    dtype: DtypeOpt = "fp16",
    gpu: Annotated[Optional[str], typer.Option("--gpu", "-g", help="Place the eager kernels and a flash kernel on this GPU's roofline.")] = None,
    causal: Annotated[bool, typer.Option("--causal/--no-causal", help="Flash skips masked tiles (eager never does).")] = True,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """Eager attention's memory: Q/K/V/O against the N×N S and P, and the three kernels' intensities."""
    from rooflint.catalog import load_hardware
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.kernel_views import attention_report

    for name, value in (("--head-dim", head_dim), ("--heads", heads), ("--batch", batch)):
        if value <= 0:
            raise SpecError(name, None, f"expected a positive number, got {value}")
    hw = load_hardware(gpu) if gpu else None
    _emit(attention_report(_counts(seq, "--seq"), head_dim, heads, batch, lookup(dtype), hw, causal),
          fmt, output, explain)


@app.command()
@guarded
def kv(
    model: Annotated[str, typer.Argument(help="Built-in model name, a model YAML, or a HF config.json.")],
    context: Annotated[str, typer.Option("--context", "-c", help="Context lengths, comma-separated (4k = 4096).")] = "4096",
    batch: Annotated[str, typer.Option("--batch", "-b", help="Sequences.")] = "1",
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache element type.")] = "fp16",
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """KV cache per token, per sequence at each context, and for the batch."""
    from rooflint.catalog import load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.kernel_views import kv_report

    spec = load_model(model, _overrides(set_))
    _emit(kv_report(spec, _counts(context, "--context"), _count(batch, "--batch"), lookup(kv_dtype, "--kv-dtype")),
          fmt, output, explain)


@app.command()
@guarded
def plan(
    model: Annotated[str, typer.Argument(help="Built-in model name, a model YAML, or a HF config.json.")],
    gpu: GpuOpt = "h100",
    context: Annotated[str, typer.Option("--context", "-c", help="Tokens per sequence (4k = 4096).")] = "4096",
    batch: Annotated[str, typer.Option("--batch", "-b", help="Sequences.")] = "1",
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel GPUs.")] = 1,
    mem_util: Annotated[float, typer.Option("--mem-util", help="Fraction of memory rooflint may plan with.")] = 0.9,
    dtype: DtypeOpt = "fp16",
    kv_dtype: KvDtypeOpt = None,
    weight_dtype: Annotated[Optional[str], typer.Option("--weight-dtype", help="Weights: fp16, fp8, int8, int4.")] = None,
    attention_kernel: Annotated[Attention, typer.Option("--attention", help="eager or flash.")] = Attention.flash,
    chunk: Annotated[str, typer.Option("--chunk", help="Prefill chunk that sizes the activation workspace.")] = "2048",
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """Largest batch at a context, longest context at a batch, and the memory breakdown per GPU."""
    from rooflint.analysis.inference import Settings
    from rooflint.analysis.plan import plan as run
    from rooflint.catalog import load_hardware, load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.plan_view import plan_report

    spec = load_model(model, _overrides(set_))
    ctx = _count(context, "--context")
    settings = Settings(batch=_count(batch, "--batch"), prompt=min(ctx, _count(chunk, "--chunk")), context=ctx,
                        dtype=lookup(dtype), kv_dtype=_optional_dtype(kv_dtype, "--kv-dtype"),
                        weight_dtype=_optional_dtype(weight_dtype, "--weight-dtype"),
                        attention=attention_kernel.value)
    result = run(spec, load_hardware(gpu), settings, tp=tp, memory_utilization=mem_util,
                 chunk=_count(chunk, "--chunk"))
    _emit(plan_report(result), fmt, output, explain)


@app.command()
@guarded
def hardware(
    name: Annotated[Optional[str], typer.Argument(help="Show one profile (name, alias or YAML file).")] = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """List the hardware profiles, or show one with its ridge point per dtype."""
    from rooflint.catalog import builtin_names, load_hardware
    from rooflint.report.spec_views import hardware_list_report, hardware_show_report

    if name:
        report = hardware_show_report(load_hardware(name))
    else:
        report = hardware_list_report([load_hardware(n) for n in builtin_names("hardware")])
    _emit(report, fmt, output, False)


@app.command()
@guarded
def models(
    name: Annotated[Optional[str], typer.Argument(help="Show one model (name, YAML or config.json).")] = None,
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """List the built-in models, or show one with its parameter count by part."""
    from rooflint.catalog import builtin_names, load_model
    from rooflint.report.spec_views import model_list_report, model_show_report

    if name:
        report = model_show_report(load_model(name, _overrides(set_)))
    else:
        report = model_list_report([load_model(n) for n in builtin_names("models")])
    _emit(report, fmt, output, False)


def _whole(text: Optional[str], option: str) -> Optional[int]:
    """A whole number as typed ('4k' = 4096, '-3' kept negative for the range check that follows)."""
    from rooflint.units import UnitParseError, parse_count

    if text is None:
        return None
    stripped = text.strip()
    try:
        return -parse_count(stripped[1:]) if stripped.startswith("-") else parse_count(stripped)
    except UnitParseError as exc:
        raise SpecError(option, None, str(exc)) from None


@app.command()
@guarded
def paged(
    model: Annotated[str, typer.Argument(help="Built-in model name, a model YAML, or a HF config.json.")],
    lengths: Annotated[Optional[str], typer.Option("--lengths", "-l", help="Sequence lengths, comma-separated (4k = 4096).")] = None,
    dist: Annotated[Optional[str], typer.Option("--dist", help="Draw lengths instead: uniform, normal, lognormal, exponential.")] = None,
    num_seqs: Annotated[str, typer.Option("--num-seqs", "-n", help="Sequences to draw (vLLM's default max_num_seqs).")] = "256",
    mean: Annotated[Optional[str], typer.Option("--mean", help="Mean drawn length in tokens (needed with --dist).")] = None,
    std: Annotated[Optional[str], typer.Option("--std", help="Spread of normal (default mean/4) or lognormal (default mean).")] = None,
    seed: Annotated[str, typer.Option("--seed", help="Random seed: the same seed draws the same lengths.")] = "0",
    block_size: Annotated[str, typer.Option("--block-size", "-B", help="Tokens per KV block (vLLM's default 16).")] = "16",
    max_len: Annotated[Optional[str], typer.Option("--max-len", help="Length a contiguous cache reserves (default: the model's max, or 4096).")] = None,
    memory: Annotated[Optional[str], typer.Option("--memory", "-m", help="KV cache budget, e.g. '40 GiB': how many sequences fit.")] = None,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache element type.")] = "fp16",
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """Paged KV cache (vLLM blocks) vs contiguous preallocation: bytes, waste, sequences that fit."""
    from rooflint.analysis.paged import LengthDraw, draw_lengths, plan_paged
    from rooflint.catalog import load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.paged_views import paged_report
    from rooflint.units import UnitParseError, parse_quantity

    spec = load_model(model, _overrides(set_))
    kv = lookup(kv_dtype, "--kv-dtype")
    limit = _whole(max_len, "--max-len") or spec.max_position_embeddings or 4096
    budget = None
    if memory is not None:
        try:
            budget = parse_quantity(memory, "bytes")
        except UnitParseError as exc:
            raise SpecError("--memory", None, str(exc)) from None
    if seed.strip().lstrip("-").isdigit():
        seed_value = int(seed)
    else:
        raise SpecError("--seed", None, f"expected a whole number >= 0, got {seed!r}")
    draw = None
    if (lengths is None) == (dist is None):
        raise SpecError("--lengths", None, "give either --lengths or --dist (with --mean)")
    if dist is not None:
        draw = LengthDraw(dist.lower(), _whole(num_seqs, "--num-seqs"), _whole(mean, "--mean"),
                          _whole(std, "--std"), seed_value, limit)
        values = draw_lengths(draw)
    else:
        values = [_whole(part, "--lengths") for part in lengths.split(",") if part.strip()]
    plan = plan_paged(spec, kv.bytes, values, _whole(block_size, "--block-size"), limit, budget)
    _emit(paged_report(spec, plan, kv, draw), fmt, output, explain)


@app.command()
@guarded
def generate(
    model: Annotated[str, typer.Argument(help="Built-in model name, a model YAML, or a HF config.json (or its folder).")],
    gpu: GpuOpt = "a100",
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Prompt tokens per sequence, P.")] = "512",
    new_tokens: Annotated[str, typer.Option("--new-tokens", "-t", help="New tokens per sequence, T (the first comes from the prefill).")] = "512",
    batch: Annotated[str, typer.Option("--batch", "-b", help="Sequences in the batch, B.")] = "1",
    dtype: DtypeOpt = "fp16",
    kv_dtype: KvDtypeOpt = None,
    attention_kernel: Annotated[Attention, typer.Option("--attention", help="eager: S/P through memory (closed form); flash: fused (tile counts: pieces taken step by step).")] = Attention.eager,
    mla_mode: Annotated[MlaMode, typer.Option("--mla-mode", help="MLA: absorbed (latent cache) or naive (decompressed K/V).")] = MlaMode.absorbed,
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """A whole request with and without a KV cache: FLOPs, bytes, latency, tokens/s, summed in closed form."""
    from rooflint.analysis.generation import generation
    from rooflint.analysis.inference import Settings
    from rooflint.catalog import load_hardware, load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.generation_view import generate_report

    p, t, b = _count(prompt, "--prompt"), _count(new_tokens, "--new-tokens"), _count(batch, "--batch")
    spec, hw = load_model(model, _overrides(set_)), load_hardware(gpu)
    settings = Settings(batch=b, prompt=p, dtype=lookup(dtype), kv_dtype=_optional_dtype(kv_dtype, "--kv-dtype"),
                        attention=attention_kernel.value, mla_mode=mla_mode.value)
    _emit(generate_report(generation(spec, hw, settings, t)), fmt, output, explain)


class Suite(str, Enum):
    quick = "quick"
    full = "full"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command()
@guarded
def measure(
    suite: Annotated[Suite, typer.Option("--suite", help="quick (a minute on a CPU) or full (wider sweeps).")] = Suite.quick,
    backend: Annotated[str, typer.Option("--backend", help="all, or a comma list of numpy, torch, cupy.")] = "all",
    device: Annotated[Device, typer.Option("--device", help="cpu, cuda, or auto (cuda when torch or CuPy sees one).")] = Device.auto,
    time_budget: Annotated[Optional[str], typer.Option("--time-budget", help="Stop starting kernels after this long, e.g. 60 or '2 min' (seconds by default).")] = None,
    save_profile: Annotated[Optional[str], typer.Option("--save-profile", help="Write the calibrated hardware YAML here (use it with --gpu FILE).")] = None,
    gpu: Annotated[Optional[str], typer.Option("--gpu", "-g", help="Datasheet profile to compare with (default: detected from the device name).")] = None,
    load: Annotated[Optional[str], typer.Option("--load", help="Compare a run saved with -f json instead of measuring.")] = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    explain: ExplainOpt = False,
) -> None:
    """Time real kernels, fit the empirical roofline, and compare every prediction with it."""
    from rooflint.measure import session
    from rooflint.report.measure_view import measure_report

    if load:
        run = session.load_run(load)
    else:
        names = [n.strip().lower() for n in backend.split(",") if n.strip()] or ["all"]
        budget = _seconds(time_budget, "--time-budget")
        dev = session.resolve_device(device.value)
        backends, missing = session.build_backends(names, dev)
        for line in missing:
            typer.echo(f"note: {line}; going on without it", err=True)
        typer.echo(f"measuring the {suite.value} suite on {dev} with {', '.join(b.name for b in backends)}"
                   " (Ctrl-C stops and writes what was measured)", err=True)
        run = session.run_suite(suite.value, backends, dev, budget, lambda line: typer.echo(line, err=True))
    datasheet = session.datasheet_profile(run, gpu)
    calibration = session.calibrate_run(run)
    if save_profile:
        if calibration is None:
            raise SpecError("--save-profile", None, "the run has no copy and GEMM measurements to calibrate from")
        session.save_profile(save_profile, calibration.hardware(datasheet))
    _emit(measure_report(run, datasheet, calibration, save_profile), fmt, output, explain)
    if run.interrupted:
        raise typer.Exit(130)


def _seconds(text: Optional[str], option: str) -> Optional[float]:
    """A time in seconds: a plain number, or a quantity such as '90 s' or '2 min'."""
    from rooflint.units import UnitParseError, parse_quantity

    if text is None:
        return None
    stripped = text.strip()
    try:
        value = float(stripped[:-3]) * 60 if stripped.endswith("min") else float(stripped)
    except ValueError:
        try:
            value = parse_quantity(stripped, "seconds")
        except UnitParseError as exc:
            raise SpecError(option, None, str(exc)) from None
    if value <= 0:
        raise SpecError(option, None, f"expected a positive time, got {text}")
    return value


def _names_or_all(text: str, kind: str) -> list[str]:
    from rooflint.catalog import builtin_names

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise SpecError(f"--{kind}", None, "expected a comma list of names, or all")
    return builtin_names("models" if kind == "models" else "hardware") if names == ["all"] else names


@app.command()
@guarded
def sweep(
    models: Annotated[str, typer.Option("--models", "-m", help="Comma list of models (names or files), or all.")] = "all",
    gpus: Annotated[str, typer.Option("--gpus", "-g", help="Comma list of GPUs (names or files), or all.")] = "all",
    batch: Annotated[str, typer.Option("--batch", "-b", help="Batch sizes, e.g. 1,8,64.")] = "1,8,32,128",
    context: Annotated[str, typer.Option("--context", "-c", help="Contexts, e.g. 1k,8k,32k.")] = "1k,4k,16k,64k",
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache dtypes, e.g. fp16,fp8,int4.")] = "fp16,fp8",
    attention_kernel: Annotated[str, typer.Option("--attention", help="eager, flash or both: eager,flash.")] = "eager,flash",
    dtype: DtypeOpt = "fp16",
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """A grid of models x GPUs x batch x context x KV dtype x attention: memory, fit, decode time."""
    import time

    from rooflint.catalog import load_hardware, load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.output import write_atomic
    from rooflint.report.render import render
    from rooflint.report.sweep_view import sweep_csv, sweep_json, sweep_report
    from rooflint.sweep import Grid, sweep as run_sweep

    dt = lookup(dtype)
    specs = [load_model(n) for n in _names_or_all(models, "models")]
    hws = [load_hardware(n) for n in _names_or_all(gpus, "gpus")]
    names = [h.name for h in hws if not h.supports(dt)]
    if names:
        raise SpecError("--gpus", None, f"{', '.join(names)} have no {dt.peak_key} peak; drop them or pick another --dtype")
    modes = [a.strip() for a in attention_kernel.split(",") if a.strip()]
    bad = [a for a in modes if a not in ("eager", "flash")]
    if bad or not modes:
        raise SpecError("--attention", None, f"expected eager, flash or eager,flash, got {attention_kernel!r}")
    grid = Grid(specs, hws, _counts(batch, "--batch"), _counts(context, "--context"),
                [lookup(k, "--kv-dtype") for k in kv_dtype.split(",") if k.strip()], modes, dt)
    start = time.perf_counter()
    cols = run_sweep(grid)
    meta = {"dtype": dt.name, "configurations": grid.size, "seconds": time.perf_counter() - start}
    if fmt == Format.csv:
        text = sweep_csv(cols)
    elif fmt == Format.json:
        text = sweep_json(cols, meta)
    else:
        text = render(sweep_report(cols, meta), fmt.value)
    if output:
        write_atomic(output, text)
    else:
        sys.stdout.write(text)


@app.command()
@guarded
def check(
    budget: Annotated[str, typer.Argument(help="A budget YAML: cases (model, gpu, settings or measured kernels) and their limits.")],
    markdown: Annotated[Optional[str], typer.Option("--markdown", help="Also write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")] = None,
    junit: Annotated[Optional[str], typer.Option("--junit", help="Also write JUnit XML here.")] = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """A CI gate: exit 0 when every limit of the budget holds, 1 when one is broken, 2 on bad input."""
    from rooflint.budget import evaluate, load_budget
    from rooflint.report.check_view import check_report, junit_xml, markdown_summary
    from rooflint.report.output import write_atomic

    spec = load_budget(budget)
    checks = evaluate(spec)
    if markdown:
        write_atomic(markdown, markdown_summary(budget, checks))
    if junit:
        write_atomic(junit, junit_xml(budget, checks))
    _emit(check_report(budget, checks), fmt, output, False)
    if not all(c.passed for c in checks):
        raise typer.Exit(1)


@app.command()
@guarded
def plot(
    model: Annotated[str, typer.Argument(help="Built-in model name, a model YAML, or a HF config.json (or its folder).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Image file: .png or .svg (written whole or not at all).")],
    gpu: GpuOpt = "a100",
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Prompt tokens per sequence.")] = "4096",
    batch: Annotated[str, typer.Option("--batch", "-b", help="Sequences in the batch.")] = "1",
    context: Annotated[Optional[str], typer.Option("--context", "-c", help="Tokens attended in the decode step (default: the prompt).")] = None,
    dtype: DtypeOpt = "fp16",
    kv_dtype: KvDtypeOpt = None,
    attention_kernel: Annotated[Attention, typer.Option("--attention", help="eager: S/P through memory; flash: fused.")] = Attention.eager,
    measured: Annotated[Optional[str], typer.Option("--measured", help="A saved `rooflint measure -f json` run: its kernels are placed too.")] = None,
    set_: SetOpt = None,
) -> None:
    """The roofline with prefill and decode ops (and measured kernels) placed on it, and memory vs context."""
    from rooflint.analysis.inference import Settings
    from rooflint.catalog import load_hardware, load_model
    from rooflint.dtypes import dtype as lookup
    from rooflint.report.output import write_atomic

    if not output.lower().endswith((".png", ".svg")):
        raise SpecError("--output", None, f"expected a .png or .svg file, got {output}")
    try:
        from rooflint.plot import render_png_or_svg
        import matplotlib  # noqa: F401
    except ImportError:
        raise SpecError("plot", None, "needs matplotlib: pip install 'rooflint[plot]'") from None
    spec, hw = load_model(model, _overrides(set_)), load_hardware(gpu)
    settings = Settings(batch=_count(batch, "--batch"), prompt=_count(prompt, "--prompt"),
                        context=_count(context, "--context"), dtype=lookup(dtype),
                        kv_dtype=_optional_dtype(kv_dtype, "--kv-dtype"), attention=attention_kernel.value)
    rows = ()
    if measured:
        from rooflint.compare import compare
        from rooflint.measure.session import calibrate_run, load_run

        run = load_run(measured)
        cal = calibrate_run(run)
        rows = tuple(compare(m, hw, cal.hardware(None, m.backend) if cal and m.backend in cal.stacks else None)
                     for m in run.measurements)
    write_atomic(output, render_png_or_svg(output, spec, hw, settings, rows))
    typer.echo(f"wrote {output}", err=True)
