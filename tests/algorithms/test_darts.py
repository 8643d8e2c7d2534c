"""DARTS (first and second order) and DARTS-PT selection on the NB201 and DARTS cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from symnas import algorithms, flows, programs, spaces
from symnas.algorithms.oneshot.base import encode_spec
from symnas.algorithms.oneshot.darts import DARTSTrainer, darts_config
from symnas.algorithms.oneshot.perturbation import (
    PerturbationSelection,
    Projection,
    ProjectionTrainer,
)
from symnas.programs.data import synthetic, validation_split
from symnas.programs.training.supernet_train import ArchitectureParameters, TrainConfig
from symnas.spaces.relaxation import op_decisions


def tiny_data(n: int = 40, size: int = 4, seed: int = 0):
    """Learnable 3-channel images, small enough for a supernet step in milliseconds."""
    return synthetic(n, (3, size, size), 4, seed=seed, noise=0.5)


def nb201_space():
    return spaces.nb201_cell(C=2, N=1, num_classes=4)


def darts_space():
    # Three of the DARTS ops keep the 3-cell DARTS supernet fast; the node structure is unchanged.
    return spaces.darts_cell(
        C=2, layers=3, num_classes=4, ops=("none", "skip_connect", "avg_pool_3x3")
    )


def make_trainer(space, order=1, lr=0.025, weight_decay=3e-4, dtype=torch.float32, **options):
    torch.manual_seed(0)
    supernet = programs.supernet(space).to(dtype)
    arch = ArchitectureParameters(supernet.arch_decisions(), seed=0).to(dtype)
    train, valid = validation_split(tiny_data(), 0.5, seed=0)
    if dtype != torch.float32:
        train.x_train, valid.x_test = train.x_train.to(dtype), valid.x_test.to(dtype)
    config = darts_config(1, batch_size=8, lr=lr, weight_decay=weight_decay, seed=0)
    trainer = DARTSTrainer(
        supernet, train, config, arch=arch, valid=valid, device="cpu", order=order, **options
    )
    return trainer, train, valid


@pytest.mark.parametrize("space_fn", [nb201_space, darts_space])
def test_alpha_receives_gradients_and_moves(space_fn):
    trainer, train, valid = make_trainer(space_fn())
    before = [p.detach().clone() for p in trainer.arch.parameters()]
    x, y = train.x_train[:8], train.y_train[:8]
    xv, yv = valid.x_test[:8], valid.y_test[:8]
    _, grads = trainer.arch_gradient(xv, yv, x, y)
    assert len(grads) == len(trainer.supernet.arch_decisions())
    assert all(float(g.abs().sum()) > 0 for g in grads)
    trainer.arch_step(xv, yv, x, y)
    after = list(trainer.arch.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(after, before, strict=True))


def _val_loss_after_virtual_step(trainer, alphas, x, y, xv, yv, xi):
    """L_val(w - xi * grad_w L_train(w, alpha), alpha), computed directly (no momentum, no decay)."""
    params = [p for p in trainer.supernet.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, a in zip(trainer.arch.parameters(), alphas, strict=True):
            p.copy_(a)
    loss = trainer.loss(trainer.weighted_logits(x), y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                p.sub_(xi * g)
        value = float(trainer.loss(trainer.weighted_logits(xv), yv))
        for p, w in zip(params, saved, strict=True):
            p.copy_(w)
    return value


def test_second_order_matches_finite_differences_and_differs_from_first_order():
    # The unrolled gradient d/dalpha L_val(w - xi grad_w L_train(w, alpha), alpha), checked by
    # central differences on alpha in float64. The tiny ReLU network is piecewise linear, so the
    # Hessian-vector product's radius is shrunk from DARTS's 0.01 to stay within one linear piece.
    xi = 0.05
    trainer, train, valid = make_trainer(
        nb201_space(), 2, lr=xi, weight_decay=0.0, dtype=torch.float64, hvp_radius=1e-6
    )
    x, y = train.x_train[:8], train.y_train[:8]
    xv, yv = valid.x_test[:8], valid.y_test[:8]
    _, second = trainer.arch_gradient(xv, yv, x, y)
    trainer.order = 1
    _, first = trainer.arch_gradient(xv, yv, x, y)
    alphas = [p.detach().clone() for p in trainer.arch.parameters()]
    numeric = []
    h = 1e-5
    for k, a in enumerate(alphas[:2]):
        row = []
        for i in range(len(a)):
            values = []
            for sign in (1.0, -1.0):
                shifted = [b.clone() for b in alphas]
                shifted[k][i] += sign * h
                values.append(_val_loss_after_virtual_step(trainer, shifted, x, y, xv, yv, xi))
            row.append((values[0] - values[1]) / (2 * h))
        numeric.append(row)
    numeric = np.array(numeric)
    second = torch.stack(second[:2]).numpy()
    first = torch.stack(first[:2]).numpy()
    scale = np.abs(numeric).max()
    assert np.abs(second - numeric).max() < 1e-3 * scale
    assert np.abs(first - numeric).max() > 1e-2 * scale


def test_masking_zeroes_one_op_without_renormalising_and_changes_accuracy():
    trainer, _, valid = make_trainer(nb201_space())
    relaxation = op_decisions(nb201_space())
    projection = Projection(relaxation.decisions)
    weights = projection.weights(trainer.arch)
    masked = projection.weights(trainer.arch, mask=("edges[0]", 3))
    assert float(masked["edges[0]"][3].detach()) == 0.0
    keep = [0, 1, 2, 4]
    assert torch.allclose(masked["edges[0]"][keep], weights["edges[0]"][keep])
    assert float(masked["edges[0]"].detach().sum()) < 0.9
    selection = PerturbationSelection(relaxation, interval=1)
    tuner = ProjectionTrainer(
        trainer.supernet,
        trainer.data,
        TrainConfig(epochs=1, batch_size=8, arch_lr=3e-4),
        arch=trainer.arch,
        valid=valid,
        device="cpu",
        selection=selection,
        eval_batches=None,
    )
    full = tuner.measure(weights)
    scores = [tuner.measure(projection.weights(trainer.arch, mask=(e, None))) for e in weights]
    assert any(s[0] != full[0] for s in scores)
    assert all(s[1] != full[1] for s in scores)


def test_selection_keeps_the_op_whose_removal_hurts_most_against_the_alphas():
    relaxation = op_decisions(nb201_space())
    arch = ArchitectureParameters(relaxation.decisions, seed=0)
    with torch.no_grad():
        for logits in arch.logits:
            logits[1] = 5.0  # magnitude would pick skip_connect everywhere
    selection = PerturbationSelection(relaxation, interval=2, seed=3)

    def measure(weights):  # accuracy drops only when nor_conv_3x3 (index 3) loses weight
        conv = sum(float(w[3].detach()) for w in weights.values())
        return conv / len(weights), 1.0 - conv / len(weights)

    epochs = [e for e in range(selection.tune_epochs) if selection.due(e)]
    assert epochs == [0, 2, 4, 6, 8, 10] and selection.tune_epochs == 11
    for epoch in range(selection.tune_epochs):
        selection.step(epoch, measure, arch)
    assert selection.finished
    assert {d["chosen"] for d in selection.log} == {"nor_conv_3x3"}
    assert len({d["edge"] for d in selection.log}) == 6


def test_topology_phase_drops_the_edge_whose_removal_hurts_least():
    relaxation = op_decisions(darts_space())
    arch = ArchitectureParameters(relaxation.decisions, seed=0)
    selection = PerturbationSelection(relaxation, interval=1, seed=0)
    assert selection.events == 14 + 3 and set(selection.groups) == {"normal", "reduce"}

    def measure(weights):  # edges from node 0 are useless, from node 1 matter most; none adds 0
        value = sum(
            float(w[1:].detach().sum()) * (0.0 if n.endswith("<-0") else 1.0 + n.endswith("<-1"))
            for n, w in weights.items()
        )
        return value, -value

    for epoch in range(selection.tune_epochs):
        selection.step(epoch, measure, arch)
    assert selection.finished
    topology = [d for d in selection.log if d["phase"] == "topology"]
    assert len(topology) == 6
    for decision in topology:
        assert all(not e.endswith("<-0") for e in decision["kept"])
        assert any(e.endswith("<-1") for e in decision["kept"])
    spec = programs.supernet(darts_space()).discretize(selection.projection.weights(arch))
    for cell in ("normal", "reduce"):
        for i in range(1, 4):
            assert 0 not in spec[cell][i]["inputs"] and 1 in spec[cell][i]["inputs"]


def _run(space, out, resume=False, epochs=2, batch_size=8, **options):
    algo = algorithms.DARTSPT(
        data=tiny_data(),
        epochs=epochs,
        batch_size=batch_size,
        interval=1,
        eval_batches=1,
        seed=1,
        **options,
    )
    result = flows.search(
        space, lambda spec: 1.0, algorithm=algo, budget=1, out=out, resume=resume, verbose=False
    )
    return algo, result


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory):
    """One uninterrupted DARTS-PT run on the NB201 cell: (searcher, result, output folder)."""
    out = tmp_path_factory.mktemp("darts_pt") / "whole"
    return (*_run(nb201_space(), out), out)


def _check_valid(space, algo, result, out):
    codec = spaces.compile(space)
    for spec in algo.selected.values():
        codec.validate(encode_spec(codec, spec))
        programs.supernet(space).arch_of(spec)
    assert result.best.spec == algo.selected["perturbation"]
    record = json.loads((out / "oneshot" / "result.json").read_text())
    assert record["selection"]["eval_batches"] == 1
    assert len(record["selection"]["decisions"]) == sum(
        len(nodes) for nodes in algo.selection.nodes.values()
    ) + len(algo.supernet.arch_decisions())
    history = (out / "oneshot" / "search" / "train_log.jsonl").read_text().splitlines()
    assert "arch_weights" in json.loads(history[-1])


def test_nb201_selections_are_valid_specs_of_the_space(nb201_run):
    _check_valid(nb201_space(), *nb201_run)


def test_darts_cell_selections_are_valid_specs_of_the_space(tmp_path):
    algo, result = _run(darts_space(), tmp_path / "run", epochs=1, batch_size=16)
    _check_valid(darts_space(), algo, result, tmp_path / "run")
    for cell in ("normal", "reduce"):
        for node in algo.selected["perturbation"][cell]:
            assert len(set(node["inputs"])) == 2


def test_fix_alpha_keeps_the_alphas_and_magnitude_is_a_darts_search(tmp_path):
    algo, _ = _run(nb201_space(), tmp_path / "fix", fix_alpha=True)
    init = ArchitectureParameters(algo.supernet.arch_decisions(), seed=1)
    for a, b in zip(algo.arch.parameters(), init.parameters(), strict=True):
        assert torch.equal(a.detach().cpu(), b.detach())
    darts = algorithms.DARTS(data=tiny_data(), epochs=2, batch_size=8, seed=1)
    flows.search(nb201_space(), lambda s: 1.0, algorithm=darts, budget=1, verbose=False)
    assert set(darts.selected) == {"magnitude"}
    moved = [
        not torch.equal(a.detach(), b.detach())
        for a, b in zip(darts.arch.parameters(), init.parameters(), strict=True)
    ]
    assert all(moved)


@pytest.mark.parametrize("kill_in", ["search", "selection"])
def test_a_killed_search_resumes_to_the_same_cell(kill_in, nb201_run, tmp_path, monkeypatch):
    reference = nb201_run[0]
    trainer_class = DARTSTrainer if kill_in == "search" else ProjectionTrainer
    original = trainer_class.begin_epoch

    def killed(self, epoch):
        if type(self) is trainer_class and epoch == 1:
            raise KeyboardInterrupt("killed")
        original(self, epoch)

    monkeypatch.setattr(trainer_class, "begin_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(nb201_space(), tmp_path / "cut")
    if kill_in == "selection":
        saved = tmp_path / "cut" / "oneshot" / "selection" / "selection.json"
        assert len(json.loads(saved.read_text())["log"]) == 1
    monkeypatch.setattr(trainer_class, "begin_epoch", original)
    resumed, _ = _run(nb201_space(), tmp_path / "cut", resume=True)
    assert resumed.selected == reference.selected
    assert resumed.record["selection"]["decisions"] == reference.record["selection"]["decisions"]
    ours, theirs = resumed.supernet.state_dict(), reference.supernet.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="order"):
        DARTSTrainer(
            programs.supernet(nb201_space()),
            tiny_data(),
            darts_config(1),
            arch=ArchitectureParameters(programs.supernet(nb201_space()).arch_decisions()),
            valid=tiny_data(),
            order=3,
        )
    with pytest.raises(ValueError, match="criterion"):
        PerturbationSelection(op_decisions(nb201_space()), interval=1, criterion="mean")
    with pytest.raises(TypeError, match="differentiable"):
        algorithms.DARTS(data=tiny_data(), epochs=1).search(
            spaces.resnet20_pooling(), None, False, False
        )


def _batch_norms(module: torch.nn.Module) -> list[torch.nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_searchers_default_to_the_reference_bn_and_augmentation(nb201_run):
    algo, _, out = nb201_run
    assert not algo.affine and algo.augment == "crop_flip"
    cells = [m for m in _batch_norms(algo.supernet) if not m.affine]
    assert cells and all(m.track_running_stats for m in cells)
    state = torch.load(out / "oneshot" / "search" / "checkpoint.pt", weights_only=True)
    fingerprint = json.loads(state["fingerprint"])
    assert fingerprint["affine"] is False and fingerprint["config"]["augment"] == "crop_flip"
    tuned = torch.load(out / "oneshot" / "selection" / "checkpoint.pt", weights_only=True)
    assert json.loads(tuned["fingerprint"])["config"]["augment"] == "crop_flip"
    darts = algorithms.DARTS(data=tiny_data(), epochs=1, batch_size=8, affine=True, augment="none")
    trainer = darts.train_supernet(nb201_space(), None, False, False)
    assert all(m.affine for m in _batch_norms(darts.supernet))
    assert trainer.config.augment is None


def test_pt_tunes_at_a_constant_rate_on_nb201_and_a_cosine_on_darts_cells(nb201_run, tmp_path):
    algo, _, out = nb201_run
    assert algo.record["selection"]["tune_schedule"] == "constant"
    log = (out / "oneshot" / "selection" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["lr"] for line in log] == pytest.approx([algo.lr / 10] * len(log))
    darts, _ = _run(darts_space(), tmp_path / "darts", epochs=1, batch_size=16)
    assert darts.record["selection"]["tune_schedule"] == "cosine"
    log = (tmp_path / "darts" / "oneshot" / "selection" / "train_log.jsonl").read_text()
    rates = [json.loads(line)["lr"] for line in log.splitlines()]
    assert rates[-1] == pytest.approx(darts.lr_min) and rates[0] > rates[-1]
    forced, _ = _run(nb201_space(), tmp_path / "cosine", epochs=1, tune_schedule="cosine")
    assert forced.record["selection"]["tune_schedule"] == "cosine"


@pytest.mark.parametrize("augment", [None, "crop_flip"])
def test_pt_measures_on_batches_augmented_as_the_search(augment):
    space = nb201_space()
    torch.manual_seed(0)
    supernet = programs.supernet(space, affine=False)
    arch = ArchitectureParameters(supernet.arch_decisions(), seed=0)
    train, valid = validation_split(tiny_data(), 0.5, seed=0)
    tuner = ProjectionTrainer(
        supernet,
        train,
        darts_config(1, batch_size=8, augment=augment),
        arch=arch,
        valid=valid,
        device="cpu",
        selection=PerturbationSelection(op_decisions(space), interval=1),
        eval_batches=1,
    )
    before = json.dumps(tuner.rng.bit_generator.state)
    tuner.measure(arch.weights())
    assert (json.dumps(tuner.rng.bit_generator.state) != before) == (augment is not None)
