"""`rooflint report`: one self-contained HTML file (inline SVG, CSS and a few lines of script;
nothing fetched) per model and one or more GPUs: the settings, an interactive roofline per GPU
(hover an op for its FLOPs, bytes, bound, time, forecast and formula), memory against context
with the capacity line, prefill against decode, and the per-op tables (click a header to sort).

Every number is the analyzer's (analyze's op rows and terms); this module only lays them out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from rooflint.analysis import memory
from rooflint.analysis.inference import Analysis, PhaseResult
from rooflint.analysis.terms import figure_values
from rooflint.report.common import op_rows
from rooflint.report.plot import kv_label, memory_curves
from rooflint.report.render_values import human
from rooflint.report.svg_charts import PHASE_COLORS, Dot, lines_svg, roofline_svg

SCHEMA = "rooflint.report/1"
CONTEXTS = tuple(2**k for k in range(8, 18))  # 256 .. 128k tokens
_TABLE = (("name", "op", "text"), ("count", "×", "count"), ("flops", "FLOPs", "flops"),
          ("bytes", "bytes", "bytes"), ("intensity", "FLOP/B", "intensity"), ("bound", "bound", "text"),
          ("time_s", "time (each)", "seconds"), ("time_forecast_s", "forecast (each)", "seconds"),
          ("share", "share of the pass", "percent"))


def _tip(row: dict, formulas: dict, phase: str) -> tuple[str, ...]:
    """The lines a hover shows: exact counts beside the readable ones, and the op's formulas."""
    forecast = (f", forecast {human(row['time_forecast_s'], 'seconds')}"
                if row.get("time_forecast_s") is not None else "")
    lines = [f"{row['name']} ({phase}, ×{row['count']} per pass): {row['bound']}-bound, "
             f"time {human(row['time_s'], 'seconds')}{forecast}",
             f"  FLOPs: {row['flops']:,.0f} ({human(row['flops'], 'flops')}), "
             f"bytes: {row['bytes']:,.0f} ({human(row['bytes'], 'bytes')}), {row['intensity']:.4g} FLOP/B"]
    lines += [f"  {k} = {v}" for k, v in formulas.items()]
    return tuple(lines)


def _rows(phase: PhaseResult) -> list[dict]:
    out = []
    for row, t in zip(op_rows(phase), phase.ops):
        out.append({**row, "bytes": row["bytes_read"] + row["bytes_written"], "formulas": dict(t.op.formulas),
                    "attainable_flop_per_s": t.attainable_flop_per_s})
    return out


def roofline_dots(a: Analysis) -> list[Dot]:
    """Every op of prefill and decode that does arithmetic on data (a log axis has no place for 0)."""
    dots = []
    for phase in (a.prefill, a.decode):
        for row in _rows(phase):
            if row["flops"] > 0 and row["bytes"] > 0:
                dots.append(Dot(row["intensity"], row["attainable_flop_per_s"], phase.name, row["name"],
                                _tip(row, row["formulas"], phase.name)))
    return dots


def memory_series(a: Analysis, contexts: Sequence[int] = CONTEXTS) -> dict[str, list[float]]:
    """Bytes at each context for the batch: weights, KV cache and workspace (the plot's
    memory_curves), and their total by the memory rule (memory.RULE's total_bytes)."""
    curves = memory_curves(a, list(contexts))
    kv = curves[kv_label(a)]
    total = [figure_values(memory.RULE[:1], {"weights_bytes": a.weights_bytes, "kv_cache_bytes": k,
                                             "workspace_bytes": a.workspace_bytes})["memory.total_bytes"] for k in kv]
    return {"weights": curves["weights"], f"KV cache ({'latent' if a.model.is_mla else a.resolved.kv.name})": kv,
            "activation workspace": curves["activation workspace"], "total": total}


