"""Pure math: FLOPs, bytes, intensity and roofline time of the ops of LLM inference.

No I/O, no numpy, no torch. Symbols used in every formula (and in --explain):

    B     batch (sequences)             T     token rows in this pass (B*P prefill, B decode)
    P     prompt length                 C     context attended in a decode step
    S_q   query length per sequence     S_kv  key/value length per sequence
    L     layers                        D     hidden size
    H_q   query heads                   H_kv  key/value heads
    d     head dim                      F     MLP intermediate size
    V     vocabulary                    b_w*, b_a, b_kv bytes per weight (by class), activation, KV element

Conventions: a multiply-add is 2 FLOPs; an op's bytes are each input read once plus each
output written once; intensity = FLOPs / (read + written); roofline time = max(FLOPs / peak,
bytes / bandwidth), the peak being the one of the op's dtype and unit.
"""
