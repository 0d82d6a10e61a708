"""`rooflint report`: the self-contained HTML file, read as text and then in a real browser
(headless Chromium from the system's package manager, driven by selenium; skipped with the reason
when either is missing; CI installs both).

Expected figures come from first principles: llama3-8b's decode lm_head is 2 x D x V =
2 x 4096 x 128256 FLOPs for one token and reads its V x D fp16 weights (1,050,673,152 bytes).
"""

import json
import re
import shutil
from html.parser import HTMLParser

import pytest

D, V = 4096, 128256
LM_HEAD_FLOPS = 2 * D * V  # one token through lm_head
LM_HEAD_WEIGHT_BYTES = V * D * 2


def _write(cli, tmp_path, *gpus, model="llama3-8b"):
    out = tmp_path / "report.html"
    args = ["report", model, "-o", str(out), "--batch", "1", "--context", "2048", "--prompt", "2048"]
    for g in gpus:
        args += ["--gpu", g]
    cli(*args)
    return out


def _op_count(cli, model, gpu):
    """Ops that do arithmetic on data in prefill and decode: what the roofline can place."""
    doc = cli.json("analyze", model, "--gpu", gpu, "--batch", "1", "--context", "2048", "--prompt", "2048")
    return sum(1 for ph in doc["phases"].values() for o in ph["ops"]
               if o["flops"] > 0 and o["bytes_read"] + o["bytes_written"] > 0)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_file_is_self_contained_and_carries_every_op(cli, tmp_path):
    html = _write(cli, tmp_path, "h100", "a100").read_text()
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:  # works offline: nothing fetched
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http:", "https:", "//")), (tag, attrs)
    assert sum(1 for t, a in parser.tags if t == "section" and "gpu" in a.get("class", "")) == 2
    points, gpu = [], None
    for t, a in parser.tags:
        gpu = a.get("data-gpu", gpu) if t == "section" else gpu
        if "op" in a.get("class", "").split():
            points.append({**a, "gpu": gpu})
    listed = [(a["gpu"], op) for a in points for op in a["data-ops"].split()]
    # every op once per GPU; ops on the same pixel share one point (each listed in its tooltip)
    assert len(listed) == len(set(listed))
    assert len(listed) == _op_count(cli, "llama3-8b", "h100") + _op_count(cli, "llama3-8b", "a100")
    assert len(points) < len(listed)  # one token's projections coincide on the decode roof
    for a in points:
        assert int(a["data-count"]) == len(a["data-ops"].split()) == a["data-tip"].count(" per pass): ")
    lm_head = _lm_head_lines(next(a for a in points if "decode:lm_head" in a["data-ops"].split())["data-tip"])
    assert f"FLOPs: {LM_HEAD_FLOPS:,}" in lm_head
    assert "flops = " in lm_head  # its formula beside the number
    data = json.loads(re.search(r'<script type="application/json" id="rooflint-data">(.*?)</script>', html).group(1))
    assert data["model"] == "llama3-8b" and data["gpus"] == ["h100-sxm", "a100-40gb"]


def _lm_head_lines(tip: str) -> str:
    """decode lm_head's lines of a tooltip (its heading, then its indented lines)."""
    lines = tip.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("lm_head (decode"))
    own = [lines[i]]
    for line in lines[i + 1:]:
        if not line.startswith("  "):
            break
        own.append(line)
    return "\n".join(own)


def test_memory_chart_has_the_capacity_line(cli, tmp_path):
    html = _write(cli, tmp_path, "h100").read_text()
    assert 'data-label="h100-sxm capacity"' in html
    assert re.search(r'data-label="KV cache \(fp16\)"', html)


@pytest.mark.parametrize("args,needle", [
    (["-o", "report.txt"], "expected an .html file"),
    (["-o", "no/such/folder/r.html"], "no folder"),
    (["-o", "r.html", "--gpu", "no-such-gpu"], "no-such-gpu"),
])
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    r = cli("report", "llama3-8b", *args, code=2)
    assert needle in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def _browser():
    try:
        from selenium import webdriver
    except ImportError:
        pytest.skip("selenium is not installed (pip install '.[test]')")
    binary = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no Chromium and chromedriver installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--window-size=1280,1000", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=opts)


