"""The exact, stratified and sampled estimators through the public API, each against an
independent reference value, within the noise of the estimator."""

import math
import re
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastei
from fastei import _rng, convergence
from fastei._sampling import (
    PreparedLayer,
    Span,
    count_joint,
    pair_information,
    plan_joint,
    sensitivity_counts,
)
from fastei._stratified import stratified_ei
from fastei.activations import get_activation

from . import reference as ref
from .conftest import span_setup

SIGMOID = get_activation("sigmoid")
UNIT = dict(in_range=(0.0, 1.0), out_range=(0.0, 1.0), in_bins=8, out_bins=8)


def quadrature(weights, points=96):
    """Exact EI of a sigmoid layer without bias by the reference quadrature at 2 * points
    (a multiple of the 8 bins), its joint distribution, and a bound on its error: the
    change from ``points``. The error falls like points**-2 but not smoothly (kinks meet
    the grid anew at each size; measured ratios 2.7 to 5.5 per doubling), so the change
    bounds the remaining error."""
    coarse, fine = (ref.layer_joint_quadrature(weights, 0.0, SIGMOID, **UNIT, points=n)
                    for n in (points, 2 * points))
    bits = ref.mutual_information_bits(fine)
    return bits, fine, abs(bits - ref.mutual_information_bits(coarse))


def test_quadrature_reference_equals_the_exact_estimator_on_two_inputs():
    for seed in (1, 2, 3):
        weights = np.random.default_rng(seed).uniform(-4, 4, size=(2, 2))
        bits, _, error = quadrature(weights)
        assert abs(bits - fastei.ei(weights, method="exact")) < error < 2e-3


@pytest.mark.parametrize("n_in", [1, 2, 3])
def test_stratified_is_within_its_standard_error_of_the_exact_value(n_in):
    weights = np.random.default_rng(n_in).uniform(-4, 4, size=(2, n_in))
    if n_in == 3:
        exact, _, error = quadrature(weights)
    else:
        exact, error = fastei.ei(weights, method="exact"), 0.0
    estimate = fastei.ei_stratified(weights, cells=1000, points_per_cell=256, seed=n_in)
    assert abs(estimate.value - exact) < 5 * estimate.standard_error + error
    assert estimate.samples == 2 * 1000 * 256
    same = fastei.ei(weights, method="stratified", cells=1000, points_per_cell=256, seed=n_in)
    assert same == estimate.value


def test_stratified_standard_error_is_the_spread_over_seeds():
    # 100 seeds, deliberately: the values' standard deviation is known to 1 / sqrt(198) =
    # 7 %, so it must be within 35 % (5 sigma) of the reported standard error (root mean
    # square over the seeds); their mean within 5 standard errors of the mean of the exact.
    weights = np.array([[3.0, -2.0], [1.0, 4.0]])
    exact = fastei.ei(weights, method="exact")
    runs = [fastei.ei_stratified(weights, cells=100, points_per_cell=128, seed=seed)
            for seed in range(100)]
    values = np.array([run.value for run in runs])
    reported = math.sqrt(np.mean([run.standard_error ** 2 for run in runs]))
    assert 0.65 < values.std(ddof=1) / reported < 1.35
    assert abs(values.mean() - exact) < 5 * values.std(ddof=1) / 10


def test_plug_in_is_within_its_sampling_noise_of_the_exact_value():
    # Three inputs at 8 bins (512 cells) and 50,000 samples: the plug-in is biased by about
    # two of its standard deviations. 200 multinomial runs of the exact joint distribution
    # give its bias and spread (the spread known to 5 %): the value must lie within 5
    # spreads (plus the quadrature's error) of exact + bias.
    weights = np.random.default_rng(3).uniform(-4, 4, size=(2, 3))
    exact, joint, error = quadrature(weights, points=192)
    runs = ref.plug_in_replicates(joint, 0.0, 50_000, 200, np.random.default_rng(0))
    bias, spread = runs.mean() - exact, runs.std(ddof=1)
    assert bias > 2 * spread and spread > 5 * error
    plug_in = fastei.ei(weights, samples=50_000, seed=11)
    assert abs(plug_in - (exact + bias)) < 5 * spread + error


def test_stratified_is_stable_for_a_wide_sigmoid_layer():
    weights = np.random.default_rng(1).uniform(-0.2, 0.2, size=(6, 25))
    small = fastei.ei_stratified(weights, cells=500, points_per_cell=512)
    large = fastei.ei_stratified(weights, cells=2000, points_per_cell=512, seed=1)
    # four times the cells: half the standard error (within 20 % for the estimates of it)
    assert 0.4 < large.standard_error / small.standard_error < 0.6
    assert abs(small.value - large.value) < 5 * np.hypot(small.standard_error,
                                                         large.standard_error)
    # The plug-in sees every one of 8**25 cells once, so it is exactly the plug-in H(Y)
    # of its outputs, far above the converged value.
    samples = 100_000
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    _, y_bins, _ = ref.joint_stream([(weights, np.zeros(6), SIGMOID.func)], key, samples,
                                    (0, 1), (0, 1), 8, 8)
    plug_in = fastei.ei(weights, samples=samples)
    assert plug_in == pytest.approx(ref.entropy_of_rows(y_bins), rel=1e-12)
    assert plug_in > large.value + 5 * large.standard_error
    assert large.samples == 2 * 2000 * 512


