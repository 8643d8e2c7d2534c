"""Stand-alone accuracy of every pooling configuration: the ground truth of pooling-supernet ranking.

The space is the ResNet20 pooling space of "Balanced Mixture of SuperNets for Learning the CNN
Pooling Architecture" (Javan, Toews, Pedersoli; AutoML-Conf 2023): 2 max-pools placed before 2 of
the 9 basic blocks, 36 configurations, scaled down for a CPU: channel widths divided by
``--width-divisor`` (2: ``8,8,8,8,16,16,16,32,32,32``), CIFAR-10 subset images (1,000 train,
1,000 test, ``../shared/data/cifar10_subset``) average-pooled to ``--image-size`` pixels. Every
configuration is trained alone from scratch (ordinary affine BatchNorm with running statistics,
SGD momentum 0.9, ``--lr`` cosine to 0, weight decay ``--weight-decay``, batch ``--batch-size``,
``--epochs`` epochs, no augmentation) on all 1,000 training images and scored on the 1,000 test
images. The initialisation and the batch order are seeded from (``--seed``, configuration index).

    /work/heavy python benchmarks/standalone_pooling.py --seed 0
    /work/heavy python benchmarks/standalone_pooling.py --seed 1

The table goes to ``benchmarks/results/standalone_pooling_<setting>.json`` as ``{"setting",
"commands", "seeds": {seed: {config: accuracy}}}`` (``config`` is the pool positions, e.g.
``"4,7"``, the paper's ``[4,3,3]``), rewritten after every configuration so an interrupted sweep
keeps what it finished and continues where it stopped. Seeds may run in parallel processes: the
file is read, merged and replaced under a lock.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symnas import spaces
from symnas.core.files import write_json_atomic
from symnas.programs.data import Dataset, load_dataset, resized
from symnas.programs.families.pooling import build
from symnas.programs.training.train import train
from symnas.spaces.pooling import RESNET20_CHANNELS, resnet_pooling

RESULTS = Path(__file__).resolve().parent / "results"
DATA = "cifar10_subset:../shared/data/cifar10_subset"


def config_key(pool_at: list[int]) -> str:
    """The table key of a configuration: its pool positions, ``"4,7"``."""
    return ",".join(str(p) for p in pool_at)


def pooling_space(width_divisor: int, image_size: int) -> Any:
    """The ResNet20 pooling space with every width divided by ``width_divisor``."""
    channels = [c // width_divisor for c in RESNET20_CHANNELS]
    return resnet_pooling(channels, 2, 10, 3, image_size)


def every_config(space: Any) -> list[dict[str, Any]]:
    """The 36 decoded specs of ``space``, sorted by pool positions."""
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(int(codec.size), np.random.default_rng(0))]
    return sorted(specs, key=lambda s: s["pool_at"])


def setting_name(args: argparse.Namespace) -> str:
    """The file-name tag of a stand-alone setting."""
    return (
        f"w{args.width_divisor}_{args.image_size}px_{args.epochs}ep_lr{args.lr}"
        f"_wd{args.weight_decay}_bs{args.batch_size}"
    )


@contextmanager
def locked(path: Path):
    """Holds an exclusive lock on ``path.lock`` (seeds running in parallel processes)."""
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record(path: Path, setting: dict[str, Any], seed: int, key: str, accuracy: float) -> None:
    """Merges one accuracy into the table at ``path`` (read, update, atomic replace)."""
    with locked(path):
        table = json.loads(path.read_text()) if path.exists() else {}
        if table and table.get("setting") != setting:
            raise ValueError(f"{path} holds another setting: {table.get('setting')}")
        table["setting"] = setting
        command = shlex.join(["python", *sys.argv])
        table["commands"] = sorted({*table.get("commands", []), command})
        table.setdefault("seeds", {}).setdefault(str(seed), {})[key] = accuracy
        write_json_atomic(path, table)


def train_one(spec: dict[str, Any], data: Dataset, seed: int, args: argparse.Namespace) -> float:
    """Test accuracy of ``spec`` trained alone with the sweep's recipe."""
    torch.manual_seed(seed)
    model = build(spec)
    result = train(
        model,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="sgd",
        weight_decay=args.weight_decay,
        seed=seed,
    )
    return float(result["accuracy"])


def main() -> None:
    """Runs the sweep of one seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--width-divisor", type=int, default=2)
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = resized(load_dataset(args.data), args.image_size)
    space = pooling_space(args.width_divisor, args.image_size)
    path = RESULTS / f"standalone_pooling_{setting_name(args)}.json"
    setting = {k: v for k, v in vars(args).items() if k != "seed"}
    done = {}
    if path.exists():
        done = json.loads(path.read_text()).get("seeds", {}).get(str(args.seed), {})
    for index, spec in enumerate(every_config(space)):
        key = config_key(spec["pool_at"])
        if key in done:
            continue
        start = time.process_time()
        accuracy = train_one(spec, data, 1000 * args.seed + index, args)
        record(path, setting, args.seed, key, accuracy)
        print(
            f"seed {args.seed} {key:>4}: {accuracy:.3f} ({time.process_time() - start:.1f} cpu-s)"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