@pytest.fixture
def browser():
    driver = _browser()
    yield driver
    driver.quit()


def test_in_a_browser_the_charts_render_hover_and_sort(cli, tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = _write(cli, tmp_path, "h100", "a100")
    browser.get(path.as_uri())
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    sections = browser.find_elements(By.CSS_SELECTOR, "section.gpu")
    assert [s.get_attribute("data-gpu") for s in sections] == ["h100-sxm", "a100-40gb"]
    h100 = sections[0]
    listed = [op for p in h100.find_elements(By.CSS_SELECTOR, "figure.roofline svg .op")
              for op in p.get_attribute("data-ops").split()]
    assert len(listed) == len(set(listed)) == _op_count(cli, "llama3-8b", "h100")
    assert len(h100.find_elements(By.CSS_SELECTOR, "figure.roofline svg .roof")) >= 4  # a roof per dtype
    # every chart laid out with a real size (rendered, not just present in the source)
    for svg in browser.find_elements(By.CSS_SELECTOR, "svg.chart"):
        box = svg.rect
        assert box["width"] > 300 and box["height"] > 200

    tip = browser.find_element(By.ID, "tooltip")
    assert not tip.is_displayed()
    lm_head = h100.find_element(By.CSS_SELECTOR, '.op[data-ops~="decode:lm_head"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", lm_head)
    ActionChains(browser).move_to_element(lm_head).perform()
    WebDriverWait(browser, 5).until(lambda d: tip.is_displayed())
    text = _lm_head_lines(browser.execute_script("return arguments[0].textContent", tip))
    assert tip.text.strip()  # shown, not just filled
    assert f"FLOPs: {LM_HEAD_FLOPS:,}" in text
    # bytes: the fp16 weights, the token's hidden state in and its logits out
    shown = int(re.search(r"bytes: ([\d,]+)", text).group(1).replace(",", ""))
    assert shown == LM_HEAD_WEIGHT_BYTES + D * 2 + V * 2
    assert "memory-bound" in text  # one token: 1 FLOP per byte, far left of the ridge

    table = h100.find_element(By.CSS_SELECTOR, "table.ops.decode")
    header = table.find_elements(By.CSS_SELECTOR, "th")[2]  # FLOPs
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
    header.click()
    values = [float(td.get_attribute("data-value")) for td in
              table.find_elements(By.CSS_SELECTOR, "tbody tr td:nth-child(3)")]
    assert values == sorted(values) and values[0] < values[-1]
    header.click()
    values = [float(td.get_attribute("data-value")) for td in
              table.find_elements(By.CSS_SELECTOR, "tbody tr td:nth-child(3)")]
    assert values == sorted(values, reverse=True)


def test_in_a_browser_the_screenshot_is_the_page(cli, tmp_path, browser):
    from io import BytesIO

    from PIL import Image

    path = _write(cli, tmp_path, "h100")
    browser.get(path.as_uri())
    width, height = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    image = Image.open(BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    assert image.size == (width, height)
    assert width >= 1000 and height >= 700
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, axes and points, not a blank page
    white = max(count for count, rgb in colours if rgb == (255, 255, 255)) if any(
        rgb == (255, 255, 255) for _, rgb in colours) else 0
    assert white < 0.97 * width * height


def test_the_report_loads_no_heavy_library():
    """A page is string work over the analysis: numpy, matplotlib and torch stay unloaded."""
    import subprocess
    import sys

    code = ("import sys; from rooflint import analyze, load_model, load_hardware;"
            "from rooflint.report.html_report import report_html;"
            "report_html([analyze(load_model('llama3-8b'), load_hardware('h100'))]);"
            "print(sorted(m for m in ('numpy', 'matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
