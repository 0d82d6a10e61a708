"""Output of `rooflint check`: a table, a Markdown summary for a CI job page, JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from rooflint.budget.evaluate import Check, keyed
from rooflint.report.model import Column, Report, Section, Table
from rooflint.report.render import human
from rooflint.report.render_values import md_cell

SCHEMA = "rooflint.check/2"


def _shown(value: Any, kind: str) -> str:
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "number":
        return f"{value:,.1f}"
    return human(value, {"percent": "percent"}.get(kind, kind))


def _row(c: Check) -> dict[str, Any]:
    op = "=" if c.kind == "bool" else ("≤" if c.limit.startswith("max_") else "≥")
    return {"case": c.case, "limit": c.limit, "value": c.value, "threshold": c.threshold,
            "shown": f"{_shown(c.value, c.kind)} {op} {_shown(c.threshold, c.kind)}",
            "result": "pass" if c.passed else "FAIL", "detail": c.detail}


def check_report(path: str, checks: list[Check]) -> Report:
    failed = sum(not c.passed for c in checks)
    rows = tuple(_row(c) for c in checks)
    cols = (Column("case", "case"), Column("limit", "limit"), Column("shown", "value vs limit"),
            Column("result", "result"), Column("detail", "detail"))
    records = [{k: v for k, v in r.items() if k != "shown"} for r in rows]
    for rec, c in zip(records, checks):
        if c.kind == "bool" and c.term is not None:
            rec["free_bytes"] = c.term.value
    data = {"schema": SCHEMA, "budget": path, "passed": not failed, "failed": failed, "checks": records}
    title = f"rooflint check {path}: {'all limits hold' if not failed else f'{failed} of {len(checks)} limits broken'}"
    return Report(SCHEMA, title, data, (Table("limits", cols, rows),),
                  (("checks", len(checks), "int"), ("failed", failed, "int")),
                  explain=lambda: (Section("the figures the limits are held against (fits: free_bytes >= 0)",
                                           tuple(keyed(checks))),))


def markdown_summary(path: str, checks: list[Check]) -> str:
    failed = sum(not c.passed for c in checks)
    head = "✅ all limits hold" if not failed else f"❌ {failed} of {len(checks)} limits broken"
    lines = [f"### rooflint check `{md_cell(path).replace('`', '')}`: {head}", "", "| case | limit | value vs limit | result | detail |",
             "|---|---|---|---|---|"]
    for c in checks:
        r = _row(c)
        lines.append(f"| {md_cell(r['case'])} | `{r['limit']}` | {md_cell(r['shown'])} | "
                     f"{'✅ pass' if c.passed else '❌ **FAIL**'} | {md_cell(r['detail'])} |")
    return "\n".join(lines) + "\n"


def junit_xml(path: str, checks: list[Check]) -> str:
    suite = ET.Element("testsuite", name="rooflint check", tests=str(len(checks)),
                       failures=str(sum(not c.passed for c in checks)), errors="0", file=path)
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"rooflint.{c.case}", name=c.limit)
        if not c.passed:
            failure = ET.SubElement(case, "failure", message=f"{c.limit}: {_row(c)['shown']} does not hold")
            failure.text = c.detail
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(ET.Element("testsuites"), encoding="unicode")[:-3] \
        + ">\n" + ET.tostring(suite, encoding="unicode") + "\n</testsuites>\n"