def _delta_method_error(counts):
    """Delta-method standard error of the plug-in information of each 2-D histogram
    ``counts[..., bx, by]``: sqrt(Var[log2 p(x, y) / (p(x) p(y))] / N), in bits."""
    counts = counts.astype(np.float64)
    n = counts.sum(axis=(-2, -1), keepdims=True)
    p = counts / n
    expected = p.sum(axis=-1, keepdims=True) * p.sum(axis=-2, keepdims=True)
    log_ratio = np.log2(np.where(p > 0, p, 1.0) / np.where(p > 0, expected, 1.0))
    mean = (p * log_ratio).sum(axis=(-2, -1))
    variance = (p * log_ratio ** 2).sum(axis=(-2, -1)) - mean ** 2
    return np.sqrt(np.maximum(variance, 0.0) / n[..., 0, 0])


def test_exact_parts_and_sensitivity_are_within_the_plug_in_noise():
    # Per edge, the plug-in at N samples differs from the exact value by its first-order
    # bias, (K_xy - K_x - K_y + 1) / (2 N ln 2), at most (B - 1)**2 / (2 N ln 2) in size,
    # plus noise: 5 delta-method standard errors (read off its own histogram) plus 5 chi-square
    # standard deviations, sqrt(2 (B - 1)**2) / (2 N ln 2), for edges near independence.
    weights = np.random.default_rng(2).uniform(-3, 3, size=(3, 4))
    samples = 400_000
    scale = 1 / (2 * samples * math.log(2))
    setup = span_setup(weights)
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    joint = count_joint(plan_joint(setup, key, samples, None, None, True, 2**30)).pairs
    alone, _ = sensitivity_counts(setup, _rng.stream_key(0, _rng.SENSITIVITY_STREAM), samples,
                                  0.0)
    for function, counts in ((fastei.ei_parts_matrix, joint), (fastei.sensitivity_matrix, alone)):
        plug_in = function(weights, samples=samples)
        assert_allclose(plug_in, pair_information(counts).T, rtol=1e-12, atol=1e-15)
        tolerance = 5 * _delta_method_error(counts).T + (49 + 5 * math.sqrt(98)) * scale
        exact = function(weights, method="exact")
        assert (np.abs(plug_in - exact) < tolerance).all()
        assert tolerance.max() < 0.01  # a real check, not a formality


def test_converged_measures_equal_the_quadrature_references():
    rng = np.random.default_rng(3)
    weights = rng.uniform(-3, 3, size=(2, 2))
    m = fastei.measure(weights, method="converged")
    # Quadrature references, each within 1e-6 bits (see test_exact.py); the sensitivity
    # edge is a single edge with the held input (at 0) adding nothing.
    ei = ref.ei_two_inputs_quadrature(weights, np.zeros(2), SIGMOID, **UNIT, points=16_000)
    parts = np.array([[ref.parts_term_quadrature(weights, 0.0, SIGMOID, i, j, **UNIT,
                                                 points_per_input=40_000) for i in range(2)]
                      for j in range(2)])
    sensitivity = np.array([[ref.edge_ei_midpoint(weights[j, i], SIGMOID, **UNIT,
                                                  points_per_bin=10**6) for i in range(2)]
                            for j in range(2)])
    assert m.ei == pytest.approx(ei, abs=1e-6)
    assert_allclose(m.ei_parts_matrix, parts, atol=1e-6)
    assert_allclose(m.sensitivity_matrix, sensitivity, atol=1e-6)
    assert m.degeneracy == pytest.approx(sensitivity.sum() - ei, abs=1e-5)
    assert m.phi_feedforward == pytest.approx(ei - parts.sum(), abs=1e-5)
    assert (m.samples, m.passes) == (0, 1)

    # Three inputs: the EI is stratified, within its standard error of the quadrature.
    weights = rng.uniform(-3, 3, size=(2, 3))
    options = dict(cells=1000, points_per_cell=256, seed=4)
    m = fastei.measure(weights, method="converged", **options)
    estimate = fastei.ei_stratified(weights, **options)
    ei, _, error = quadrature(weights)
    assert abs(m.ei - ei) < 5 * estimate.standard_error + error
    sensitivity = fastei.sensitivity(weights, method="exact")
    assert abs(m.degeneracy - (sensitivity - ei)) < 5 * estimate.standard_error + error
    assert m.samples == estimate.samples == 2 * 1000 * 256


