"""Saved measurement runs and Ctrl-C in `rooflint measure`, hardened: a bad saved run is one line
naming the file and the field, exit 2, no traceback, nothing written (for `measure --load`,
`plot --measured` and a budget's `results:`); a device name from a file never becomes YAML in
--save-profile; Ctrl-C writes what was measured, and a second one does not lose it."""

import copy
import json
import math
import os
import signal
import tempfile

import pytest
import yaml
from fuzz_support import numbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_measure_runner import FakeBackend
from typer.testing import CliRunner

from rooflint.cli import app
from rooflint.errors import SpecError
from rooflint.measure import session
from rooflint.measure.result import Run
from rooflint.measure.timing import StopRule

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")
with open(FIXTURE, encoding="utf-8") as _fh:
    REPORT = json.load(_fh)
TIMES = ("median", "mean", "min", "max", "p10", "p90", "q1", "q3")


def fixture():
    return copy.deepcopy(REPORT)


def first(doc, kernel):
    """Index of the first measurement of a kernel in the fixture's run."""
    return next(i for i, m in enumerate(doc["run"]["measurements"]) if m["case"]["kernel"] == kernel)


def one_error_line(result, path, field=None):
    """The whole output is one line `error: PATH: FIELD: ...`, and nothing raised but the exit."""
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    if field is not None:
        assert lines[0].startswith(f"error: {path}: {field}: "), lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


# ---------------------------------------------------------------- what loads

def test_a_real_saved_run_loads_back_unchanged():
    run = session.load_run(FIXTURE)
    assert run.to_dict() == REPORT["run"]  # every field as it was written, nothing coerced or dropped
    assert Run.from_dict(run.to_dict()) == run
    assert len(run.measurements) == 57 and len(run.skipped) == 2


def test_the_bare_run_member_loads_and_its_errors_name_the_path_inside_it(tmp_path):
    bare = tmp_path / "run.json"
    bare.write_text(json.dumps(REPORT["run"]))
    assert session.load_run(str(bare)) == session.load_run(FIXTURE)
    doc = REPORT["run"] | {"measurements": copy.deepcopy(REPORT["run"]["measurements"])}
    doc["measurements"][3]["stats"]["median"] = -1
    bare.write_text(json.dumps(doc))
    with pytest.raises(SpecError) as exc:
        session.load_run(str(bare))
    assert str(exc.value) == f"{bare}: measurements[3].stats.median: expected a positive finite number, got -1"


# ---------------------------------------------------------------- what does not, and how it says so

def _set(*path, value):
    def edit(doc):
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


def _delete(*path):
    def edit(doc):
        node = doc
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return edit


def _rename(*path, to):
    def edit(doc):
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[to] = node.pop(path[-1])
    return edit


def _in_gemm(fn):
    """Apply an edit to the first GEMM measurement (the path starts at it)."""
    def edit(doc):
        fn(doc["run"]["measurements"][first(doc, "gemm")])
    return edit


def _duplicate(doc):
    ms = doc["run"]["measurements"]
    ms.append(copy.deepcopy(ms[0]))


