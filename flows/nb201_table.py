"""The published NAS-Bench-201 results as a table keyed by official arch string."""

from __future__ import annotations

import csv
from pathlib import Path


def read_table(path: str | Path, column: str = "test_acc") -> dict[str, float]:
    """``{arch_str: value of column}`` of a NAS-Bench-201 CSV (columns ``arch_str`` and
    ``column``, as ``../shared/data/nb201/nb201_cifar10.csv``)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"arch_str", column} <= set(rows[0]):
        raise ValueError(f"NB201 table {path} must have columns arch_str and {column}.")
    return {row["arch_str"]: float(row[column]) for row in rows}
