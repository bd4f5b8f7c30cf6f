"""The exact and stratified estimators through the public API, against each other and
against the sampled plug-in where it converges."""

import tracemalloc

import numpy as np
import pytest

import fastei
from fastei import _rng
from fastei._sampling import PreparedLayer, Span
from fastei._stratified import stratified_ei


def test_stratified_agrees_with_plug_in_where_plug_in_converges():
    rng = np.random.default_rng(0)
    for n_in in (1, 2, 3):
        weights = rng.uniform(-4, 4, size=(2, n_in))
        plug_in = fastei.ei(weights, samples=2_000_000)
        estimate = fastei.ei_stratified(weights, cells=2000, points_per_cell=512)
        # Plug-in bias at 2e6 samples is below (8**n_in * 64) / (2 N ln 2) = 0.012 bits.
        assert abs(estimate.value - plug_in) < 4 * estimate.standard_error + 0.012


def test_stratified_and_exact_agree_on_two_inputs():
    weights = np.array([[3.0, -2.0], [1.0, 4.0]])
    exact = fastei.ei(weights, method="exact")
    estimate = fastei.ei_stratified(weights, cells=2000, points_per_cell=512)
    assert abs(estimate.value - exact) < 4 * estimate.standard_error
    assert fastei.ei(weights, method="stratified", seed=3) == pytest.approx(exact, abs=0.05)


def test_stratified_is_stable_for_a_wide_sigmoid_layer():
    weights = np.random.default_rng(1).uniform(-0.2, 0.2, size=(6, 25))
    small = fastei.ei_stratified(weights, cells=500, points_per_cell=512)
    large = fastei.ei_stratified(weights, cells=2000, points_per_cell=512, seed=1)
    assert large.standard_error < small.standard_error
    assert abs(small.value - large.value) < 3 * np.hypot(small.standard_error,
                                                         large.standard_error)
    # The plug-in collapses towards H(Y) here and sits well above the converged value.
    assert fastei.ei(weights, samples=200_000) > large.value + 0.3
    assert large.samples == 2 * 2000 * 512


def test_exact_sensitivity_and_parts_match_high_sample_plug_in():
    weights = np.random.default_rng(2).uniform(-3, 3, size=(3, 4))
    for function in (fastei.sensitivity_matrix, fastei.ei_parts_matrix):
        exact = function(weights, method="exact")
        errors = [np.abs(function(weights, samples=n) - exact).max() for n in (10**4, 10**6)]
        # Plug-in bias per pair is about (B - 1)**2 / (2 N ln 2): 3.5e-3 at 1e4, 3.5e-5 at 1e6.
        assert errors[1] < errors[0] and errors[1] < 2e-3


def test_converged_measures_are_consistent():
    weights = np.random.default_rng(3).uniform(-3, 3, size=(2, 2))
    m = fastei.measure(weights, method="converged")
    assert m.ei == fastei.ei(weights, method="exact")
    assert m.degeneracy == pytest.approx(m.sensitivity - m.ei)
    diagonal = fastei.measure(np.diag([2.0, -3.0, 4.0]), method="converged", seed=2)
    assert diagonal.ei_parts == pytest.approx(diagonal.sensitivity, abs=1e-12)
    assert abs(diagonal.ei - diagonal.ei_parts) < 0.05


def test_sample_rules_follow_the_paper_convergence_helpers():
    weights = np.array([[2.0, -1.0]])
    auto = fastei.ei_parts(weights, samples="auto")
    trace = fastei.converge_by_doubling(lambda n: fastei.ei_parts(weights, samples=n))
    assert auto == trace.value and trace.converged
    exact = fastei.ei_parts(weights, method="exact")
    assert abs(fastei.ei_parts(weights, samples="extrapolate") - exact) < 0.01


@pytest.mark.parametrize("call, match", [
    (lambda: fastei.ei(np.ones((2, 2)), method="magic"), "method must be one of"),
    (lambda: fastei.ei_parts_matrix([np.ones((2, 2))] * 2, span=(0, 1), method="exact"),
     r"method='exact' works on one layer; span \(0, 1\) has 2"),
    (lambda: fastei.ei(np.ones((2, 3)), method="exact"), "more than 2 inputs|2 inputs"),
    (lambda: fastei.ei(np.ones((2, 2)), samples="lots"), "samples must be a number or one of"),
    (lambda: fastei.ei_stratified(np.ones((2, 2)), cells=1), "cells must be >= 2"),
    (lambda: fastei.measure(np.ones((2, 2)), method="converged", groups=[([0], [0])]),
     "groups need method='sampled'"),
])
def test_bad_method_options(call, match):
    with pytest.raises(ValueError, match=match):
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
