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
        "epochs_trained",
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


def test_train_scores_the_valid_split_when_the_data_has_one(blobs):
    split = blobs.with_validation(0.25, seed=0)
    model = _mlp()
    before = programs.evaluate(model, split, "valid")
    result = programs.train(model, split, epochs=5, batch_size=32, lr=1e-2)
    assert {"valid_accuracy", "valid_loss", "accuracy", "train_accuracy"} <= set(result)
    assert result["valid_accuracy"] > before["accuracy"] + 0.2
    assert result["valid_loss"] < before["loss"]
    assert result["valid_accuracy"] == programs.evaluate(model, split, "valid")["accuracy"]
    assert result["accuracy"] == programs.evaluate(model, split, "test")["accuracy"]
    # Training runs on the train split less the held-out part.
    assert len(split.y_train) + len(split.y_valid) == 300
    assert result["steps"] == 5 * math.ceil(len(split.y_train) / 32)
    assert "valid_accuracy" not in programs.train(_mlp(), blobs, epochs=1)


def _dropout_mlp() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))


def test_a_run_continued_from_its_saved_state_equals_the_uninterrupted_run(blobs, tmp_path):
    # Dropout draws from torch's generator and SGD with momentum keeps a state: both must be
    # carried over for the continued run to match the straight one bit for bit.
    settings = dict(batch_size=32, lr=0.05, optimizer="sgd", seed=7, schedule_epochs=9)
    straight = _dropout_mlp()
    seen: list[int] = []
    full = programs.train(
        straight, blobs, epochs=9, on_epoch=lambda e, m: seen.append(e), **settings
    )
    first = _dropout_mlp()
    short = programs.train(first, blobs, epochs=3, save_to=tmp_path / "e3.pt", **settings)
    assert short["epochs_trained"] == 3.0 and (tmp_path / "e3.pt").is_file()
    continued = _dropout_mlp()
    later: list[int] = []
    rest = programs.train(
        continued,
        blobs,
        epochs=9,
        resume_from=tmp_path / "e3.pt",
        on_epoch=lambda e, m: later.append(e),
        **{**settings, "seed": 99},  # the state's seed wins
    )
    assert later == seen[3:] == [4, 5, 6, 7, 8, 9]
    assert rest["epochs"] == 9.0 and rest["epochs_trained"] == 6.0
    assert rest["loss"] == full["loss"] and rest["accuracy"] == full["accuracy"]
    for a, b in zip(continued.state_dict().values(), straight.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_short_run_is_the_prefix_of_the_run_its_schedule_belongs_to(blobs):
    short, stopped, compressed = _mlp(), _mlp(), _mlp()
    programs.train(short, blobs, epochs=2, batch_size=32, schedule_epochs=6, seed=1)
    programs.train(stopped, blobs, epochs=6, batch_size=32, seed=1, on_epoch=lambda e, m: e < 2)
    programs.train(compressed, blobs, epochs=2, batch_size=32, seed=1)
    assert torch.equal(short[0].weight, stopped[0].weight)
    assert not torch.equal(short[0].weight, compressed[0].weight)


def test_no_state_is_saved_when_the_run_stops_early(blobs, tmp_path):
    programs.train(
        _mlp(),
        blobs,
        epochs=3,
        batch_size=32,
        on_epoch=lambda e, m: e < 2,
        save_to=tmp_path / "s.pt",
    )
    assert not (tmp_path / "s.pt").exists()


def test_resuming_with_other_settings_is_a_clear_error(blobs, tmp_path):
    programs.train(
        _mlp(), blobs, epochs=1, batch_size=32, schedule_epochs=4, save_to=tmp_path / "s.pt"
    )
    with pytest.raises(ValueError, match="made with schedule_steps=40 with schedule_steps=30"):
        programs.train(_mlp(), blobs, epochs=3, batch_size=32, resume_from=tmp_path / "s.pt")
    with pytest.raises(ValueError, match="made with batch_size=32 with batch_size=64"):
        programs.train(_mlp(), blobs, epochs=3, schedule_epochs=4, resume_from=tmp_path / "s.pt")
    with pytest.raises(ValueError, match="schedule_epochs \\(2\\) must be at least epochs"):
        programs.train(_mlp(), blobs, epochs=3, schedule_epochs=2)
    with pytest.raises(FileNotFoundError, match="resume_from"):
        programs.train(_mlp(), blobs, epochs=3, resume_from=tmp_path / "none.pt")
