"""Output of `rooflint sweep`: every point as CSV, JSON records, Parquet or npz; a table (or
Markdown) shows the first rows; --explain shows the first point's figures as terms.

Machine formats hold raw base-unit numbers. CSV writes a column of whole-valued floats (the byte
counts) as integers, like every rooflint CSV, and uses pyarrow's C++ writer when pyarrow is
installed (numpy and the standard library otherwise: the same columns, floats spelled by repr).
Parquet keeps the labels as dictionary columns. npz holds each label column as integer codes
with its names beside it (`model` indexes `model_names`), every other column as its numpy array.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rooflint.analysis.sweep import LABELS, Sweep, point_terms
from rooflint.errors import SpecError
from rooflint.report.explain import as_json
from rooflint.report.model import Column, Report, Section, Table

SCHEMA = "rooflint.sweep/2"
HEADERS = {
    "model": ("model", "text"), "gpu": ("GPU", "text"), "batch": ("batch", "int"), "context": ("context", "int"),
    "kv_dtype": ("KV", "text"), "attention": ("attn", "text"), "weights_bytes": ("weights", "bytes"),
    "kv_bytes": ("KV cache", "bytes"), "workspace_bytes": ("workspace", "bytes"), "memory_bytes": ("memory", "bytes"),
    "free_bytes": ("free", "bytes"), "fits": ("fits", "text"), "tpot_s": ("TPOT", "seconds"),
    "tpot_forecast_s": ("forecast", "seconds"), "decode_tokens_per_s": ("tok/s", "ratio"),
    "ttft_s": ("TTFT", "seconds"), "ttft_forecast_s": ("forecast", "seconds"),
    "prefill_tokens_per_s": ("prefill tok/s", "ratio"),
}
TABLE_OMITS = ("weights_bytes", "workspace_bytes", "free_bytes", "decode_tokens_per_s", "prefill_tokens_per_s")  # width
DROPS = {"attention": 6, "kv_dtype": 5, "ttft_forecast_s": 4, "ttft_s": 3, "kv_bytes": 2, "memory_bytes": 1}  # narrow first


def table_columns(result: Sweep) -> tuple[Column, ...]:
    return tuple(Column(k, *HEADERS[k], DROPS.get(k, 0)) for k in result.columns if k not in TABLE_OMITS)
SHOWN = 40
CHUNK = 1 << 16  # rows per piece of text
_QUOTE = set(',"\r\n')


def _meta(result: Sweep) -> dict[str, Any]:
    return {"schema": SCHEMA, "dtype": result.dtype,
            "configurations": len(result), "seconds": result.seconds, "columns": list(result.columns)}


def sweep_report(result: Sweep, shown: int = SHOWN) -> Report:
    n = len(result)
    rows = []
    for i in range(min(n, shown)):
        row = result.row(i)
        row["fits"] = "yes" if row["fits"] else "no"
        rows.append(row)
    notes = [(f"showing the first {len(rows)} of {n} configurations; -f csv or json (or -f parquet|npz -o FILE) "
              "writes them all")] if n > shown else []
    longest = max(result.grid.contexts)
    beyond = [f"{m.name} ({m.max_position_embeddings})" for m in result.grid.models
              if m.max_position_embeddings and longest > m.max_position_embeddings]
    if beyond:
        notes.append(f"contexts up to {longest} exceed the max_position_embeddings of {', '.join(beyond)}")
    notes.append("time/token: a decode step at the context; TTFT: the prefill of a `context`-token prompt; "
                 "fits: mem-util x capacity - memory >= 0")
    return Report(SCHEMA, f"rooflint sweep: {n} configurations", _meta(result),
                  (Table("sweep", table_columns(result), tuple(rows)),),
                  (("configurations", n, "int"), ("fit in memory", result.fitting, "int")), tuple(notes),
                  lambda: sweep_explanation(result))


def sweep_explanation(result: Sweep, i: int = 0) -> tuple[Section, ...]:
    row = result.row(i)
    title = (f"points[{i}]: {row['model']} on {row['gpu']}, batch {row['batch']}, context {row['context']}, "
             f"KV {row['kv_dtype']}, {row['attention']} attention")
    terms = point_terms(result, i)
    notes = tuple(f"{t.symbol}: {t.note}" for t in terms if t.note)
    return (Section(title, tuple(terms),
                    (f"fits = free_bytes >= 0: {'yes' if row['fits'] else 'no'}", *notes,
                     "t_<op>: count x time of each op of the pass, as rooflint analyze shows them one by one")),)


# ------------------------------------------------------------------ JSON

def sweep_json(result: Sweep, explain: bool = False) -> str:
    """{schema, dtype, configurations, seconds, columns, points: [records]} (+ explanation)."""
    head = json.dumps(_meta(result))[:-1]
    parts = [head, ', "points": [\n']
    for start in range(0, len(result), CHUNK):
        if start:
            parts.append(",\n")
        parts.append(",\n".join(_records(result, start, min(start + CHUNK, len(result)))))
    parts.append("\n]")
    if explain:
        parts.append(', "explanation": ' + json.dumps(as_json(sweep_explanation(result)), indent=1))
    parts.append("}\n")
    return "".join(parts)


def _records(result: Sweep, start: int, stop: int) -> list[str]:
    cols = []
    for k in result.columns:
        values = result.column(k, start, stop).tolist()
        if k in LABELS:
            quoted = [json.dumps(name) for name in result.names[k]]
            values = [quoted[c] for c in values]
        elif k == "fits":
            values = ["true" if v else "false" for v in values]
        elif k not in ("batch", "context"):
            values = [json.dumps(v) for v in values] if not all(map(_finite, values)) else list(map(repr, values))
        cols.append(values)
    template = "{" + ", ".join(f'"{k}": %s' for k in result.columns) + "}"
    return [template % row for row in zip(*cols)]


def _finite(v: float) -> bool:
    return v - v == 0


# ------------------------------------------------------------------ CSV

def sweep_csv(result: Sweep) -> bytes:
    """Every point, a header of the column keys; pyarrow's C++ writer when it is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return _csv_python(result)
    return _csv_arrow(result)


