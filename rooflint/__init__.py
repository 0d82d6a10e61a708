"""rooflint: where the time and the memory of LLM inference go.

Library use mirrors the CLI::

    from rooflint import load_model, load_hardware, analyze, Workload
    a = analyze(load_model("llama2-7b"), load_hardware("a100"), Workload(prompt=4096))
    a.kv_bytes_per_token, a.tpot_s, a.terms["memory.kv_cache_bytes"]
"""

from rooflint.analysis.inference import Analysis, analyze
from rooflint.dtypes import DTYPES, dtype
from rooflint.errors import RooflintError, SpecError, UnknownNameError
from rooflint.specs import Hardware, Model
from rooflint.specs.catalog import load_hardware, load_model
from rooflint.workload import Workload, resolve

__version__ = "0.1.0"
__all__ = ["Analysis", "DTYPES", "Hardware", "Model", "RooflintError", "SpecError", "Workload", "resolve",
           "UnknownNameError", "analyze", "dtype", "load_hardware", "load_model"]
