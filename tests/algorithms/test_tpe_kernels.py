"""TPE's Parzen estimator widened for BOHB, worked by hand: float bandwidths scaled, choice
kernels read as "the observed candidate with probability 1 - b, else uniform" with ``b`` scaled
(at most 1), the prior kernel and the mixture weights kept."""

from __future__ import annotations

import numpy as np
import pyglove as pg

from symnas import spaces
from symnas.algorithms.tpe import _groups, _Parzen

SPACE = pg.Dict(c=pg.oneof([0, 1, 2, 3]), r=pg.floatv(0.0, 1.0))


def _parzen(observations: list[list[float]], prior_weight: float = 1.0) -> _Parzen:
    codec = spaces.compile(SPACE)
    (group,) = _groups(codec, True)
    assert [codec.slots[int(i)].path for i in group.slots] == ["c", "r"]
    return _Parzen(codec, group, np.array(observations, dtype=np.float64), prior_weight)


def test_widened_scales_the_observation_kernels_and_keeps_the_prior():
    model = _parzen([[1, 0.2], [3, 0.7]])
    wide = model.widened(1.5)
    assert np.array_equal(wide.log_weights, model.log_weights) and wide.n_kernels == 3
    # Floats: centres kept, the two observation bandwidths scaled, the prior's kept.
    _, mus, sigmas, low, high = model.parts[1]
    _, wide_mus, wide_sigmas, wide_low, wide_high = wide.parts[1]
    assert np.array_equal(wide_mus, mus) and (wide_low, wide_high) == (low, high)
    assert np.allclose(wide_sigmas, [1.5 * sigmas[0], 1.5 * sigmas[1], sigmas[2]])
    # Choices: 3 kernels (two observations and the prior), prior weight 1/3 spread over 4.
    table = model.parts[0][1]
    share = (1 / 3) / (1 + 4 / 3)  # an unobserved candidate's probability in a kernel
    assert np.allclose(table[0], [share, 1 - 3 * share, share, share])
    b = 4 * share  # the kernel is (1 - b) * onehot + b / 4
    assert 1.5 * b < 1  # not saturated
    widened = (1 - 1.5 * b) * np.eye(4)[[1, 3]] + 1.5 * b / 4
    assert np.allclose(wide.parts[0][1][:2], widened)
    assert np.allclose(wide.parts[0][1][2], table[2])  # the prior row, uniform
    assert np.allclose(model.parts[0][1], table)  # the original is not changed


def test_widening_saturates_at_the_uniform_kernel_and_factor_one_changes_nothing():
    model = _parzen([[0, 0.5], [2, 0.9], [2, 0.1]])
    assert np.allclose(model.widened(1e6).parts[0][1], 0.25)
    same = model.widened(1.0)
    for a, b in zip(same.parts, model.parts, strict=True):
        assert all(np.allclose(x, y) for x, y in zip(a[1:], b[1:], strict=True))


def test_widened_draws_spread_over_more_candidates():
    model = _parzen([[1, 0.5]] * 6, prior_weight=0.1)
    rng = np.random.default_rng(0)
    narrow = model.sample(rng, 4000)
    wide = model.widened(4.0).sample(np.random.default_rng(0), 4000)
    assert np.mean(narrow[:, 0] == 1) > np.mean(wide[:, 0] == 1) + 0.05
    assert np.std(wide[:, 1]) > np.std(narrow[:, 1])


def _mixture(model: _Parzen, c: float, r: float) -> float:
    """The estimator's density at (c, r) from its parts, with scipy's truncated normal."""
    from scipy.stats import truncnorm

    weights = np.exp(model.log_weights)
    table = model.parts[0][1]
    _, mus, sigmas, low, high = model.parts[1]
    a, b = (low - mus) / sigmas, (high - mus) / sigmas
    floats = truncnorm.pdf(r, a, b, loc=mus, scale=sigmas)
    return float(np.sum(weights * table[:, int(c)] * floats))


def test_log_pdf_is_the_weighted_product_kernel_mixture():
    model = _parzen([[1, 0.2], [3, 0.7], [1, 0.9]])
    points = np.array([[1, 0.2], [0, 0.5], [3, 0.05], [2, 0.99]])
    expected = [np.log(_mixture(model, c, r)) for c, r in points]
    assert np.allclose(model.log_pdf(points), expected)


def test_draws_follow_the_mixture():
    from scipy.stats import kstest, truncnorm

    model = _parzen([[1, 0.2], [3, 0.7], [1, 0.9]])
    draws = model.sample(np.random.default_rng(3), 20000)
    weights = np.exp(model.log_weights)
    choice = weights @ model.parts[0][1]
    counts = np.bincount(draws[:, 0].astype(int), minlength=4) / len(draws)
    assert np.allclose(counts, choice, atol=0.015)
    _, mus, sigmas, low, high = model.parts[1]
    a, b = (low - mus) / sigmas, (high - mus) / sigmas

    def cdf(r):
        return np.sum(weights * truncnorm.cdf(np.asarray(r)[..., None], a, b, mus, sigmas), axis=-1)

    assert draws[:, 1].min() >= 0.0 and draws[:, 1].max() <= 1.0
    assert kstest(draws[:, 1], cdf).pvalue > 0.01


def test_a_one_element_manyof_is_modelled():
    from symnas import algorithms

    codec = spaces.compile(pg.Dict(m=pg.manyof(1, [1, 2, 3, 4]), c=pg.oneof([0, 1])))
    algo = algorithms.TPE(n_startup_trials=3, metric="f", seed=0)
    algo.bind(codec, 0)
    for _ in range(6):
        genome = algo.propose_batch(1)
        algo.feedback_batch(genome, [{"f": float(genome[0].sum())}])
    assert algo.num_feedbacks == 6


def test_a_candidate_scores_the_sum_of_its_groups_log_ratios():
    """With one group per decision (independent TPE) and in a conditional space, a candidate's
    score is the sum over its active groups of log l - log g, so every decision counts."""
    from symnas import algorithms

    flat = pg.Dict(a=pg.oneof([0, 1, 2, 3]), b=pg.oneof([0, 1, 2]), r=pg.floatv(0.0, 1.0))
    conditional = pg.Dict(
        a=pg.oneof([pg.Dict(k=pg.oneof([0, 1, 2])), pg.Dict(r=pg.floatv(0.0, 1.0)), "none"]),
        b=pg.oneof([0, 1, 2]),
    )
    for space, multivariate in ((flat, False), (conditional, True)):
        codec = spaces.compile(space)
        algo = algorithms.TPE(metric="f", multivariate=multivariate, n_ei_candidates=64)
        algo.bind(codec, 0)
        assert len(algo._groups) >= 3
        genomes = codec.random(12, np.random.default_rng(1))
        below = np.arange(12) < 4
        model = algo.fit_split(genomes, below, ~below)
        candidates, scores = algo._candidates_and_scores(model)
        active = codec.active_mask(candidates)
        expected = np.zeros(len(candidates))
        for group, (l_model, g_model) in zip(algo._groups, model, strict=True):
            rows = active[:, group.slots[0]]
            part = candidates[np.ix_(rows, group.slots)]
            expected[rows] += l_model.log_pdf(part) - g_model.log_pdf(part)
        assert np.allclose(scores, expected)
        last, (l_last, g_last) = algo._groups[-1], model[-1]
        rows = active[:, last.slots[0]]
        part = candidates[np.ix_(rows, last.slots)]
        last_only = l_last.log_pdf(part) - g_last.log_pdf(part)
        assert not np.allclose(scores[rows], last_only), "the earlier groups count too"
