"""Parameter counts derived from each spec's fields match the published sizes.

Published figures: the exact counts Hugging Face shows from each checkpoint's safetensors
metadata (rounded in the model names and papers: Llama 2 "7B/13B/70B", GPT-2 "124M", ...).
"""

import pytest

from rooflint import load_model
from rooflint.analysis.params import parameter_breakdown, parameter_count

PUBLISHED = {
    "llama2-7b": 6_738_415_616,
    "llama2-13b": 13_015_864_320,
    "llama2-70b": 68_976_648_192,
    "llama3-8b": 8_030_261_248,
    "llama3-70b": 70_553_706_496,
    "mistral-7b": 7_241_732_096,
    "qwen2.5-7b": 7_615_616_512,
    "gpt2": 124_439_808,
    "falcon-7b": 6_921_720_704,
}


@pytest.mark.parametrize("name,published", PUBLISHED.items())
def test_published_sizes(name, published):
    assert parameter_count(load_model(name)) == published


def test_llama2_7b_by_hand():
    # embed 32000*4096 + 32 layers * (4*4096^2 + 3*4096*11008 + 2*4096) + 4096 + lm_head 32000*4096
    per_layer = 4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096
    assert parameter_count(load_model("llama2-7b")) == 2 * 32000 * 4096 + 32 * per_layer + 4096


def test_gpt2_parts():
    parts = parameter_breakdown(load_model("gpt2"))
    assert parts["position_embedding"] == 1024 * 768
    assert parts["lm_head"] == 0  # tied to the token embedding
