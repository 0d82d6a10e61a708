"""Results made once per identity of the objects they derive from (a model, a shard, a GPU, an
engine): frozen specs are compared by identity, not by value, so a cache keyed by id() must keep
its owners alive in the entry (else a new object could take a freed id) and check them on a hit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def per_object(cache: dict, owners: tuple, make: Callable[[], T], extra: Any = None, limit: int = 256) -> T:
    """make()'s result for these owners (and `extra`, a plain hashable key), made once."""
    key = (*map(id, owners), extra)
    hit = cache.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], owners)):
        return hit[1]
    if len(cache) > limit:
        cache.clear()
    value = make()
    cache[key] = (owners, value)
    return value