def _table(title: str, rows: list[dict], css: str) -> str:
    head = "".join(f'<th data-kind="{k}">{escape(h)}</th>' for _, h, k in _TABLE)
    body = []
    for row in rows:
        cells = []
        for key, _, kind in _TABLE:
            v = row.get(key)
            raw = v if isinstance(v, (int, float)) else escape(str(v))
            cells.append(f'<td data-value="{raw}">{escape(human(v, kind))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<h4>{escape(title)}</h4><table class="ops sortable {css}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _kv(rows: Sequence[tuple[str, str]], css: str = "settings") -> str:
    return (f'<table class="{css}">' + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
            + "</table>")


def _phases(a: Analysis) -> str:
    rows = "".join(
        f"<tr><th>{name}</th><td>{human(p.flops, 'flops')}</td><td>{human(p.bytes, 'bytes')}</td>"
        f"<td>{human(t, 'seconds')}</td><td>{human(f, 'seconds')}</td><td>{rate:,.0f}</td></tr>"
        for name, p, t, f, rate in (("prefill", a.prefill, a.ttft_s, a.ttft_forecast_s, a.prefill_tokens_per_s),
                                    ("decode step", a.decode, a.tpot_s, a.tpot_forecast_s, a.decode_tokens_per_s)))
    return ('<table class="phases"><thead><tr><th></th><th>FLOPs</th><th>bytes</th><th>bound</th>'
            f'<th>forecast ({escape(a.resolved.engine.name)})</th><th>tokens/s</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _gpu_section(a: Analysis, contexts: Sequence[int]) -> str:
    hw, r = a.hardware, a.resolved
    usable = a.terms["memory.usable_bytes"].value
    roof = roofline_svg(f"{a.model.name} on {hw.name}: roofline", dict(hw.peak_flop_per_s), hw.bandwidth_bytes_per_s,
                        r.act.peak_key, roofline_dots(a))
    mem = lines_svg(f"{a.model.name} on {hw.name}: memory vs context (batch {r.batch})", list(contexts),
                    memory_series(a, contexts),
                    {f"{hw.name} capacity": hw.capacity_bytes,
                     f"usable ({r.memory_utilization:g} x capacity)": usable}, "context (tokens)", "bytes", "", "B")
    fits = "fits" if a.fits else "does not fit"
    return (f'<section class="gpu" data-gpu="{escape(hw.name)}"><h2>{escape(hw.name)}</h2>'
            f"<p>{escape(hw.description or hw.name)}: {hw.peak(r.act.peak_key) / 1e12:g} TFLOP/s {r.act.name}, "
            f"{hw.bandwidth_bytes_per_s / 1e9:g} GB/s, ridge {hw.ridge_point(r.act.peak_key):.1f} FLOP/B; "
            f"{human(a.total_bytes, 'bytes')} needed of {human(usable, 'bytes')} usable "
            f"({r.memory_utilization:g} x {human(hw.capacity_bytes, 'bytes')}): {fits}.</p>"
            f'<div class="charts">{roof}{mem}</div>'
            f"<h3>prefill vs decode</h3>{_phases(a)}"
            f"<h3>ops</h3>{_table('prefill', _rows(a.prefill), 'prefill')}{_table('decode step', _rows(a.decode), 'decode')}"
            "</section>")


def _settings(a: Analysis) -> list[tuple[str, str]]:
    r = a.resolved
    rows = [("model", f"{a.model.name} ({human(a.param_count, 'count')} params)"),
            ("batch", str(r.batch)), ("prompt", str(r.prompt)), ("prefix", str(r.prefix)),
            ("decode context", str(r.context)), ("activations", r.act.name), ("weights", r.weight.name),
            ("KV cache", r.kv.name), ("attention", r.attention), ("engine (forecast)", r.engine.name),
            ("memory utilization", f"{r.memory_utilization:g}"), ("prefill chunk", str(r.chunk))]
    return rows + [("default", d) for d in r.defaults] + [("note", n) for n in r.notes]


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:18px;border-top:2px solid #ccc;padding-top:8px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.plot-area{fill:#fcfcfc;stroke:#999}.grid{stroke:#e4e4e4}.tick{font-size:10px;fill:#555}.axis-label{font-size:11px}
.roof{fill:none;stroke-width:1}.roof.active{stroke-width:2.2}.series{fill:none;stroke-width:1.8}
.level{fill:none;stroke-width:1.2}.ridge{fill:#000}.op{cursor:pointer;stroke:#fff;stroke-width:.8}
.op:hover,.op.hot{stroke:#000;stroke-width:2}
table{border-collapse:collapse;margin:6px 0 14px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3}.settings th{text-align:left}td:first-child,th:first-child{text-align:left}
.sortable th{cursor:pointer}.sortable th.asc:after{content:" ▲"}.sortable th.desc:after{content:" ▼"}
#tooltip{position:fixed;display:none;pointer-events:none;background:#222;color:#fff;padding:6px 8px;
border-radius:4px;font:12px/1.35 ui-monospace,monospace;white-space:pre-wrap;max-width:min(640px,90vw);
max-height:90vh;overflow:hidden;z-index:9}
.legend span{margin-right:14px;white-space:nowrap}.dot{display:inline-block;width:10px;height:10px;border-radius:5px}
figure{margin:0;border:1px solid #ddd;background:#fff;padding:4px}figcaption{font-size:12px;max-width:560px}
.key{display:inline-block;width:18px;margin-right:4px;vertical-align:middle;border-top-width:2px}
.key.solid{border-top-style:solid}.key.dashed{border-top-style:dashed}.key.dotted{border-top-style:dotted}
.settings td{text-align:left}"""

_SCRIPT = """(function(){
const tip=document.getElementById('tooltip');
document.querySelectorAll('.op').forEach(function(p){
 p.addEventListener('mouseenter',function(e){tip.textContent=p.dataset.tip;tip.style.display='block';
  p.classList.add('hot');move(e);});
 p.addEventListener('mousemove',move);
 p.addEventListener('mouseleave',function(){tip.style.display='none';p.classList.remove('hot');});});
function move(e){const w=tip.offsetWidth,h=tip.offsetHeight;
 tip.style.left=Math.max(0,Math.min(e.clientX+14,innerWidth-w-4))+'px';
 tip.style.top=Math.max(0,(e.clientY+14+h>innerHeight?e.clientY-h-14:e.clientY+14))+'px';}
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(h,i){h.addEventListener('click',function(){
  const asc=!h.classList.contains('asc');t.querySelectorAll('th').forEach(x=>x.classList.remove('asc','desc'));
  h.classList.add(asc?'asc':'desc');const body=t.tBodies[0];const rows=Array.from(body.rows);
  const num=h.dataset.kind!=='text';
  rows.sort(function(a,b){let x=a.cells[i].dataset.value,y=b.cells[i].dataset.value;
   if(num){x=parseFloat(x);y=parseFloat(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(r=>body.appendChild(r));});});});
document.body.dataset.ready='1';})();"""


def report_html(analyses: Sequence[Analysis], contexts: Sequence[int] = CONTEXTS) -> str:
    """The page for one model on each GPU of `analyses` (the same workload on each)."""
    first = analyses[0]
    data = {"schema": SCHEMA, "model": first.model.name, "gpus": [a.hardware.name for a in analyses]}
    legend = (f'<p class="legend"><span><i class="dot" style="background:{PHASE_COLORS["prefill"]}"></i> prefill op'
              f'</span><span><i class="dot" style="background:{PHASE_COLORS["decode"]};border-radius:0;'
              'transform:rotate(45deg)"></i> decode op</span><span>— the active dtype\'s roof (others grey); hover '
              'a point for its numbers and formula</span></p>')
    sections = "".join(_gpu_section(a, contexts) for a in analyses)
    title = f"rooflint: {first.model.name} on {', '.join(a.hardware.name for a in analyses)}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"
            f"<h3>settings</h3>{_kv(_settings(first))}{legend}{sections}"
            f'<div id="tooltip"></div><script type="application/json" id="rooflint-data">'
            f"{_script_json(data)}</script><script>{_SCRIPT}</script></body></html>")


def _script_json(data: dict) -> str:
    """JSON inside a <script> element: not entity-escaped (a script's text is not decoded), but
    no "</" (which would end the element) and no "<!--"."""
    return json.dumps(data).replace("</", "<\\/").replace("<!--", "<\\u0021--")
