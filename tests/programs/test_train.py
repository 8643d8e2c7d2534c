"""Tests of the training loop and evaluation in symnas.programs.training.train."""

import math

import pytest
import torch
from torch import nn

from symnas import programs
from symnas.programs import data
from symnas.programs.training.train import cosine_schedule, make_optimizer


def _mlp(seed: int = 0, inputs: int = 8, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 16), nn.ReLU(), nn.Linear(16, classes))


@pytest.fixture(scope="module")
def blobs() -> data.Dataset:
    return data.synthetic(400, (8,), 4, seed=0)


def test_training_beats_the_untrained_model(blobs):
    model = _mlp()
    before = programs.evaluate(model, blobs)
    result = programs.train(model, blobs, epochs=5, batch_size=32, lr=1e-2)
    assert set(result) == {
        "accuracy",
        "loss",
        "train_accuracy",
        "train_loss",
        "epochs",
        "steps",
        "wall_s",
    }
    assert result["accuracy"] > 0.7 and result["accuracy"] > before["accuracy"] + 0.3
    assert result["loss"] < before["loss"]
    assert result["steps"] == 5 * math.ceil(300 / 32) and result["epochs"] == 5.0
    assert result["accuracy"] == programs.evaluate(model, blobs)["accuracy"]
    assert result["train_accuracy"] == programs.evaluate(model, blobs, "train")["accuracy"]


def test_training_is_deterministic_for_a_seed(blobs):
    runs = []
    for seed in (0, 0, 1):
        model = nn.Sequential(_mlp(), nn.Dropout(0.3))
        result = programs.train(model, blobs, epochs=2, seed=seed)
        runs.append((result["loss"], model[0][0].weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][1], runs[2][1])


def test_max_steps_stops_early_with_fractional_epochs(blobs):
    result = programs.train(_mlp(), blobs, epochs=50, batch_size=100, max_steps=4)
    assert result["steps"] == 4 and result["epochs"] == pytest.approx(4 / 3)


def test_on_epoch_sees_each_epoch_and_can_stop_the_training(blobs):
    seen = []

    def record(epoch, module):
        seen.append((epoch, programs.evaluate(module, blobs)["accuracy"], module.training))

    full = programs.train(_mlp(), blobs, epochs=3, batch_size=100, on_epoch=record)
    assert [e for e, _, _ in seen] == [1, 2, 3] and seen[-1][1] == full["accuracy"]
    assert all(training for _, _, training in seen)  # evaluate restores train mode
    # Stopping after epoch 2 runs 2 of the 3 epochs of the same schedule.
    stopped = programs.train(_mlp(), blobs, epochs=3, batch_size=100, on_epoch=lambda e, m: e < 2)
    assert stopped["steps"] == 2 * 3 and stopped["epochs"] == 2.0
    assert stopped["accuracy"] == pytest.approx(seen[1][1])


class _TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _mlp()
        self.other = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, use_other: bool = False) -> torch.Tensor:
        out = self.body(x)
        return self.other(out) if use_other else out


def test_forward_hook_selects_the_trained_path(blobs):
    model = _TwoHeads()
    head = model.other.weight.detach().clone()
    programs.train(model, blobs, epochs=1, forward=lambda m, x: m(x))
    assert torch.equal(model.other.weight, head)
    programs.train(model, blobs, epochs=1, forward=lambda m, x: m(x, use_other=True))
    assert not torch.equal(model.other.weight, head)


def test_step_fn_replaces_the_loss_and_sees_every_step(blobs):
    seen = []

    def step_fn(module, x, y, step):
        seen.append(step)
        return nn.functional.cross_entropy(module(x, use_other=True), y)

    model = _TwoHeads()
    head = model.other.weight.detach().clone()
    result = programs.train(model, blobs, epochs=2, batch_size=100, step_fn=step_fn)
    assert seen == list(range(6)) and result["steps"] == 6
    assert not torch.equal(model.other.weight, head)


def test_only_the_given_parameters_change(blobs):
    model = _mlp()
    first, last = model[0].weight.detach().clone(), model[2].weight.detach().clone()
    programs.train(model, blobs, epochs=1, parameters=model[2].parameters())
    assert torch.equal(model[0].weight, first) and not torch.equal(model[2].weight, last)


def test_gradient_clipping_bounds_each_sgd_step(blobs):
    model = _mlp()
    start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    programs.train(model, blobs, epochs=1, optimizer="sgd", lr=0.1, momentum=0.0, grad_clip=1e-3)
    moved = torch.cat([p.detach().flatten() for p in model.parameters()]) - start
    steps = math.ceil(300 / 64)
    assert 0 < float(moved.norm()) <= 0.1 * 1e-3 * steps * (1 + 1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_other_optimizers_learn(blobs, optimizer):
    lr = {"sgd": None, "adamw": 1e-2}[optimizer]
    result = programs.train(_mlp(), blobs, epochs=5, batch_size=32, optimizer=optimizer, lr=lr)
    assert result["accuracy"] > 0.7


def test_cosine_schedule_decays_to_zero():
    opt = make_optimizer([nn.Parameter(torch.zeros(1))], "sgd", lr=0.4)
    schedule = cosine_schedule(opt, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.4) and rates[5] == pytest.approx(0.2)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))


def test_evaluate_scores_a_known_classifier_and_restores_mode():
    y = torch.arange(5) % 3
    x = nn.functional.one_hot(y, 3).float()
    d = programs.Dataset(x, y, x, y, num_classes=3, input_shape=(3,), name="onehot")
    model = nn.Identity()
    model.train()
    result = programs.evaluate(model, d, batch_size=2)
    assert result["accuracy"] == 1.0
    assert result["loss"] == pytest.approx(math.log(math.e + 2) - 1)
    assert model.training


def test_digits_small_cnn_learns():
    digits = data.digits()
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )
    assert programs.train(model, digits, epochs=2, lr=3e-3)["accuracy"] > 0.85


@pytest.mark.parametrize(
    "kwargs, error, field",
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"optimizer": "lion"}, ValueError, "adam"),
        ({"max_steps": 0}, ValueError, "max_steps"),
        ({"label_smoothing": 1.0}, ValueError, "label_smoothing"),
        ({"grad_clip": 0.0}, ValueError, "grad_clip"),
    ],
)
def test_train_rejects_bad_arguments(blobs, kwargs, error, field):
    args = {"epochs": 1, **kwargs}
    with pytest.raises(error, match=field):
        programs.train(_mlp(), blobs, **args)


def test_train_and_evaluate_reject_wrong_types(blobs):
    with pytest.raises(TypeError, match="Dataset"):
        programs.train(_mlp(), (blobs.x_train, blobs.y_train), epochs=1)
    with pytest.raises(TypeError, match="nn.Module"):
        programs.evaluate(lambda x: x, blobs)
    with pytest.raises(ValueError, match="split"):
        programs.evaluate(_mlp(), blobs, split="val")