M = ("run", "measurements", 0)
GEMM = f"run.measurements[{first(REPORT, 'gemm')}]"
# (id, edit of the fixture, the field the error names, words the message holds)
MUTATIONS = [
    ("wrong type: text as number", _set(*M, "stats", "median", value="fast"), "run.measurements[0].stats.median",
     'expected a positive finite number, got "fast"'),
    ("null as number", _set(*M, "stats", "median", value=None), "run.measurements[0].stats.median",
     "expected a positive finite number, got null"),
    ("wrong type: number as text", _set(*M, "backend", value=3), "run.measurements[0].backend", "expected text"),
    ("bool as int: samples", _set(*M, "stats", "n", value=True), "run.measurements[0].stats.n",
     "expected a positive integer, got true"),
    ("bool as int: rotation sets", _set(*M, "rotation_sets", value=False), "run.measurements[0].rotation_sets",
     "expected a positive integer, got false"),
    ("float as int", _set(*M, "calls_per_sample", value=301.0), "run.measurements[0].calls_per_sample",
     "expected a positive integer"),
    ("negative time", _set(*M, "stats", "median", value=-1), "run.measurements[0].stats.median",
     "expected a positive finite number, got -1"),
    ("zero time", _set(*M, "stats", "min", value=0), "run.measurements[0].stats.min", "positive"),
    ("time below a picosecond", _set(*M, "stats", "min", value=1e-300), "run.measurements[0].stats.min",
     "outside [1e-12 s, 1e+06 s]"),
    ("spread beyond the range", _set(*M, "stats", "stdev", value=1.0), "run.measurements[0].stats.stdev",
     "more than max - min"),
    ("negative check error", _set(*M, "check_error", value=-1e-3), "run.measurements[0].check_error",
     "non-negative"),
    ("zero samples", _set(*M, "stats", "n", value=0), "run.measurements[0].stats.n", "positive integer"),
    ("more outliers than samples", _set(*M, "stats", "outliers", value=10**6), "run.measurements[0].stats.outliers",
     "at most"),
    ("statistics out of order", _set(*M, "stats", "min", value=1.0), "run.measurements[0].stats.min",
     "not statistics of samples"),
    ("derived noise that lies", _set(*M, "stats", "rel_iqr", value=0.5), "run.measurements[0].stats.rel_iqr",
     "not what the other statistics give"),
    ("missing field", _delete(*M, "stop_reason"), "run.measurements[0].stop_reason", "missing"),
    ("missing stats", _delete(*M, "stats", "q3"), "run.measurements[0].stats.q3", "missing"),
    ("missing run field", _delete("run", "interrupted"), "run.interrupted", "missing"),
    ("unknown field, did you mean", _rename(*M, "check_error", to="chek_error"), "run.measurements[0].chek_error",
     "unknown field; did you mean 'run.measurements[0].check_error'?"),
    ("unknown stats field", _rename(*M, "stats", "median", to="medain"), "run.measurements[0].stats.medain",
     "did you mean 'run.measurements[0].stats.median'?"),
    ("unknown top-level field", _rename("run", "skipped", to="skiped"), "run.skiped", "did you mean 'run.skipped'?"),
    ("unknown kernel", _set(*M, "case", "kernel", value="gemv"), "run.measurements[0].case.kernel",
     "expected one of copy, gemm"),
    ("unknown variant", _set(*M, "case", "variant", value="fused"), "run.measurements[0].case.variant",
     "expected one of"),
    ("unknown dtype", _set(*M, "case", "dtype", value="fp33"), "run.measurements[0].case.dtype",
     "did you mean 'fp32'?"),
    ("unknown backend", _set(*M, "backend", value="jax"), "run.measurements[0].backend",
     "expected one of numpy, torch, cupy"),
    ("backend on a device it never runs on", _set(*M, "device", value="cuda"), "run.measurements[0].device",
     "expected one of cpu"),
    ("unknown method", _set(*M, "method", value="stopwatch"), "run.measurements[0].method", "host-clock"),
    ("unknown stop reason", _set(*M, "stop_reason", value="bored"), "run.measurements[0].stop_reason", "settled"),
    ("case params missing", _in_gemm(_delete("case", "params", "K")), f"{GEMM}.case.params.K", "missing"),
    ("case params of another kernel", _in_gemm(_rename("case", "params", "K", to="k")), f"{GEMM}.case.params.k",
     "did you mean"),
    ("case param zero", _set(*M, "case", "params", "n", value=0), "run.measurements[0].case.params.n",
     "positive integer"),
    ("case param float", _set(*M, "case", "params", "n", value=4096.0), "run.measurements[0].case.params.n",
     "positive integer"),
    ("case param beyond 2^53", _set(*M, "case", "params", "n", value=2**60), "run.measurements[0].case.params.n",
     "at most"),
    ("key that is not the case's", _set(*M, "key", value="copy fp32 1 GiB"), "run.measurements[0].key",
     "is not the case's key"),
    ("one case measured twice", _duplicate, "run.measurements[57]", "again (first at run.measurements[0])"),
    ("case not a mapping", _set(*M, "case", value="copy"), "run.measurements[0].case", "expected a mapping"),
    ("measurement not a mapping", _set("run", "measurements", 0, value=[1, 2]), "run.measurements[0]",
     "expected a mapping"),
    ("measurements not a list", _set("run", "measurements", value={"a": 1}), "run.measurements", "expected a list"),
    ("run not a mapping", _set("run", value=[]), "run", "expected a mapping"),
    ("environment not a mapping", _set("run", "environment", value="cpu"), "run.environment", "expected a mapping"),
    ("backend facts not a mapping", _set("run", "environment", "backends", "torch", value=3),
     "run.environment.backends.torch", "expected a mapping"),
    ("memory size as text", _set("run", "environment", "memory_total_bytes", value="24 GB"),
     "run.environment.memory_total_bytes", "positive integer"),
    ("cache size negative", _set("run", "environment", "llc_bytes", value=-1), "run.environment.llc_bytes",
     "positive integer"),
    ("device name not text", _set("run", "environment", "device_name", value=["h100"]),
     "run.environment.device_name", "expected text"),
    ("environment device unknown", _set("run", "environment", "device", value="tpu"), "run.environment.device",
     "expected one of cpu, cuda"),
    ("interrupted not a bool", _set("run", "interrupted", value="no"), "run.interrupted", "expected true or false"),
    ("interrupted as 0", _set("run", "interrupted", value=0), "run.interrupted", "expected true or false"),
    ("wrong schema", _set("run", "schema", value="rooflint.measure-run/2"), "run.schema",
     "expected rooflint.measure-run/1"),
    ("skip without a reason", _set("run", "skipped", 0, "reason", value=""), "run.skipped[0].reason", "empty"),
    ("skip of a case also measured", lambda d: d["run"]["skipped"].append(
        {k: v for k, v in d["run"]["measurements"][0].items() if k in ("case", "key", "backend")} | {"reason": "x"}),
     "run.skipped[2]", "one outcome per case"),
    ("extra of unknown name", _set(*M, "extra", value={"peak_flops": 1.0}), "run.measurements[0].extra.peak_flops",
     "did you mean 'run.measurements[0].extra.peak_bytes'?"),
]


