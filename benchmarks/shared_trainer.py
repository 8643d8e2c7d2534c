"""The shared supernet trainer against the inline trainers it replaced: same weights, step time.

Before the weight-sharing contract, ``hw-nested`` trained its pooling supernet with an inline
``programs.train(step_fn=...)`` loop drawing a uniform architecture per step, and PreNAS had its own
``train_sampled`` loop (AdamW, label smoothing). This script runs each reference loop, written here
as it was, and ``SupernetTrainer`` with the same sampler stream, seed and recipe, then reports the
largest weight difference and the ratio of their step times (interleaved repeats, medians; the
reference's closing evaluation, which ``programs.train`` always runs, is timed and left out).

Usage: python benchmarks/shared_trainer.py [--repeats 3] [--epochs 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from symnas import programs, spaces
from symnas.algorithms.oneshot.prenas import prenas_config
from symnas.algorithms.samplers import PreferredSampler, UniformSampler
from symnas.flows.prenas_flow import mini_autoformer
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.programs.training.train import evaluate, train


def reference(supernet, data, sampler, config: TrainConfig) -> float:
    """The inline loop: ``programs.train`` with a step function that runs the sampled paths."""
    rng = np.random.default_rng(config.seed)

    def step(module, x, y, _):
        specs = sampler.sample(rng)
        losses = [
            F.cross_entropy(module(x, s), y, label_smoothing=config.label_smoothing) for s in specs
        ]
        return torch.stack(losses).mean()

    start = time.perf_counter()
    train(
        supernet,
        data,
        config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        optimizer=config.optimizer,
        weight_decay=config.weight_decay,
        seed=config.seed,
        step_fn=step,
    )
    total = time.perf_counter() - start
    # programs.train ends by scoring the active path on both splits: time that and leave it out.
    start = time.perf_counter()
    evaluate(supernet, data, "test")
    evaluate(supernet, data, "train")
    return total - (time.perf_counter() - start)


def shared(supernet, data, sampler, config: TrainConfig, space) -> float:
    """The shared trainer with the same sampler, seed and recipe."""
    start = time.perf_counter()
    SupernetTrainer(
        supernet, data, config, sampler=sampler, space=space, device="cpu", progress=False
    ).fit()
    return time.perf_counter() - start


def max_difference(a, b) -> float:
    """Largest absolute difference between two modules' parameters."""
    return max(
        (p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


def compare(name: str, space, make_sampler, config: TrainConfig, data, repeats: int) -> None:
    """Runs both loops ``repeats`` times (interleaved) and prints the figures."""
    times = {"reference": [], "shared": []}
    for _ in range(repeats):
        torch.manual_seed(config.seed)
        ref = programs.supernet(space)
        torch.manual_seed(config.seed)
        new = programs.supernet(space)
        new.load_state_dict(ref.state_dict())
        times["reference"].append(reference(ref, data, make_sampler(ref), config))
        times["shared"].append(shared(new, data, make_sampler(new), config, space))
        diff = max_difference(ref, new)
    steps = config.epochs * len(data.loader("train", config.batch_size))
    ref_ms = 1000 * statistics.median(times["reference"]) / steps
    new_ms = 1000 * statistics.median(times["shared"]) / steps
    print(
        f"{name}: {steps} steps; max |weight difference| {diff:.3g}; step time reference "
        f"{ref_ms:.2f} ms, shared {new_ms:.2f} ms, ratio {new_ms / ref_ms:.3f} "
        f"(medians of {repeats})"
    )


def main() -> None:
    """Runs both comparisons."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = programs.data.digits()

    pooling = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    codec = spaces.compile(pooling)
    every = [codec.decode(g) for g in codec.distinct(int(codec.size), np.random.default_rng(0))]
    config = TrainConfig(epochs=args.epochs, optimizer="adam", lr=3e-3, seed=0)
    compare(
        "hw-nested pooling supernet (uniform over 36 architectures, Adam)",
        pooling,
        lambda supernet: UniformSampler(specs=every).bind(pooling, supernet),
        config,
        data,
        args.repeats,
    )

    vit = mini_autoformer()
    torch.manual_seed(0)
    sizes = [16, 24, 32]
    preferred = [{**programs.supernet(vit).max_spec(), "embed_dim": e, "depth": 2} for e in sizes]
    compare(
        "prenas-vit supernet (preferred set of 3, AdamW, label smoothing 0.1)",
        vit,
        lambda supernet: PreferredSampler(preferred).bind(vit, supernet),
        prenas_config(args.epochs, lr=5e-3, seed=0),
        data,
        args.repeats,
    )


if __name__ == "__main__":
    main()
