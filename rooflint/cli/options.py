"""Options as every command declares them: one name, one metavar, one help text, the default
shown from the workload's own constants (the CLI picks none: an option left out is None and
resolve() decides). `workload()` turns the parsed options into the library's Workload."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Optional

import typer

from rooflint import workload as w
from rooflint.cli import params as p
from rooflint.errors import SpecError
from rooflint.specs.engine import DEFAULT_ENGINE
from rooflint.workload import Workload

FORMATS = ("table", "csv", "json", "markdown")


def _opt(*decls: str, metavar: str, help: str, default: str | None = None):
    return typer.Option(*decls, metavar=metavar, help=help, show_default=default or False)


ModelArg = Annotated[str, typer.Argument(metavar="MODEL", help="A built-in model name, a model YAML, or a Hugging "
                                                               "Face config.json (or the folder holding it).")]
Gpu = Annotated[Optional[str], _opt("--gpu", "-g", metavar="GPU", default=w.DEFAULT_GPU,
                                    help="A built-in GPU name or alias, or a hardware YAML file.")]
Batch = Annotated[Optional[str], _opt("--batch", "-b", metavar=p.COUNT, default=str(w.DEFAULT_BATCH),
                                      help="Sequences in the batch.")]
Prompt = Annotated[Optional[str], _opt("--prompt", "-p", metavar=p.COUNT,
                                       default=f"the context less the prefix, else min({w.DEFAULT_PROMPT}, the "
                                               "model's max positions)",
                                       help="New prompt tokens per sequence (4k = 4096).")]
Context = Annotated[Optional[str], _opt("--context", "-c", metavar=p.COUNT, default="prefix + prompt",
                                        help="Tokens a decode step attends over.")]
Prefix = Annotated[Optional[str], _opt("--prefix", metavar=p.COUNT, default="0",
                                       help="Tokens already cached before the prompt (prefix cache, chunked prefill).")]
Dtype = Annotated[Optional[str], _opt("--dtype", metavar=p.DTYPE, default=w.DEFAULT_DTYPE,
                                      help="Activations (and the weights and KV cache unless given).")]
KvDtype = Annotated[Optional[str], _opt("--kv-dtype", metavar=p.DTYPE, default="--dtype",
                                        help="KV cache elements; int8/int4 carry fp16 scales.")]
WeightDtype = Annotated[Optional[str], _opt("--weight-dtype", metavar=p.DTYPE, default="--dtype",
                                            help="Weights (weight-only quantization: fp8, int8, int4).")]
KvGroup = Annotated[Optional[str], _opt("--kv-group-size", metavar=p.COUNT, default="64 for int8/int4",
                                        help="KV elements per fp16 scale.")]
WeightGroup = Annotated[Optional[str], _opt("--weight-group-size", metavar=p.COUNT, default="128 for int4",
                                            help="Weight elements per fp16 scale.")]
Quantize = Annotated[Optional[str], _opt("--quantize", metavar="linear|all", default="linear",
                                         help="Which weights --weight-dtype applies to: the decoder's linear "
                                              "layers (the embedding, lm_head, routers and norms stay 16-bit), or all.")]
Attention = Annotated[Optional[str], _opt("--attention", metavar="eager|flash", default=w.DEFAULT_ATTENTION,
                                          help="eager: S and P through memory; flash: one fused kernel.")]
MlaMode = Annotated[Optional[str], _opt("--mla-mode", metavar="absorbed|naive|expand", default=w.DEFAULT_MLA_MODE,
                                        help="MLA: the latent cached and absorbed into q and o (absorbed), the "
                                             "decompressed K/V cached (naive), or the latent cached and re-expanded "
                                             "through kv_b_proj every step (expand).")]
FlashTile = Annotated[Optional[str], _opt("--flash-tile", metavar=p.TILE, default="from the SRAM per SM",
                                          help="Flash-attention tiles.")]
AllLogits = Annotated[bool, typer.Option("--all-logits", help="lm_head on every prefill position, not just the last.")]
MemUtil = Annotated[Optional[str], _opt("--mem-util", metavar=p.FRACTION, default=str(w.DEFAULT_MEMORY_UTILIZATION),
                                        help="Share of the GPU memory a deployment may use.")]
Chunk = Annotated[Optional[str], _opt("--chunk", metavar=p.COUNT, default=str(w.DEFAULT_CHUNK),
                                      help="Prefill chunk: sizes the activation workspace (and plan's chunked prefill).")]
Set = Annotated[Optional[list[str]], typer.Option("--set", metavar="FIELD=VALUE",
                                                  help="Override a model field, e.g. num_key_value_heads=8.")]
AsFamily = Annotated[Optional[str], typer.Option("--as-family", metavar="FAMILY",
                                                 help="Read a config.json whose model_type rooflint does not know as "
                                                      "this family (a derivative you vouch for has its modules).")]
Format = Annotated[Optional[str], _opt("--format", "-f", metavar="table|csv|json|markdown", default="table",
                                       help="Output format.")]
Output = Annotated[Optional[str], _opt("--output", "-o", metavar="FILE", default="stdout",
                                       help="Write to this file (whole or not at all).")]
Engine = Annotated[Optional[str], _opt("--engine", "-e", metavar="gpt-fast|vllm|sglang|trtllm|llama.cpp|hf",
                                       default=DEFAULT_ENGINE,
                                       help="The engine the forecast assumes (its launches, fusions, step overhead), "
                                            "or an engine YAML file.")]
Explain = Annotated[bool, typer.Option("--explain", help="Show each figure's formula with its terms.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr (it is shown only on a terminal).")]


def fmt(text: str | None) -> str:
    return p.choice(text, FORMATS, "--format") or "table"


def report_target(output: str | None) -> None:
    """-o names the report's file: an image name there is a plot asked for in the wrong place."""
    if output and output.lower().endswith((".png", ".svg")):
        raise SpecError("--output", None, f"-o writes the report (table, csv, json or markdown), not an image; "
                        f"draw the plot with --plot {output}")


