"""How well a cell's accuracy after a few epochs ranks NB201 cells by their full-count accuracy.

Chooses the setting of ``benchmarks/multi_fidelity.py``: a multi-fidelity search can only gain
from its low rungs if the accuracy there ranks architectures like the full training does. For
each candidate setting (input size, batch size, full epoch count) this script trains ``--cells``
random NAS-Bench-201 cells (C=8, N=1; drawn with ``pg.random_sample`` under ``--seed``) once,
for the full count, under the cosine schedule over the full count (the schedule the continued
trials of a multi-fidelity search follow, so the weights after ``b`` epochs are those of a
budget-``b`` trial), on the CIFAR-10 subset held out as in the flows (a fifth of each class as
validation). It prints Kendall's tau between the validation accuracy after 1, 3 and 9 epochs and
the full-count validation and test accuracy, and the training seconds per epoch.

    OMP_NUM_THREADS=1 python benchmarks/fidelity_ranking.py [--cells 12] [--seed 0]
        [--settings 8:64:9 16:64:9 16:64:27]   # size:batch:full epochs
        [--out benchmarks/results/fidelity_ranking.json]

The results file holds, per setting, every cell's validation accuracy after each epoch, its
full-count test accuracy, the seconds per epoch and the taus.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyglove as pg
import torch
from multi_fidelity import cifar_subset, space
from scipy.stats import kendalltau

from symnas import programs
from symnas.core.files import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "fidelity_ranking.json"


def parse_setting(text: str) -> tuple[int, int, int]:
    """``"size:batch:epochs"`` as three ints."""
    try:
        size, batch, epochs = (int(part) for part in text.split(":"))
    except ValueError:
        raise SystemExit(f"--settings: expected size:batch:epochs, got {text!r}") from None
    return size, batch, epochs


def curves(size: int, batch: int, full: int, specs: list) -> dict[str, list[list[float]]]:
    """Per cell, the validation accuracy after every epoch and the final test accuracy."""
    data = cifar_subset(size)
    valid, test = [], []
    for index, spec in enumerate(specs):
        torch.manual_seed(index)
        model = programs.build(spec, num_classes=data.num_classes)
        accuracy: list[float] = []

        def on_epoch(epoch: int, module: torch.nn.Module, accuracy: list = accuracy) -> None:
            accuracy.append(programs.evaluate(module, data, "valid")["accuracy"])

        result = programs.train(
            model, data, epochs=full, batch_size=batch, seed=index, on_epoch=on_epoch
        )
        valid.append(accuracy)
        test.append(result["accuracy"])
    return {"valid": valid, "test": [[t] for t in test]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", nargs="+", default=["8:64:9", "16:64:9", "16:64:27"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs = list(pg.random_sample(space(), num_examples=args.cells, seed=args.seed))
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for text in args.settings:
        size, batch, full = parse_setting(text)
        start = time.perf_counter()
        found = curves(size, batch, full, specs)
        seconds = (time.perf_counter() - start) / (args.cells * full)
        final_valid = [row[-1] for row in found["valid"]]
        final_test = [row[0] for row in found["test"]]
        taus = {
            epochs: (
                kendalltau([row[epochs - 1] for row in found["valid"]], final_valid).statistic,
                kendalltau([row[epochs - 1] for row in found["valid"]], final_test).statistic,
            )
            for epochs in (1, 3, 9)
            if epochs < full
        }
        results[text] = {**found, "seconds_per_epoch": seconds, "tau": taus}
        write_json_atomic(args.out, results)
        print(
            f"{size}x{size} batch {batch} full {full}: {seconds:.2f} s/epoch; full valid "
            f"{min(final_valid):.3f}-{max(final_valid):.3f}, test {min(final_test):.3f}-"
            f"{max(final_test):.3f}; tau(valid@b, full valid / full test): "
            + ", ".join(f"b={b} {v:+.2f} / {t:+.2f}" for b, (v, t) in taus.items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