def _as_text(edit):
    doc = fixture()
    edit(doc)
    return json.dumps(doc)


# Files that are not even JSON of the right shape: (id, content bytes, words of the message).
RAW = [
    ("not a mapping", b"[1, 2, 3]", "schema: expected a rooflint measure result"),
    ("not a measure result", b'{"schema": "rooflint.analyze/1"}', "schema: expected a rooflint measure result"),
    ("empty", b"", "malformed JSON"),
    ("JSON with NaN", json.dumps(REPORT).replace("6.253521594684385e-07", "NaN", 1).encode(), "NaN"),
    ("JSON with Infinity", json.dumps(REPORT).replace("6.253521594684385e-07", "Infinity", 1).encode(), "Infinity"),
    ("JSON with an infinite float", json.dumps(REPORT).replace("6.253521594684385e-07", "1e999", 1).encode(),
     "not a finite number"),
    ("JSON with a duplicate key", b'{"schema": "rooflint.measure-run/1", "schema": "x"}', "duplicate key"),
    ("JSON with a 50-digit integer", json.dumps(REPORT).replace('"n": 500', '"n": ' + "9" * 50, 1).encode(),
     "digits"),
    ("non-UTF-8", json.dumps(REPORT).replace("Intel(R)", "Intel\udcff", 1).encode("utf-8", "surrogateescape"),
     "not UTF-8"),
    ("truncated", json.dumps(REPORT).encode()[:5000], "malformed JSON"),
]


