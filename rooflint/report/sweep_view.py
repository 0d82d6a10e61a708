"""Output of `rooflint sweep`: whole columns as CSV or JSON; a table shows the first rows."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rooflint.report.model import Column, Report, Table

SCHEMA = "rooflint.sweep/1"
COLUMNS = (Column("model", "model"), Column("gpu", "GPU"), Column("batch", "batch", "int"),
           Column("context", "context", "int"), Column("kv_dtype", "KV"), Column("attention", "attention"),
           Column("weights_bytes", "weights", "bytes"), Column("kv_bytes", "KV cache", "bytes"),
           Column("memory_bytes", "memory", "bytes"), Column("fits", "fits"),
           Column("tpot_s", "time/token", "seconds"), Column("decode_tokens_per_s", "tokens/s", "ratio"))


def _value(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return v


def sweep_csv(cols: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    keys = [c.key for c in COLUMNS]
    w.writerow(keys)
    w.writerows(zip(*(cols[k].tolist() for k in keys)))
    return out.getvalue()


def sweep_json(cols: dict, meta: dict) -> str:
    keys = [c.key for c in COLUMNS]
    rows = [dict(zip(keys, r)) for r in zip(*(cols[k].tolist() for k in keys))]
    return json.dumps({"schema": SCHEMA, **meta, "points": rows}) + "\n"


def sweep_report(cols: dict, meta: dict, limit: int = 40) -> Report:
    n = len(cols["model"])
    keys = [c.key for c in COLUMNS]
    rows = tuple({k: _value(cols[k][i]) if k != "fits" else ("yes" if cols[k][i] else "no") for k in keys}
                 for i in range(min(n, limit)))
    fits = int(cols["fits"].sum())
    notes = [f"showing {len(rows)} of {n} points; -f csv or -f json writes them all"] if n > limit else []
    notes.append("decode step at the context (eager or flash kernel); prefill is not swept (see rooflint analyze)")
    return Report(SCHEMA, f"rooflint sweep: {n} configurations", {"schema": SCHEMA, **meta},
                  (Table("sweep", COLUMNS, rows),),
                  (("configurations", n, "int"), ("fit in memory", fits, "int")), tuple(notes))