def workload(batch=None, prompt=None, context=None, prefix=None, dtype=None, kv_dtype=None, weight_dtype=None,
             kv_group_size=None, weight_group_size=None, quantize=None, attention=None, mla_mode=None,
             flash_tile=None, all_logits=False, mem_util=None, chunk=None, new_tokens=None, engine=None) -> Workload:
    """The Workload the options describe; what was left out stays None for resolve()."""
    return Workload(
        batch=p.whole(batch, "--batch"), prompt=p.whole(prompt, "--prompt"), context=p.whole(context, "--context"),
        prefix=p.whole(prefix, "--prefix", 0) or 0, new_tokens=p.whole(new_tokens, "--new-tokens"),
        dtype=p.dtype_name(dtype, "--dtype"), kv_dtype=p.dtype_name(kv_dtype, "--kv-dtype"),
        weight_dtype=p.dtype_name(weight_dtype, "--weight-dtype"),
        kv_group_size=p.whole(kv_group_size, "--kv-group-size"),
        weight_group_size=p.whole(weight_group_size, "--weight-group-size"),
        quantize=p.choice(quantize, w.QUANTIZE_SCOPES, "--quantize") or "linear",
        attention=p.choice(attention, w.ATTENTIONS, "--attention"),
        mla_mode=p.choice(mla_mode, w.MLA_MODES, "--mla-mode"), flash_tile=p.tile(flash_tile, "--flash-tile"),
        all_logits=all_logits, memory_utilization=p.fraction(mem_util, "--mem-util"), chunk=p.whole(chunk, "--chunk"),
        engine=engine)

Network = Annotated[Optional[str], _opt("--network", metavar="BANDWIDTH", default="the profile's network",
                                        help="Per-GPU bandwidth between nodes, one way: 50GB/s (NDR InfiniBand).")]


def with_network(hw, network: str | None):
    """hw with --network as its per-GPU bandwidth between nodes (unchanged without it)."""
    if network is None:
        return hw
    return replace(hw, network_bytes_per_s=p.bandwidth(network, "--network"))