def _huge(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:  # a valid run padded past the 16 MiB cap
        fh.write(json.dumps(REPORT).encode())
        fh.write(b" " * (17 * 2**20))
    return str(path), "too large"


def _fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "run.json"
    os.mkfifo(path)  # nobody writes: reading it would block forever
    return str(path), "not a regular file (a FIFO)"


def _folder(tmp_path):
    path = tmp_path / "run.json"
    path.mkdir()
    return str(path), "not a regular file (a folder)"


def _missing(tmp_path):
    return str(tmp_path / "nothing.json"), "cannot read"


SPECIAL = {"huge file": _huge, "a FIFO": _fifo, "a folder": _folder, "no such file": _missing}
CASES = ([pytest.param("mutation", m[0], id=m[0]) for m in MUTATIONS]
         + [pytest.param("raw", r[0], id=r[0]) for r in RAW] + [pytest.param("special", s, id=s) for s in SPECIAL])


def bad_run(tmp_path, kind, name):
    """(path of a bad saved run, the field its error names or None, words its error holds)."""
    if kind == "special":
        path, words = SPECIAL[name](tmp_path)
        return path, None, words
    path = tmp_path / "run.json"
    if kind == "raw":
        _, content, words = next(r for r in RAW if r[0] == name)
        path.write_bytes(content)
        return str(path), None, words
    _, edit, field, words = next(m for m in MUTATIONS if m[0] == name)
    path.write_text(_as_text(edit), encoding="utf-8")
    return str(path), field, words


def _files(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("kind, name", CASES)
def test_measure_load_refuses_a_bad_run_in_one_line(cli, tmp_path, kind, name):
    path, field, words = bad_run(tmp_path, kind, name)
    before = _files(tmp_path)
    report, profile = tmp_path / "report.json", tmp_path / "profile.yaml"
    out = cli("measure", "--load", path, "-f", "json", "-o", str(report), "--save-profile", str(profile), code=2)
    line = one_error_line(out, path, field)
    assert words in line
    assert _files(tmp_path) == before  # no report, no profile, no temp file


@pytest.mark.parametrize("kind, name", CASES)
def test_plot_measured_refuses_a_bad_run_in_one_line(cli, tmp_path, kind, name):
    pytest.importorskip("matplotlib")
    path, field, words = bad_run(tmp_path, kind, name)
    before = _files(tmp_path)
    out = cli("plot", "llama2-7b", "--gpu", "a100", "-o", str(tmp_path / "roof.png"), "--measured", path, code=2)
    assert words in one_error_line(out, path, field)
    assert _files(tmp_path) == before


@pytest.mark.parametrize("kind, name", CASES)
def test_check_results_refuses_a_bad_run_in_one_line(cli, tmp_path, kind, name):
    path, field, words = bad_run(tmp_path, kind, name)
    budget = tmp_path / "budget.yaml"
    budget.write_text(f"results: {json.dumps(path)}\ncases:\n  - name: torch GEMMs\n"
                      "    measured: {kernel: gemm, backend: torch, dtype: fp32}\n    limits: {min_roofline: 1%}\n")
    before = _files(tmp_path)
    out = cli("check", str(budget), "--junit", str(tmp_path / "junit.xml"), code=2)
    assert words in one_error_line(out, path, field)
    assert _files(tmp_path) == before


def test_the_good_fixture_passes_all_three_commands(cli, tmp_path):
    """The negative tests above are not passing because everything fails: the same commands with
    the fixture itself succeed."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "run.json"
    path.write_text(_as_text(lambda d: None))
    cli("measure", "--load", str(path), "-f", "json")
    profile = tmp_path / "cpu.yaml"  # its kernels go on the roofline of the CPU they ran on
    cli("measure", "--load", str(path), "--save-profile", str(profile), "-o", str(tmp_path / "m.txt"))
    cli("plot", "llama2-7b", "--gpu", str(profile), "--dtype", "fp32", "-o", str(tmp_path / "roof.png"),
        "--measured", str(path))
    budget = tmp_path / "budget.yaml"
    budget.write_text(f"results: {json.dumps(str(path))}\ncases:\n  - name: torch GEMMs\n"
                      "    measured: {kernel: gemm, backend: torch, dtype: fp32}\n    limits: {min_roofline: 1%}\n")
    cli("check", str(budget))


# ---------------------------------------------------------------- any mutation: loads sound, or one line

def _paths(node, at=()):
    """Every place in the document: (path to the container, key or index)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield at, k
            yield from _paths(v, at + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield at, i
            yield from _paths(v, at + (i,))


PLACES = [p for p in _paths(REPORT["run"], ("run",))]
json_leaf = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
             | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
             | st.sampled_from(["", "gemm", "fp32", "torch", "cuda", "cpu", "settled", "host-clock", "n", "M"]))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
MUTATION = st.tuples(st.sampled_from(PLACES), st.sampled_from(["replace", "delete", "add"]), json_value,
                     st.text(min_size=1, max_size=8))


def _mutate(doc, place, action, value, new_key):
    (at, key) = place
    node = doc
    try:
        for k in at:
            node = node[k]
        node[key]
    except (KeyError, IndexError, TypeError):  # an earlier mutation took the place away
        return
    if action == "replace":
        node[key] = value
    elif action == "delete":
        del node[key]
    elif isinstance(node, dict):
        node.setdefault(new_key, value)
    else:
        node.insert(key, value)


def _non_finite(doc):
    return [where for where, v in numbers(doc) if not math.isfinite(v)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MUTATION, min_size=1, max_size=2))
def test_any_mutated_run_loads_sound_or_is_one_line(mutations):
    doc = fixture()
    for m in mutations:
        _mutate(doc, *m)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc))  # NaN and Infinity as Python writes them: refused on reading
        result = CliRunner().invoke(app, ["measure", "--load", path, "-f", "json"])
        if result.exit_code == 0:
            run = session.load_run(path)
            for m in run.measurements:
                assert all(math.isfinite(getattr(m.stats, k)) and getattr(m.stats, k) > 0 for k in TIMES), m
                assert math.isfinite(m.check_error) and m.check_error >= 0
            out = json.loads(result.stdout)
            assert all(math.isfinite(r["measured_s"]) and r["measured_s"] > 0 for r in out["comparisons"])
            assert len(out["comparisons"]) == len(run.measurements)
            assert not list(_non_finite(out))  # nothing computed from the run overflowed or is NaN
        else:
            assert result.exit_code == 2, (result.output, result.exception)
            one_error_line(result, path)
        assert os.listdir(folder) == ["run.json"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(REPORT["run"]["measurements"]) - 1), st.floats(-14, 8),
       st.lists(st.integers(1, 2**53) | st.sampled_from([1, 2**53]), min_size=5, max_size=5))
