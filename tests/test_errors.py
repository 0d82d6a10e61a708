"""Bad input: one line naming the file and field, exit code 2, no traceback."""

import os
import stat

import pytest

LLAMA = """name: bad
source: test
model_type: llama
num_hidden_layers: 2
hidden_size: 64
num_attention_heads: 4
intermediate_size: 128
vocab_size: 100
"""
HW = """name: toy
memory: {capacity: 1 GiB, bandwidth: 1 TB/s}
compute: {fp16: 100 TFLOP/s, fp32: 10 TFLOP/s}
"""


def _one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_unknown_model_did_you_mean(cli):
    _one_line_error(cli("analyze", "llama2-7", code=2), "unknown model 'llama2-7'", "did you mean", "llama2-7b")


def test_unknown_gpu_did_you_mean(cli):
    _one_line_error(cli("analyze", "llama2-7b", "--gpu", "h10", code=2), "unknown GPU 'h10'", "did you mean", "h100")


@pytest.mark.parametrize("edit,field,words", [
    (lambda t: t.replace("num_hidden_layers: 2\n", ""), "num_hidden_layers", "missing"),
    (lambda t: t.replace("hidden_size: 64", "hidden_size: sixty-four"), "hidden_size", "positive integer"),
    (lambda t: t.replace("intermediate_size: 128", "intermediate_size: -128"), "intermediate_size", "positive integer"),
    (lambda t: t.replace("vocab_size: 100", "vocab_size: 0"), "vocab_size", "positive integer"),
    (lambda t: t.replace("hidden_size: 64", "hidden_size: 66"), "head_dim", "not a multiple"),
    (lambda t: t + "num_key_value_heads: 3\n", "num_key_value_heads", "do not divide"),
    (lambda t: t + "num_hiden_layers: 2\n", "num_hiden_layers", "did you mean 'num_hidden_layers'"),
    (lambda t: t.replace("model_type: llama", "model_type: mamba"), "model_type", "not a family"),
])
def test_bad_model_yaml(cli, tmp_path, edit, field, words):
    path = _write(tmp_path, "m.yaml", edit(LLAMA))
    _one_line_error(cli("analyze", path, code=2), path, f": {field}:", words)


@pytest.mark.parametrize("edit,field,words", [
    (lambda t: t.replace("bandwidth: 1 TB/s", "bandwidth: 1 TFLOP/s"), "memory.bandwidth", "bandwidth"),
    (lambda t: t.replace("bandwidth: 1 TB/s", "bandwidth: 1000"), "memory.bandwidth", "unit"),
    (lambda t: t.replace("capacity: 1 GiB, ", ""), "memory.capacity", "missing"),
    (lambda t: t.replace("fp16: 100 TFLOP/s", "fp61: 100 TFLOP/s"), "compute.fp61", "did you mean"),
    (lambda t: t.replace("bandwidth: 1 TB/s", "bandwidth: -1 TB/s"), "memory.bandwidth", "expected"),
])
def test_bad_hardware_yaml(cli, tmp_path, edit, field, words):
    path = _write(tmp_path, "hw.yaml", edit(HW))
    _one_line_error(cli("analyze", "llama2-7b", "--gpu", path, code=2), path, f": {field}:", words)


def test_malformed_yaml(cli, tmp_path):
    path = _write(tmp_path, "m.yaml", "name: x\nhidden_size: [1, 2\n")
    _one_line_error(cli("analyze", path, code=2), path, "malformed YAML", "line")


def test_malformed_json(cli, tmp_path):
    path = _write(tmp_path, "config.json", '{"model_type": "llama", "hidden_size": 64,,}')
    _one_line_error(cli("analyze", path, code=2), path, "malformed JSON", "line 1")


def test_yaml_not_a_mapping(cli, tmp_path):
    path = _write(tmp_path, "m.yaml", "- a\n- b\n")
    _one_line_error(cli("analyze", path, code=2), path, "expected a mapping")


@pytest.mark.parametrize("args,words", [
    (["--batch", "0"], "--batch"), (["--prompt", "-5"], "--prompt"), (["--context", "abc"], "--context"),
    (["--dtype", "fp12"], "unknown dtype"), (["--set", "num_key_value_heads"], "FIELD=VALUE"),
    (["--set", "num_key_value_heads=0"], "num_key_value_heads"), (["--set", "hidden_sise=4"], "did you mean"),
    (["--dtype", "fp8"], "no fp8 peak"),  # the A100 has no FP8 unit
])
def test_bad_options(cli, args, words):
    _one_line_error(cli("analyze", "llama2-7b", "--gpu", "a100", *args, code=2), words)


def test_bad_gemm_size(cli):
    _one_line_error(cli("gemm", "0", "4", "4", code=2), "M", "positive")


def test_unwritable_output(cli, tmp_path):
    _one_line_error(cli("analyze", "llama2-7b", "-o", str(tmp_path / "missing" / "out.json"), code=2), "cannot write")
    _one_line_error(cli("analyze", "llama2-7b", "-o", str(tmp_path), code=2), "cannot write", "folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_readonly_dir(cli, tmp_path):
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        _one_line_error(cli("analyze", "llama2-7b", "-o", str(tmp_path / "x.csv"), code=2), "cannot write")
    finally:
        tmp_path.chmod(stat.S_IRWXU)


def test_no_such_file(cli):
    _one_line_error(cli("analyze", "models/nope.yaml", code=2), "nope.yaml", "no such file")


def test_debug_shows_traceback(cli):
    result = cli("--debug", "analyze", "llama2-7", code=1)
    assert result.exception is not None
