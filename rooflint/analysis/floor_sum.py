"""floor_sum(n, m, a, b) = sum over j = 0..n-1 of floor((a*j + b) / m), for whole numbers: the
Euclid-like reduction of AtCoder Library's floor_sum, O(log m) steps, over Python integers or
numpy arrays. Exact tile geometry (flash.py) is made of these sums."""

from __future__ import annotations


def floor_sum_value(n: int, m: int, a: int, b: int) -> int:
    """sum_{j=0}^{n-1} floor((a*j + b) / m) in O(log m) steps (the Euclid-like reduction of
    AtCoder Library's floor_sum), exact for whole numbers."""
    if n <= 0:
        return 0
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m or b < 0:  # floor division: a negative offset is whole m's below zero plus a remainder
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b = divmod(y_max, m)
        m, a = a, m


def floor_sum_array(n, m, a, b):
    """floor_sum over numpy arrays (broadcast), the same reduction with masks."""
    import numpy as np

    n, m, a, b = (np.asarray(x, dtype=np.int64) for x in np.broadcast_arrays(n, m, a, b))
    n, m, a, b = n.copy(), m.copy(), a.copy(), b.copy()
    total = np.zeros(n.shape, dtype=np.int64)
    active = n > 0
    while active.any():
        big_a = active & (a >= m)
        total[big_a] += (n[big_a] - 1) * n[big_a] // 2 * (a[big_a] // m[big_a])
        a[big_a] %= m[big_a]
        big_b = active & ((b >= m) | (b < 0))
        total[big_b] += n[big_b] * (b[big_b] // m[big_b])
        b[big_b] %= m[big_b]
        y_max = a * n + b
        active &= y_max >= m
        if not active.any():
            break
        idx = active
        n[idx], b[idx] = y_max[idx] // m[idx], y_max[idx] % m[idx]
        m[idx], a[idx] = a[idx], m[idx].copy()
    return total