def test_extreme_valid_values_compute_only_finite_numbers(index, decades, sizes):
    """A measurement's times scaled by 10^decades (a picosecond to days) and its shape set to any
    sizes up to 2^53 (its key to match): loaded, every number derived from it is finite; or, where
    a time leaves the bounds, refused in one line."""
    from rooflint.measure.cases import Case

    doc = fixture()
    m = doc["run"]["measurements"][index]
    for k in TIMES + ("stdev",):
        m["stats"][k] *= 10 ** decades
    del m["stats"]["rel_iqr"], m["stats"]["rel_stdev"]
    m["case"]["params"] = dict(zip(m["case"]["params"], sizes))
    m["key"] = Case.from_dict(m["case"]).key
    keys = [(x["backend"], x["key"]) for x in doc["run"]["measurements"]]
    if keys.count((m["backend"], m["key"])) > 1:
        return  # the new shape is another measurement's
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc))
        result = CliRunner().invoke(app, ["measure", "--load", path, "-f", "json"])
        if result.exit_code == 2:
            line = one_error_line(result, path)
            assert f": run.measurements[{index}].stats." in line and "outside [1e-12 s, 1e+06 s]" in line
        else:
            assert result.exit_code == 0, (result.output, result.exception)
            assert not list(_non_finite(json.loads(result.stdout)))


