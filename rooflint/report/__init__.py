"""Reports: what a command shows (tables, summary, explanations) and the writers for each format."""

from rooflint.report.model import Column, Report, Table

__all__ = ["Column", "Report", "Table"]
