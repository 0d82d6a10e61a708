"""Specs: what a model and an accelerator are (frozen, validated, base units), and where they
come from (the catalog of built-in and user files, Hugging Face config mapping)."""

from rooflint.specs.hardware import Hardware, freeze
from rooflint.specs.model import Model

__all__ = ["Hardware", "Model", "freeze"]