# ---------------------------------------------------------------- --save-profile: no injection

# Line breaks to YAML that are not control characters (a spec's names may hold them), and YAML syntax.
NASTY_NAMES = ["X\u2028aliases: [h100]", "X\u2029aliases: [h100]\u2028memory: {capacity: 1 B}",
               "'quoted' \"both\" #not-a-comment: {a: b}", "- [h100]", "&anchor *alias !!python/object"]
# Control characters: no device is named so; a saved run that says so is refused.
CONTROL_NAMES = ["X\naliases: [h100]", "X\r\naliases: [h100]", "X\x85aliases: [h100]", "\x1b[2J\x1b[31mred GPU"]


@pytest.mark.parametrize("name", NASTY_NAMES, ids=range(len(NASTY_NAMES)))
def test_a_device_name_from_a_file_never_becomes_yaml(cli, tmp_path, name):
    from rooflint.compare.calibration import profile_document
    from rooflint.specs.catalog import load_hardware

    doc = fixture()
    doc["run"]["environment"]["device_name"] = name
    run_path, profile = tmp_path / "run.json", tmp_path / "profile.yaml"
    run_path.write_text(json.dumps(doc))
    cli("measure", "--load", str(run_path), "--save-profile", str(profile), "-o", str(tmp_path / "r.json"))
    text = profile.read_text(encoding="utf-8")
    parsed = yaml.safe_load(text)
    hw = load_hardware(str(profile))
    assert hw.device_names == (name,)  # the name round-trips as the name
    assert parsed["device_names"] == [name] and parsed["description"].startswith(name)
    assert "aliases" not in parsed and hw.aliases == ()  # and adds no key
    assert list(parsed) == list(profile_document(hw))  # exactly the keys the profile writes
    assert not [line for line in text.splitlines() if line.startswith("aliases:")]  # nor for catalog's line scan
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) == 2 and text.startswith(comments[0] + "\n" + comments[1] + "\n")


@pytest.mark.parametrize("name", CONTROL_NAMES, ids=range(len(CONTROL_NAMES)))
def test_a_device_name_with_control_characters_is_refused(cli, tmp_path, name):
    doc = fixture()
    doc["run"]["environment"]["device_name"] = name
    run_path, profile = tmp_path / "run.json", tmp_path / "profile.yaml"
    run_path.write_text(json.dumps(doc))
    out = cli("measure", "--load", str(run_path), "--save-profile", str(profile), code=2)
    assert "a name may not hold control characters" in one_error_line(out, run_path, "run.environment.device_name")
    assert not profile.exists()


def test_a_description_with_a_newline_stays_in_its_comment(tmp_path):
    """Defence in depth: a profile's description may hold a newline (free text); in the comment
    line it is escaped, and the YAML below holds it quoted."""
    from dataclasses import replace

    from rooflint.compare.profile import calibrate_run, profile_yaml

    hw = calibrate_run(session.load_run(FIXTURE)).hardware()
    hw = replace(hw, description="X\naliases: [h100]\nnotes: injected")
    text = profile_yaml(hw, str(tmp_path / "p.yaml"))
    parsed = yaml.safe_load(text)
    assert "aliases" not in parsed and "notes" not in parsed
    assert parsed["description"] == "X\naliases: [h100]\nnotes: injected"
    assert text.splitlines()[0] == r"# X\x0aaliases: [h100]\x0anotes: injected"


def test_comment_text_escapes_every_line_break_and_control():
    from rooflint.compare.profile import comment_text

    assert comment_text("a\nb\rc\x85d\u2028e\u2029f\x1bg\tz") == r"a\x0ab\x0dc\x85d\u2028e\u2029f\x1bg\x09z"
    assert comment_text("H100 80GB HBM3 — µ") == "H100 80GB HBM3 — µ"  # printable text stays as it is
    assert len(comment_text("x" * 1000)) == 200


