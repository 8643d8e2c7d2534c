"""The published NAS-Bench-201 results as a table keyed by official arch string."""

from __future__ import annotations

import csv
from pathlib import Path

from symnas.flows.family_flows import data_root

#: The published CIFAR-10 table under the shared data folder (``$SYMNAS_DATA`` or
#: ``../shared/data``).
SHARED_TABLE = ("nb201", "nb201_cifar10.csv")


def nb201_table_path(flow: str, table: str | Path | None) -> Path | None:
    """The NB201 table a flow reads: ``table`` (which must be a file), else the shared table
    when it is present, else None."""
    if table is not None:
        path = Path(table)
        if not path.is_file():
            raise ValueError(f"{flow}: option 'table': {table} is not a file.")
        return path
    shared = data_root(SHARED_TABLE[0]) / SHARED_TABLE[1]
    return shared if shared.is_file() else None


def read_table(path: str | Path, column: str = "test_acc") -> dict[str, float]:
    """``{arch_str: value of column}`` of a NAS-Bench-201 CSV (columns ``arch_str`` and
    ``column``, as ``../shared/data/nb201/nb201_cifar10.csv``)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"arch_str", column} <= set(rows[0]):
        raise ValueError(f"NB201 table {path} must have columns arch_str and {column}.")
    return {row["arch_str"]: float(row[column]) for row in rows}
