"""Conformance checks of a dataset loader: a name of ``programs.data.DATASETS`` or an ``Entry`` of
one's own (``Entry(name, loader, description, meta={"folder": bool})``).

:func:`check_dataset` raises ``AssertionError`` naming the dataset when its loader (for a
registered name, through ``load_dataset``, the path every consumer takes) gives different tensors
at two calls, an empty split, non-finite or non-float inputs, labels that are not int64 or leave
a class without a training sample, or a ``loader`` whose batches do not cover a split exactly
once; and when a registered loader that reads files is not refused, with the way to name its
folder, when none is given.
"""

from __future__ import annotations

from pathlib import Path

import torch

from symnas.core.registry import Entry
from symnas.programs.data import DATASETS, SPLITS, Dataset, load_dataset


def _name(dataset: str | Entry) -> str:
    return dataset if isinstance(dataset, str) else dataset.name


def _load(dataset: str | Entry, folder: str | Path | None) -> Dataset:
    entry = DATASETS.get(dataset) if isinstance(dataset, str) else dataset
    reads_files = bool(entry.meta.get("folder"))
    assert folder is not None or not reads_files, (
        f"{entry.name}: reads files; give its folder to check it"
    )
    if isinstance(dataset, str):
        return load_dataset(dataset, folder)
    return entry.obj(folder) if reads_files else entry.obj()


def check_dataset_tensors(dataset: str | Entry, folder: str | Path | None = None) -> None:
    """Two loads are equal; each split is non-empty with finite float inputs and int64 labels,
    and every class has a training sample."""
    name = _name(dataset)
    data, again = _load(dataset, folder), _load(dataset, folder)
    assert isinstance(data, Dataset), f"{name}: the loader returned {type(data).__name__}"
    for split in SPLITS:
        x, y = data.tensors(split)
        x2, y2 = again.tensors(split)
        assert torch.equal(x, x2) and torch.equal(y, y2), f"{name}: two loads differ ({split})"
        assert len(x) > 0, f"{name}: the {split} split is empty"
        assert x.is_floating_point() and bool(torch.isfinite(x).all()), (
            f"{name}: {split} inputs must be finite floats; got {x.dtype}"
        )
        assert y.dtype == torch.int64, f"{name}: {split} labels are {y.dtype}, not int64"
    missing = set(range(data.num_classes)) - set(data.y_train.tolist())
    assert not missing, f"{name}: classes {sorted(missing)} have no training sample"


def check_dataset_loader(
    dataset: str | Entry, folder: str | Path | None = None, batch_size: int = 64
) -> None:
    """``loader(split, batch_size, shuffle=True)`` gives every sample of the split once, in
    batches of ``batch_size`` (the last one shorter)."""
    name, data = _name(dataset), _load(dataset, folder)
    for split in SPLITS:
        x, _ = data.tensors(split)
        batches = list(data.loader(split, batch_size, shuffle=True, seed=0))
        sizes = [len(bx) for bx, _ in batches]
        assert sum(sizes) == len(x) and all(s == batch_size for s in sizes[:-1]), (
            f"{name}: {split} batches of sizes {sizes} do not cover its {len(x)} samples"
        )
        assert all(tuple(bx.shape[1:]) == data.input_shape for bx, _ in batches), (
            f"{name}: {split} batches do not have input_shape {data.input_shape}"
        )


def check_dataset_folder_is_required(dataset: str | Entry) -> None:
    """A registered loader that reads files, named without its folder, is refused with the way to
    name it."""
    if not isinstance(dataset, str) or not DATASETS.get(dataset).meta["folder"]:
        return
    try:
        load_dataset(dataset)
    except ValueError as e:
        assert f"'{dataset}:FOLDER'" in str(e), (
            f"{dataset}: the error {e} does not say how to name its folder"
        )
    else:
        raise AssertionError(f"{dataset}: loaded without its folder")


def check_dataset(dataset: str | Entry, folder: str | Path | None = None) -> None:
    """Runs every dataset check on a registered dataset's name or an ``Entry`` (``folder``: where
    a loader that reads files finds them)."""
    check_dataset_folder_is_required(dataset)
    check_dataset_tensors(dataset, folder)
    check_dataset_loader(dataset, folder)