def test_an_output_path_with_a_newline_stays_in_its_comment(tmp_path):
    from rooflint.compare.profile import calibrate_run, profile_yaml

    hw = calibrate_run(session.load_run(FIXTURE)).hardware()
    text = profile_yaml(hw, str(tmp_path / "p\naliases: [h100].yaml"))
    assert "aliases" not in yaml.safe_load(text)


# ---------------------------------------------------------------- Ctrl-C and --save-profile

FAST = StopRule(min_samples=5, max_samples=20, min_time_s=0.0, max_time_s=0.02, warmup_s=0.0)
COPY, GEMM_128, GEMM_512 = "copy fp32 4 KiB", "gemm fp32 M=128 N=128 K=128", "gemm fp32 M=512 N=512 K=512"


class FakeNumpy(FakeBackend):
    """Stands in for the numpy backend (test_measure_runner's fake under numpy's name): it runs
    only the cases in `runs`, and Ctrl-C (or an out-of-memory error) strikes when it prepares a
    case in `interrupt` (`oom`)."""

    name = "numpy"

    def __init__(self, runs=(COPY, GEMM_128, GEMM_512), interrupt=(), oom=()):
        super().__init__(free=None, oom=oom, interrupt=interrupt)
        self.runs = set(runs)

    def environment(self):
        return {"numpy": "fake"}

    def supports(self, c):
        return c.key in self.runs


@pytest.fixture
def fake(monkeypatch):
    """Install a FakeNumpy (configured by calling the fixture) as the only backend, with fast rules."""
    made = {}

    def install(**kwargs):
        made["backend"] = FakeNumpy(**kwargs)
        monkeypatch.setattr(session, "build_backends", lambda names, device: ([made["backend"]], []))
        monkeypatch.setattr(session, "RULES", {"quick": FAST, "full": FAST})
        return made["backend"]

    return install


def _measure(tmp_path, *extra, code):
    report, profile = tmp_path / "report.json", tmp_path / "profile.yaml"
    try:
        result = CliRunner().invoke(app, ["measure", "--device", "cpu", "-f", "json", "-o", str(report),
                                          "--save-profile", str(profile), *extra])
    except KeyboardInterrupt:  # pragma: no cover - what the tests below guard against
        pytest.fail("a Ctrl-C escaped the command")
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    return result, report, profile


def _notes(result):
    return [line for line in result.stderr.splitlines() if line.startswith("note:")]


def test_ctrl_c_before_the_first_gemm_writes_the_report_and_says_why_no_profile(fake, tmp_path):
    backend = fake(interrupt={GEMM_128})
    result, report, profile = _measure(tmp_path, code=130)
    run = json.loads(report.read_text())["run"]
    assert run["interrupted"] is True and [m["key"] for m in run["measurements"]] == [COPY]
    assert not profile.exists() and GEMM_512 not in backend.prepared
    (why,) = [n for n in _notes(result) if "no profile" in n]
    assert why == (f"note: no profile written to {profile}: the run has no GEMM measurement to calibrate from "
                   "(it was interrupted before one was measured); the report is written")
    assert session.load_run(str(report)).interrupted  # what Ctrl-C wrote is itself a run that loads


def test_ctrl_c_after_copy_and_gemm_writes_report_and_profile_together(fake, tmp_path):
    from rooflint.specs.catalog import load_hardware

    fake(interrupt={GEMM_512})
    result, report, profile = _measure(tmp_path, code=130)
    assert len(json.loads(report.read_text())["run"]["measurements"]) == 2
    assert load_hardware(str(profile)).peak_flop_per_s["fp32"] > 0
    assert any("fitted from an interrupted run" in n for n in _notes(result))