def test_sample_rules_follow_the_paper_convergence_helpers(monkeypatch):
    weights = np.array([[2.0, -1.0]])
    auto = fastei.ei_parts(weights, samples="auto")
    trace = fastei.converge_by_doubling(lambda n: fastei.ei_parts(weights, samples=n))
    assert trace.converged and auto == trace.value == fastei.ei_parts(weights,
                                                                       samples=trace.samples)
    # The extrapolation rule at fewer sample counts (its own accuracy is checked on closed
    # forms in test_convergence.py): the helper's fit of the same seed's estimates.
    monkeypatch.setitem(convergence.extrapolate.__kwdefaults__, "samples",
                        (10_000, 20_000, 40_000, 80_000))
    fit = fastei.extrapolate(lambda n: fastei.sensitivity(weights, samples=n, seed=2))
    assert fit.trace_samples == (10_000, 20_000, 40_000, 80_000)
    assert fastei.sensitivity(weights, samples="extrapolate", seed=2) == fit.value


def test_stratified_refuses_a_budget_its_arrays_do_not_fit_in():
    weights = np.random.default_rng(0).uniform(-1, 1, size=(3, 4))
    with pytest.raises(MemoryError, match="max_memory"):  # the parameter, not the wording
        fastei.ei_stratified(weights, cells=200, points_per_cell=2048, max_memory="1MiB")


@pytest.mark.parametrize("call, match", [
    (lambda: fastei.ei(np.ones((2, 2)), method="magic"),
     "method must be one of ['sampled', 'stratified', 'exact'], got 'magic'"),
    (lambda: fastei.ei_parts_matrix([np.ones((2, 2))] * 2, span=(0, 1), method="exact"),
     "method='exact' works on one layer; span (0, 1) has 2; use method='sampled'"),
    (lambda: fastei.ei(np.ones((2, 3)), method="exact"),
     "ei_exact handles layers with 1 or 2 inputs, got 3"),
    (lambda: fastei.ei(np.ones((2, 2)), samples="lots"),
     "samples must be a number or one of 'auto', 'extrapolate'; got 'lots'"),
    (lambda: fastei.group_ei(np.ones((2, 2)), samples="auto"),
     "samples must be a number; got 'auto'"),
    (lambda: fastei.ei(np.ones((2, 5)), samples="auto"),
     "samples='auto' cannot converge plug-in EI here: the span has 3.28e+04 input cells"),
    (lambda: fastei.ei_stratified(np.ones((2, 2)), cells=1), "cells must be >= 2, got 1"),
    (lambda: fastei.ei_stratified(np.ones((2, 2)), points_per_cell=1),
     "points_per_cell must be >= 2, got 1"),
    (lambda: fastei.ei(np.ones((2, 2)), method="stratified", overflow="drop"),
     "overflow='drop' needs method='sampled': the stratified estimator keeps every input cell"),
    (lambda: fastei.measure(np.ones((2, 2)), method="converged", groups=[([0], [0])]),
     "groups need method='sampled'; group EI has no converged estimator yet"),
])
def test_bad_method_options(call, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        call()


@pytest.mark.parametrize("weights", [np.zeros((3, 4)), np.full((2, 3), 300.0)])
def test_stratified_ei_of_a_constant_layer_is_zero_without_warnings(weights):
    # Every point lands in one output state (sigmoid(0) = 0.5 or saturation at 1): the
    # suite turns warnings into errors, so this also checks that none is raised.
    estimate = fastei.ei_stratified(weights, cells=50, points_per_cell=64)
    assert estimate.value == 0.0 and estimate.standard_error == 0.0
    assert estimate.entropy_outputs == 0.0


def test_stratified_batches_follow_the_budget_and_change_nothing():
    weights = np.random.default_rng(4).uniform(-0.2, 0.2, size=(20, 100))
    layer = PreparedLayer(weights, np.zeros(20), 1, None)
    span = Span((layer,), 100, 20, (0.0, 1.0), (0.0, 1.0), 8, 8, False)
    keys = [_rng.stream_key(0, stream) for stream in _rng.STRATIFIED_STREAMS]
    expected = stratified_ei(span, keys, 200, 256)
    tracemalloc.start()
    try:
        got = stratified_ei(span, keys, 200, 256, max_memory=5_000_000)
        assert tracemalloc.get_traced_memory()[1] <= 5_000_000
    finally:
        tracemalloc.stop()
    assert got == expected
    with pytest.raises(MemoryError, match=r"^stratified EI of layer 0 \(100 -> 20\) with 200 "
                       r"cells of 256 points needs about 3.\d+ MB, more than max_memory=3 MB; "
                       r"pass max_memory='4MB' or fewer cells or points_per_cell$"):
        stratified_ei(span, keys, 200, 256, max_memory=3_000_000)
