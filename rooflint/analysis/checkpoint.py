"""What a checkpoint's files hold: the model's weights in their stored formats, plus what serving
does not load by default: the multi-token-prediction modules, and the copies of the embedding
and head that some releases store beside them (DeepSeek-V3's layer 61 carries its own
embed_tokens and shared_head.head; GLM-4.5's MTP layer an embed_tokens).

    checkpoint_bytes = sum_c (N_c + M_c) s_c + (N_h + M_h) b_ck

N_c: the model's linear weights of class c (attention, dense MLP, shared experts, experts,
lm_head), M_c the MTP modules', at s_c, the bytes per element the checkpoint stores them in
(its quantization_config's format, else b_ck); N_h, M_h: embeddings, norms, routers, biases,
vision tower, eh_proj and the stored copies, at b_ck, the file's torch_dtype (the activations'
type when it names none). A --weight-dtype changes what is served, not the files. Safetensors
headers (~12 MB for DeepSeek-V3's 163 files) are not counted.
"""

from __future__ import annotations

from rooflint.analysis import params
from rooflint.analysis.expr import add, sym
from rooflint.analysis.terms import Figure, figure
from rooflint.dtypes import DTYPES
from rooflint.specs import Model

# V x D tables a release stores again in its MTP modules (per module), by family.
STORED_COPIES = {"deepseek_v3": 2, "glm4_moe": 1}


def mtp_counts(m: Model) -> tuple[dict[str, int], int]:
    """(linear weights by class, other parameters) of the MTP modules, with the stored copies."""
    by_class, other = params.mtp_parts(m)
    return by_class, other + m.mtp_layers * STORED_COPIES.get(m.model_type, 0) * m.vocab_size * m.hidden_size


def checkpoint_figures(m: Model) -> list[Figure]:
    by_class, _ = mtp_counts(m)
    mtp = add(*(sym(f"M_{c}") * sym(f"s_{c}") for c, v in by_class.items() if v), sym("M_h") * sym("b_ck"))
    stored = add(*(sym(f"N_{c}") * sym(f"s_{c}") for c, n in params.class_counts(m).items() if n),
                 sym("N_h") * sym("b_ck"))
    return [figure("checkpoint.mtp_bytes", mtp, "bytes",
                   "MTP modules (their linear weights in their class's format) and stored embedding/head copies"),
            figure("checkpoint.bytes", stored + sym("mtp_bytes"), "bytes",
                   "the release's tensors: each weight class in its stored format, the rest at the file's dtype, "
                   "and the MTP modules")]


def checkpoint_constants(m: Model, act_bytes: float) -> dict[str, float]:
    by_class, other = mtp_counts(m)
    b_ck = DTYPES[m.checkpoint_dtype].bytes if m.checkpoint_dtype else act_bytes
    q = m.quantization
    stored = {f"s_{c}": (q.format(c).bytes_per_element if q is not None and q.format(c) is not None else b_ck)
              for c in params.CLASS_SYMBOLS}
    return {**{f"M_{c}": v for c, v in by_class.items() if v}, "M_h": other, "b_ck": b_ck, **stored}
