"""The shared supernet trainer: sampled paths, DARTS mixture, checkpoints and exact resume."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.algorithms.samplers import (
    SAMPLERS,
    PathSampler,
    SandwichSampler,
    UniformSampler,
    create_sampler,
    register_sampler,
)
from symnas.programs.data import synthetic, validation_split
from symnas.programs.training.supernet_train import (
    CHECKPOINT,
    TRAIN_LOG,
    ArchitectureParameters,
    SupernetTrainer,
    TrainConfig,
    resolve_device,
)

SPACE_ARGS = {"C": 2, "N": 1, "num_classes": 3, "in_chans": 1}


def tiny():
    """A 2-channel NB201 supernet and 3-class 8x8 data."""
    space = spaces.nb201_cell(**SPACE_ARGS)
    torch.manual_seed(0)
    return space, programs.supernet(space), synthetic(96, (1, 8, 8), 3, seed=0, noise=0.5)


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


class RecordingSampler(UniformSampler):
    """Records the losses the trainer feeds back."""

    def __init__(self) -> None:
        super().__init__(num_paths=2)
        self.received: list[tuple[int, list[float]]] = []

    def update(self, specs, losses) -> None:
        self.received.append((len(specs), list(losses)))


def test_sampled_training_learns_and_feeds_losses_back():
    space, supernet, data = tiny()
    sampler = RecordingSampler()
    config = TrainConfig(epochs=3, optimizer="adam", lr=1e-2, batch_size=32)
    record = SupernetTrainer(
        supernet, data, config, sampler=sampler, space=space, device="cpu", progress=False
    ).fit()
    assert record["epoch"] == 3 and record["step"] == 9
    assert len(sampler.received) == 9
    assert all(
        n == 2 and len(losses) == 2 and all(np.isfinite(losses)) for n, losses in sampler.received
    )
    assert np.mean(sampler.received[-1][1]) < np.mean(sampler.received[0][1])


def test_darts_mixture_trains_the_architecture_on_the_validation_stream():
    _, supernet, data = tiny()
    train, valid = validation_split(data, 0.5)
    arch = ArchitectureParameters(supernet.arch_decisions(), seed=0)
    before = [p.detach().clone() for p in arch.parameters()]
    config = TrainConfig(epochs=2, lr=0.05, batch_size=16, arch_lr=3e-2)
    trainer = SupernetTrainer(
        supernet, train, config, arch=arch, valid=valid, device="cpu", progress=False
    )
    record = trainer.fit()
    assert "arch_loss" in record and set(record["arch_weights"]) == set(supernet.arch_decisions())
    assert any(not torch.equal(b, p) for b, p in zip(before, arch.parameters(), strict=True))
    spec = supernet.discretize(arch.weights())
    supernet.arch_of(spec)  # a member of the space
    masked = arch.weights(mask={"edges[0]": [0, 1]})["edges[0]"].detach()
    assert masked[0] == 0 and masked[1] == 0 and abs(float(masked.sum()) - 1) < 1e-6


class RecordingArchTrainer(SupernetTrainer):
    """Records the validation batches the architecture step receives."""

    def arch_step(self, x_valid, y_valid, x, y) -> float:
        self.seen = [*getattr(self, "seen", []), x_valid.detach().clone()]
        return super().arch_step(x_valid, y_valid, x, y)


@pytest.mark.parametrize("augment", [None, "crop_flip"])
def test_the_architecture_step_is_augmented_with_the_training_batches(augment):
    _, supernet, data = tiny()
    train, valid = validation_split(data, 0.5)
    arch = ArchitectureParameters(supernet.arch_decisions(), seed=0)
    config = TrainConfig(epochs=1, lr=0.05, batch_size=16, arch_lr=3e-2, augment=augment)
    trainer = RecordingArchTrainer(
        supernet, train, config, arch=arch, valid=valid, device="cpu", progress=False
    )
    trainer.fit()
    rows = valid.x_test.flatten(1)
    batch = torch.cat(trainer.seen).flatten(1)
    raw = [bool((rows == row).all(1).any()) for row in batch]
    assert all(raw) if augment is None else not all(raw)


def test_fixed_architecture_weights_train_only_the_supernet():
    _, supernet, data = tiny()
    arch = ArchitectureParameters(supernet.arch_decisions(), seed=0)
    before = [p.detach().clone() for p in arch.parameters()]
    SupernetTrainer(
        supernet, data, TrainConfig(epochs=1), arch=arch, device="cpu", progress=False
    ).fit()
    assert all(torch.equal(b, p) for b, p in zip(before, arch.parameters(), strict=True))


def test_bad_settings_name_the_problem(tmp_path):
    space, supernet, data = tiny()
    config = TrainConfig(epochs=1)
    with pytest.raises(ValueError, match="exactly one of sampler"):
        SupernetTrainer(supernet, data, config)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        SupernetTrainer(
            supernet, data, TrainConfig(epochs=0), sampler=UniformSampler(), space=space
        )
    arch = ArchitectureParameters(supernet.arch_decisions())
    with pytest.raises(ValueError, match="arch_lr needs valid="):
        SupernetTrainer(supernet, data, TrainConfig(epochs=1, arch_lr=1e-3), arch=arch)
    pooling = spaces.resnet20_pooling(num_classes=3, in_chans=1, image_size=8)
    with pytest.raises(
        TypeError, match=r"'differentiable' capability.*Families with 'differentiable'"
    ):
        SupernetTrainer(programs.supernet(pooling), data, config, arch=arch)
    with pytest.raises(
        TypeError, match=r"SandwichSampler needs a supernet with the 'sized' capability"
    ):
        SupernetTrainer(supernet, data, config, sampler=SandwichSampler(), space=space)
    with pytest.raises(ValueError, match="device must be 'auto'"):
        resolve_device("gpu0")
    assert resolve_device("auto").type in ("cpu", "cuda")


def _train(out: Path | None, epochs: int = 4, resume: bool = False, seed: int = 0):
    space, supernet, data = tiny()
    config = TrainConfig(epochs=epochs, optimizer="sgd", lr=0.05, batch_size=32, seed=seed)
    trainer = SupernetTrainer(
        supernet,
        data,
        config,
        sampler=UniformSampler(),
        space=space,
        out=out,
        resume=resume,
        device="cpu",
        progress=False,
    )
    trainer.fit()
    return supernet, trainer


def test_checkpoints_are_refused_when_they_do_not_fit(tmp_path):
    _train(tmp_path, epochs=1)
    assert (tmp_path / CHECKPOINT).exists() and (tmp_path / TRAIN_LOG).read_text().count("\n") == 1
    with pytest.raises(ValueError, match="already holds a supernet checkpoint"):
        _train(tmp_path, epochs=1)
    with pytest.raises(
        ValueError, match=r"another configuration \(config.seed: checkpoint 0, now 1\)"
    ):
        _train(tmp_path, epochs=1, resume=True, seed=1)
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt supernet checkpoint"):
        _train(tmp_path, epochs=1, resume=True)


def test_a_checkpoint_holding_other_objects_is_refused_without_unsafe_advice(tmp_path):
    torch.save({"format": 1, "options": argparse.Namespace(lr=1)}, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match="corrupt supernet checkpoint") as info:
        _train(tmp_path, epochs=1, resume=True)
    message = str(info.value)
    assert "WeightsUnpickler error: Unsupported global" in message
    assert "weights_only" not in message and "delete it to train from scratch" in message


def test_progress_off_a_terminal_is_a_log_line_per_epoch(caplog, capsys):
    space, supernet, data = tiny()
    config = TrainConfig(epochs=2, optimizer="sgd", lr=0.05, batch_size=32, seed=0)
    trainer = SupernetTrainer(
        supernet, data, config, sampler=UniformSampler(), space=space, device="cpu", progress=True
    )
    with caplog.at_level(logging.INFO, logger="symnas"):
        trainer.fit()
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("supernet_train")]
    steps = trainer.total_steps
    assert [line.split(", loss")[0] for line in lines] == [
        f"supernet epoch 1/2: step {steps // 2}/{steps}",
        f"supernet epoch 2/2: step {steps}/{steps}",
    ]
    assert "supernet:" not in capsys.readouterr().err  # no bar off a terminal


def test_a_training_killed_with_sigkill_resumes_to_the_same_weights(
    tmp_path, kill_supernet_training
):
    straight, _ = _train(None)
    out = tmp_path / "run"
    kill_supernet_training(__file__, "t._train(out)", out)
    saved = torch.load(out / CHECKPOINT, weights_only=True)
    assert saved["epoch"] == 1  # killed mid-training, in the second epoch
    resumed, trainer = _train(out, resume=True)
    assert trainer.epoch == 4 and len(trainer.history) == 4
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        assert torch.equal(a, b)


def test_path_sampler_state_is_json_and_stateless_samplers_refuse_state():
    sampler = UniformSampler()
    assert sampler.state_dict() == {}
    with pytest.raises(ValueError, match="stateless"):
        sampler.load_state_dict({"weights": [1.0]})
    assert isinstance(PathSampler().config(), dict)


def test_path_samplers_are_made_by_name():
    assert {"uniform", "sandwich", "preferred"} <= set(SAMPLERS.names())
    assert SAMPLERS.get("sandwich").meta["requires"] == "sized"
    sampler = create_sampler("uniform", num_paths=2)
    assert isinstance(sampler, UniformSampler) and sampler.num_paths == 2
    with pytest.raises(ValueError, match=r"Unknown path sampler 'spos'; valid path samplers: \["):
        create_sampler("spos")
    with pytest.raises(TypeError, match="PathSampler subclass"):
        register_sampler("plain", "not a sampler")(dict)