@pytest.mark.parametrize("when", ["while the report is built", "while the files are written"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_second_signal_while_writing_loses_nothing(fake, tmp_path, monkeypatch, when, sig, code):
    """The first Ctrl-C ended the measuring; a second one (or a SIGTERM) arriving while the report
    is built or written waits for both files to be written whole, then ends the command."""
    from rooflint.cli import measure_cmd
    from rooflint.report import output

    fake(interrupt={GEMM_512})
    sent = []
    if when == "while the report is built":
        real = measure_cmd.measure_report

        def report_then_signal(*a, **k):
            os.kill(os.getpid(), sig)
            sent.append(sig)
            return real(*a, **k)

        monkeypatch.setattr(measure_cmd, "measure_report", report_then_signal)
    else:
        real = output._write_new

        def write_then_signal(*a, **k):
            if not sent:
                os.kill(os.getpid(), sig)
                sent.append(sig)
            return real(*a, **k)

        monkeypatch.setattr(output, "_write_new", write_then_signal)
    _, report, profile = _measure(tmp_path, code=code)
    assert sent == [sig]
    assert json.loads(report.read_text())["run"]["interrupted"] is True
    assert yaml.safe_load(profile.read_text())["name"].startswith("measured-")
    assert sorted(os.listdir(tmp_path)) == ["profile.yaml", "report.json"]  # no temp left


def test_save_profile_that_no_backend_can_fit_is_refused_before_measuring(fake, tmp_path):
    backend = fake(runs={COPY})  # no GEMM runs here
    result, report, profile = _measure(tmp_path, code=2)
    assert result.output.startswith("error: --save-profile: none of the backends (numpy) times a GEMM on cpu")
    assert backend.prepared == [] and not report.exists() and not profile.exists()


def test_a_profile_that_cannot_be_fitted_after_a_whole_run_exits_1_with_the_report(fake, tmp_path):
    """Not interrupted, yet every GEMM failed: the minutes of measuring are kept (the report), the
    missing profile is said on stderr and in the exit code (1: not everything asked was written)."""
    fake(oom={GEMM_128, GEMM_512})
    result, report, profile = _measure(tmp_path, code=1)
    run = json.loads(report.read_text())["run"]
    assert run["interrupted"] is False and [s["reason"][:13] for s in run["skipped"]] == ["out of memory"] * 2
    assert not profile.exists()
    assert [n for n in _notes(result) if "no profile" in n] == [
        (f"note: no profile written to {profile}: the run has no GEMM measurement to calibrate from; the report "
         "is written")]


def test_a_bad_gpu_is_refused_before_measuring(fake, tmp_path):
    backend = fake()
    result, report, _ = _measure(tmp_path, "--gpu", "h1000", code=2)
    assert result.output.startswith("error: ") and "h1000" in result.output and len(result.output.splitlines()) == 1
    assert backend.prepared == [] and not report.exists()


def test_loading_a_run_that_cannot_give_a_profile_is_refused_whole(cli, tmp_path):
    """--load measures nothing: a --save-profile it cannot meet is bad input, and nothing is written."""
    doc = fixture()
    doc["run"]["measurements"] = [m for m in doc["run"]["measurements"] if m["case"]["kernel"] != "gemm"]
    path, report, profile = tmp_path / "run.json", tmp_path / "report.json", tmp_path / "profile.yaml"
    path.write_text(json.dumps(doc))
    out = cli("measure", "--load", str(path), "-o", str(report), "--save-profile", str(profile), code=2)
    assert one_error_line(out, path) == (f"error: {path}: no profile can be fitted for --save-profile: the run "
                                         "has no GEMM measurement to calibrate from")
    assert not report.exists() and not profile.exists()
    cli("measure", "--load", str(path), "-o", str(report))  # without --save-profile it loads and reports
    assert report.exists()


def test_loading_an_interrupted_run_succeeds_and_says_so(cli, tmp_path):
    doc = fixture()
    doc["run"]["interrupted"] = True
    path, profile = tmp_path / "run.json", tmp_path / "profile.yaml"
    path.write_text(json.dumps(doc))
    out = cli("measure", "--load", str(path), "-f", "json", "--save-profile", str(profile))  # exit 0: the load succeeded
    assert json.loads(out.stdout)["run"]["interrupted"] is True and profile.exists()
    assert "note: the loaded run was interrupted; 57 kernel(s) measured" in out.stderr.splitlines()
