"""`rooflint plot`: the image is looked at (size, content), and the data behind it checked."""

import os
import struct
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib")

from rooflint import Workload, analyze  # noqa: E402
from rooflint.report.plot import DPI, FIGSIZE, memory_curves, roofline_points  # noqa: E402
from rooflint.specs.catalog import load_hardware, load_model  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")


def test_png_has_the_figure_size_and_is_drawn(cli, tmp_path):
    import matplotlib.image as mpimg
    import numpy as np

    out = tmp_path / "roof.png"
    cli("plot", "llama2-7b", "--gpu", "a100", "-o", str(out), "--measured", FIXTURE)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
    pixels = mpimg.imread(str(out))[..., :3]
    ink = (pixels < 0.9).any(axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.02 < ink < 0.5
    colours = len(np.unique((pixels * 255).astype(int).reshape(-1, 3), axis=0))
    assert colours > 20  # several roofs, markers and curves, not one flat colour


def test_svg_names_the_ops_and_curves(cli, tmp_path):
    out = tmp_path / "roof.svg"
    cli("plot", "mistral-7b", "--gpu", "h100", "--attention", "eager", "-o", str(out))
    root = ET.parse(out).getroot()
    assert root.get("width") == f"{FIGSIZE[0] * 72:g}pt" and root.get("height") == f"{FIGSIZE[1] * 72:g}pt"
    text = out.read_text()
    for label in ("lm_head", "qk_matmul", "ridge", "MQA", "weights", "h100-sxm capacity", "usable: 0.9 x capacity"):
        assert label in text


def test_points_sit_on_their_roofs():
    a = analyze(load_model("llama2-7b"), load_hardware("a100"), Workload(prompt=1024))
    pts = roofline_points(a)
    hw = a.hardware
    assert {p.group for p in pts} == {"prefill", "decode"}
    for p in pts:
        assert p.flop_per_s == pytest.approx(min(hw.peak("fp16"), p.intensity * hw.bandwidth_bytes_per_s)) or \
            p.flop_per_s == pytest.approx(min(hw.peak("fp32"), p.intensity * hw.bandwidth_bytes_per_s))
    decode_lm = next(p for p in pts if p.group == "decode" and p.label == "lm_head")
    assert decode_lm.intensity < 1.01  # one row against the vocabulary: ~1 FLOP per byte


def test_memory_curves():
    a = analyze(load_model("llama2-7b"), load_hardware("a100"), Workload(batch=2))
    curves = memory_curves(a, [1024, 4096])
    assert curves["KV fp16 (as specified, H_kv=32)"] == [2 * 512 * 1024 * 1024, 2 * 512 * 1024 * 4096]
    assert curves["KV fp16 MQA (H_kv=1)"][1] == curves["KV fp16 (as specified, H_kv=32)"][1] / 32
    assert curves["eager S+P, one layer's prefill"][0] == 2 * 2 * 32 * 1024**2 * 2
    # int4 KV: 0.5 B + one fp16 scale per 64 elements, as every command counts it
    assert curves["KV int4 (H_kv=32)"][0] == 2 * 2 * 32 * 32 * 128 * (0.5 + 2 / 64) * 1024
    assert curves["weights"][0] == a.weights_bytes and curves["activation workspace"][0] == a.workspace_bytes


@pytest.mark.parametrize("args, message", [
    (["-o", "roof.gif"], "expected a .png or .svg"),
    (["-o", "/nonexistent/dir/roof.png"], "cannot write"),
])
def test_plot_bad_input(cli, args, message):
    out = cli("plot", "llama2-7b", *args, code=2)
    assert message in out.output
