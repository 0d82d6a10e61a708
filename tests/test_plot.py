"""`rooflint plot`: the image is looked at (size, content), and the data behind it checked."""

import math
import os
import struct
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib")

from rooflint import Workload, analyze  # noqa: E402
from rooflint.report.plot import DPI, FIGSIZE, memory_curves, roofline_figure, roofline_points  # noqa: E402
from rooflint.specs.catalog import load_hardware, load_model  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")


def _cpu_profile(cli, tmp_path):
    """The profile of the machine the fixture's kernels ran on (measure --save-profile)."""
    profile = tmp_path / "cpu.yaml"
    cli("measure", "--load", FIXTURE, "--save-profile", str(profile), "-o", str(tmp_path / "m.txt"))
    return profile


def test_png_has_the_figure_size_and_is_drawn(cli, tmp_path):
    import matplotlib.image as mpimg
    import numpy as np

    out = tmp_path / "roof.png"
    cli("plot", "llama2-7b", "--gpu", str(_cpu_profile(cli, tmp_path)), "--dtype", "fp32", "-o", str(out),
        "--measured", FIXTURE)
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


def test_measured_kernels_only_on_their_own_device(cli, tmp_path):
    """The fixture ran on a CPU: placing its kernels on an A100's roofline is refused, naming both."""
    out = tmp_path / "roof.png"
    r = cli("plot", "llama2-7b", "--gpu", "a100", "-o", str(out), "--measured", FIXTURE, code=2)
    assert "Intel(R) Xeon(R) Processor" in r.stderr and "a100-40gb" in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists()


def test_labels_never_overprint_and_every_op_is_keyed():
    from rooflint.report.plot import LABEL_GAP_PX, label_groups, roofline_axes

    a = analyze(load_model("deepseek-v3"), load_hardware("h200"), Workload())
    pts = roofline_points(a)
    (x0, x1), (y0, y1) = roofline_axes(a, pts)
    size = (600, 350)
    groups = label_groups(pts, ((x0, x1), (y0, y1)), size)
    assert sorted(p.label + p.group for g in groups for p in g) == sorted(p.label + p.group for p in pts)

    def at(p):
        return (math.log(p.intensity / x0) / math.log(x1 / x0) * size[0],
                math.log(p.flop_per_s / y0) / math.log(y1 / y0) * size[1])

    anchors = [at(g[0]) for g in groups]
    for i, u in enumerate(anchors):
        for v in anchors[i + 1:]:
            assert math.dist(u, v) >= LABEL_GAP_PX  # two numbers never print over each other
    assert len(groups) < len(pts)  # decode's ops pile up near 1 FLOP/B: they share numbers


def test_legends_and_key_sit_outside_the_data():
    import matplotlib.pyplot as plt

    fig = roofline_figure(load_model("llama3-8b"), load_hardware("h100"), Workload())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        data = ax.get_window_extent(renderer)
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.y1 <= data.y0  # below the panel, not over its points
    plt.close(fig)


def test_mla_is_shown_as_a_latent_cache():
    a = analyze(load_model("deepseek-v3"), load_hardware("h200"), Workload())
    labels = list(memory_curves(a, [1024]))
    assert "KV fp16 (as specified, latent cache: 512 + 64 per token per layer)" in labels
    assert not any("H_kv" in label for label in labels)
