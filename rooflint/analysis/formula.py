"""Formulas kept as text and evaluated from it, so the formula shown is the one computed.

Only arithmetic on named symbols is allowed (checked on the syntax tree), and each text is
compiled once.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from functools import lru_cache

_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
            ast.FloorDiv, ast.Pow, ast.USub, ast.Name, ast.Load, ast.Constant, ast.Call)
_FUNCTIONS = {"min": min, "max": max, "ceil": math.ceil}


@lru_cache(maxsize=None)
def _compile(text: str):
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"formula {text!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise ValueError(f"formula {text!r}: only {', '.join(_FUNCTIONS)} may be called")
    return compile(tree, "<formula>", "eval")


def evaluate(text: str, symbols: Mapping[str, float]) -> float:
    """Value of a formula such as '2*T*D*H_q*d' for the given symbols."""
    return eval(_compile(text), {"__builtins__": {}, **_FUNCTIONS}, dict(symbols))


def names(text: str) -> list[str]:
    """Symbols a formula uses, in order of first appearance."""
    seen: list[str] = []
    for node in ast.walk(ast.parse(text, mode="eval")):
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in seen:
            seen.append(node.id)
    return seen


def substitute(text: str, symbols: Mapping[str, float]) -> str:
    """The formula with each symbol replaced by its value: '2*T*D' -> '2*4096*4096'."""
    out = ast.parse(text, mode="eval")

    class _Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name):
            if node.id in symbols:
                value = symbols[node.id]
                value = int(value) if float(value).is_integer() else value
                return ast.copy_location(ast.Constant(value), node)
            return node

    return ast.unparse(_Sub().visit(out))
