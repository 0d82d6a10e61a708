"""Standard (eager) attention memory: Q/K/V/O vs the S and P score matrices (seed 004).

For one head of length N and head dim d: Q, K, V, O are N*d elements each; S and P are N*N.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttentionMemory:
    seq_len: int  # N
    head_dim: int  # d
    heads: int  # h
    batch: int  # b
    bytes_per_element: float

    @property
    def qkvo_bytes(self) -> float:
        """4 * b * h * N * d * bytes: Q, K, V and O."""
        return 4 * self.batch * self.heads * self.seq_len * self.head_dim * self.bytes_per_element

    @property
    def sp_bytes(self) -> float:
        """2 * b * h * N^2 * bytes: S and P, each N x N per head."""
        return 2 * self.batch * self.heads * self.seq_len**2 * self.bytes_per_element

    @property
    def sp_share(self) -> float:
        """S+P as a fraction of all attention tensors: SP / (SP + QKVO)."""
        return self.sp_bytes / (self.sp_bytes + self.qkvo_bytes)


def scores_bytes_per_layer(batch: int, heads: int, q_len: int, kv_len: int, bytes_per_element: float) -> float:
    """S and P of one layer's eager attention: 2 * B * H_q * S_q * S_kv * b_a."""
    return 2 * batch * heads * q_len * kv_len * bytes_per_element