def _plain(result: Sweep) -> bool:
    """No label needs quoting."""
    return not any(_QUOTE & set(name) for k in LABELS for name in result.names[k])


def _integral(values) -> bool:
    import numpy as np

    return bool(values.size) and bool(np.all(np.floor(values) == values)) and float(np.abs(values).max()) < 2**53


def _csv_arrow(result: Sweep) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(result.columns)
    sink = pa.BufferOutputStream()
    sink.write(header.getvalue().encode())
    options = pcsv.WriteOptions(include_header=False, batch_size=CHUNK,  # 1024 rows by default: 2x slower
                                quoting_style="none" if _plain(result) else "needed")
    pcsv.write_csv(_arrow_table(result, integers=True), sink, options)
    return memoryview(sink.getvalue())


def _arrow_table(result: Sweep, integers: bool = False):
    import numpy as np
    import pyarrow as pa

    arrays = []
    for k in result.columns:
        values = result.column(k)
        if k in LABELS:
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(values), pa.array(result.names[k], pa.string())))
            continue
        if integers and values.dtype == np.float64 and _integral(values):
            values = values.astype(np.int64)
        arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=list(result.columns))


def _csv_python(result: Sweep) -> bytes:
    """The same file without pyarrow: numpy columns to text, rows joined a chunk at a time."""
    import numpy as np

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    ints = {k for k in result.columns if k not in LABELS and k != "fits"
            and (k in ("batch", "context") or _integral(result.column(k)))}
    plain = _plain(result)
    for start in range(0, len(result), CHUNK):
        stop = min(start + CHUNK, len(result))
        cols = []
        for k in result.columns:
            values = result.column(k, start, stop)
            if k in LABELS:
                names = np.asarray(result.names[k], dtype=object)
                cols.append(names[values].tolist())
            elif k == "fits":
                cols.append(np.where(values, "true", "false").tolist())
            elif k in ints:
                cols.append(list(map(str, values.astype(np.int64).tolist())))
            else:
                cols.append(list(map(repr, values.tolist())))
        if plain:
            out.write("\n".join(map(",".join, zip(*cols))))
            out.write("\n")
        else:
            writer.writerows(zip(*cols))
    return out.getvalue().encode()


# ------------------------------------------------------------------ columnar files

def require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise SpecError("--format", None, "parquet needs pyarrow: pip install 'rooflint[arrow]'") from None


def sweep_parquet(result: Sweep) -> bytes:
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    repeated = [*LABELS, "batch", "context", "weights_bytes", "workspace_bytes"]  # few distinct values
    pq.write_table(_arrow_table(result), sink, use_dictionary=repeated)
    return memoryview(sink.getvalue())


def sweep_npz(result: Sweep) -> bytes:
    import numpy as np

    arrays = {k: result.column(k) for k in result.columns}
    arrays.update({f"{k}_names": np.asarray(result.names[k], dtype=str) for k in LABELS})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getbuffer()
