"""Exact estimators against closed forms, brute-force quadrature and Monte Carlo."""

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import fastei._exact as exact
from fastei._exact import (
    edge_ei_exact,
    ei_exact,
    ei_parts_matrix_exact,
    sensitivity_matrix_exact,
    two_input_ei_exact,
)
from fastei.activations import Activation, get_activation
from fastei.network import Dense

from . import reference

UNIT = dict(in_range=(0.0, 1.0), out_range=(0.0, 1.0))
FIG1_RANGES = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0), "ReLU": (0.0, 1.0)}


def bins(n_bins):
    return dict(in_bins=n_bins, out_bins=n_bins)


# --- closed-form cases -------------------------------------------------------------------

@pytest.mark.parametrize("n_bins", [2, 8, 64])
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_unit_weight_edge_gives_log2_bins(activation, n_bins):
    for overflow in ("clip", "drop"):
        bits = edge_ei_exact(1.0, activation, **UNIT, **bins(n_bins), overflow=overflow)
        assert bits == pytest.approx(math.log2(n_bins), abs=1e-12)


def test_zero_weights_give_zero_everywhere():
    layer = Dense(np.zeros((3, 2)), np.array([0.1, -0.2, 0.0]), "sigmoid")
    for matrix in (sensitivity_matrix_exact(layer, **UNIT, **bins(8)),
                   ei_parts_matrix_exact(layer, **UNIT, **bins(8))):
        np.testing.assert_array_equal(matrix, 0.0)
    assert ei_exact(layer, **UNIT, **bins(8)) == 0.0
    assert edge_ei_exact(0.0, "tanh", in_range=(-1, 1), out_range=(-1, 1), **bins(16)) == 0.0


def test_diagonal_layer_has_equal_ei_parts_and_sensitivity():
    layer = Dense(np.diag([2.0, -3.0]), None, "tanh")
    kw = dict(in_range=(-1.0, 1.0), out_range=(-1.0, 1.0), **bins(8))
    parts = ei_parts_matrix_exact(layer, **kw)
    sensitivity = sensitivity_matrix_exact(layer, **kw)
    np.testing.assert_allclose(parts, sensitivity, rtol=1e-12, atol=1e-14)
    assert ei_exact(layer, **kw) == pytest.approx(parts.sum(), rel=1e-10)
    assert parts[0, 1] == pytest.approx(0.0, abs=1e-14)  # w = 0: rounding noise only


def test_sensitivity_entry_is_a_single_edge_with_the_held_inputs_as_bias():
    rng = np.random.default_rng(0)
    weights, bias = rng.uniform(-2, 2, (3, 4)), rng.normal(size=3)
    layer = Dense(weights, bias, "sigmoid")
    matrix = sensitivity_matrix_exact(layer, **UNIT, **bins(16), baseline=0.3)
    for i, j in [(0, 0), (2, 1), (3, 2)]:
        held = bias[j] + 0.3 * (weights[j].sum() - weights[j, i])
        edge = edge_ei_exact(weights[j, i], "sigmoid", **UNIT, **bins(16), bias=held)
        assert matrix[i, j] == pytest.approx(edge, rel=1e-12, abs=1e-14)


def test_one_input_joint_ei_is_the_single_edge():
    layer = Dense(np.array([[2.5]]), np.array([-0.4]), "sigmoid")
    edge = edge_ei_exact(2.5, "sigmoid", **UNIT, **bins(8), bias=-0.4)
    assert ei_exact(layer, **UNIT, **bins(8)) == pytest.approx(edge, abs=1e-12)


# --- brute-force quadrature (1e-6 bits) ----------------------------------------------------

@pytest.mark.parametrize("activation, weight, bias", [
    ("sigmoid", 2.7, 0.0), ("sigmoid", -3.1, 0.4), ("tanh", 1.3, 0.1), ("relu", 0.9, 0.05)])
def test_single_edge_matches_midpoint_rule(activation, weight, bias):
    # Midpoint rule with 10**6 points per input bin: each output boundary inside a bin moves
    # its conditional probability by at most 1e-6; the bits moved well below that here.
    kw = dict(in_range=(-1.0, 1.0), out_range=(-1.0, 1.0)) if activation == "tanh" else UNIT
    bits = edge_ei_exact(weight, activation, **kw, **bins(8), bias=bias)
    brute = reference.edge_ei_midpoint(weight, get_activation(activation), **kw, **bins(8),
                                       bias=bias, points_per_bin=10**6)
    assert bits == pytest.approx(brute, abs=1e-6)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_ei_parts_two_inputs_matches_quadrature(activation):
    rng = np.random.default_rng(3)
    weights, bias = rng.uniform(-2, 2, (2, 2)), rng.normal(size=2) * 0.3
    layer = Dense(weights, bias, activation)
    kw = dict(in_range=(0.0, 1.0), out_range=(-1.0, 1.5), **bins(8))
    matrix = ei_parts_matrix_exact(layer, **kw)
    for i in range(2):
        for j in range(2):
            brute = reference.parts_term_quadrature(
                weights, bias[j], get_activation(activation), i, j, **kw,
                points_per_input=40_000)
            assert matrix[i, j] == pytest.approx(brute, abs=1e-6)


def test_ei_parts_three_inputs_matches_quadrature():
    # 2-D midpoint rule over (x_i, one other input), third input exact; the error falls like
    # points**-2 (measured ratio ~4 per doubling), so Richardson extrapolation of 400 and
    # 800 points (multiples of the 8 bins) reaches ~1e-7 bits.
    rng = np.random.default_rng(4)
    weights, bias = rng.uniform(-2, 2, (1, 3)), np.array([0.2])
    layer = Dense(weights, bias, "sigmoid")
    matrix = ei_parts_matrix_exact(layer, **UNIT, **bins(8))
    for i in range(3):
        coarse, fine = (reference.parts_term_quadrature(
            weights, bias[0], get_activation("sigmoid"), i, 0, **UNIT, **bins(8),
            points_per_input=n) for n in (400, 800))
        assert matrix[i, 0] == pytest.approx((4 * fine - coarse) / 3, abs=1e-6)


@pytest.mark.parametrize("n_out", [1, 2])
@pytest.mark.parametrize("overflow", ["clip", "drop"])
def test_joint_ei_two_inputs_matches_quadrature(n_out, overflow):
    rng = np.random.default_rng(5)
    weights, bias = rng.uniform(-2, 2, (n_out, 2)), rng.normal(size=n_out) * 0.3
    activation = "relu" if overflow == "drop" else "sigmoid"
    layer = Dense(weights, bias, activation)
    bits = ei_exact(layer, **UNIT, **bins(8), overflow=overflow)
    brute = reference.ei_two_inputs_quadrature(
        weights, bias, get_activation(activation), **UNIT, **bins(8), points=16_000,
        drop=overflow == "drop")
    assert bits == pytest.approx(brute, abs=1e-6)


@pytest.mark.parametrize("activation, value_range", [("sigmoid", (0.0, 1.0)),
                                                      ("tanh", (-1.0, 1.0)), ("relu", (0.0, 1.0))])
@pytest.mark.parametrize("overflow", ["clip", "drop"])
def test_two_input_layers_at_once_match_the_exact_areas(activation, value_range, overflow):
    # Zero weights (one and both), equal and opposite ones, a tiny one beside a large one.
    # The trapezoid CDF agrees with a 40-digit computation to ~1e-15 bits; the areas of
    # ei_exact are differences of line crossings and carry ~1e-12 of rounding.
    rng = np.random.default_rng(8)
    weights = np.vstack([[[0.0, 0.0], [0.0, 3.0], [2.5, 0.0], [4.0, -4.0], [-7.0, -7.0],
                          [1e-9, 6.0]], rng.uniform(-10, 10, (6, 2))])
    kw = dict(in_range=value_range, out_range=value_range, **bins(32), overflow=overflow)
    expected = [ei_exact(Dense(w[None], None, activation), **kw) for w in weights]
    np.testing.assert_allclose(two_input_ei_exact(weights, activation, **kw), expected,
                               rtol=0, atol=2e-12)
    assert two_input_ei_exact(weights[:1], activation, **kw)[0] == 0.0


@pytest.mark.parametrize("weights, match", [
    (np.ones((2, 3)), r"^weights must have shape \(n, 2\), one 2 -> 1 layer per row; got "
                      r"shape \(2, 3\)$"),
    (np.ones(2), r"^weights must have shape \(n, 2\), .* got shape \(2,\)$"),
    (np.array([[1.0, 2.0], [1e308, 1e308]]), r"^the 2 -> 1 layers, one per row of weights: "
                                             r"the pre-activation of output 1 can overflow"),
])
def test_two_input_layers_at_once_reject_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        two_input_ei_exact(weights, "sigmoid", **UNIT, **bins(8))


def test_fourier_series_and_closed_form_agree(monkeypatch):
    rng = np.random.default_rng(1)
    layer = Dense(rng.uniform(-1, 1, (3, 6)), rng.normal(size=3) * 0.3, "tanh")
    kw = dict(in_range=(-1.0, 1.0), out_range=(-1.0, 1.0), in_bins=8, out_bins=16)
    monkeypatch.setattr(exact, "_ALWAYS_CLOSED_FORM_TERMS", 10)
    closed = ei_parts_matrix_exact(layer, **kw)
    monkeypatch.setattr(exact, "_ALWAYS_CLOSED_FORM_TERMS", 0)
    monkeypatch.setattr(exact, "_MAX_CLOSED_FORM_TERMS", 0)
    fourier = ei_parts_matrix_exact(layer, **kw)
    np.testing.assert_allclose(fourier, closed, rtol=0, atol=1e-12)



def test_trapezoid_cdf_equals_inclusion_exclusion():
    # Widths within a factor 20 keep the inclusion-exclusion sum's cancellation below 1e-13;
    # a zero width is a point mass (a single uniform, or a step at 0).
    from fastei._kernels import two_uniforms_cdf

    y = np.concatenate([[-np.inf, np.inf, 0.0], np.linspace(-1.2, 1.2, 97)])
    rng = np.random.default_rng(2)
    for widths in [*np.sort(rng.uniform(0.1, 2.0, (20, 2)), axis=1), [0.0, 1.5], [0.0, 0.0]]:
        significant = np.array([w for w in widths if w > 0]).reshape(1, -1)
        expected = exact._closed_form_cdf(y[None, None], significant)[0, 0]
        got = [two_uniforms_cdf(v, *widths) for v in y]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)

# --- Monte Carlo plug-in --------------------------------------------------------------------

def test_ei_parts_matches_monte_carlo_and_plugin_error_shrinks():
    rng = np.random.default_rng(7)
    weights = rng.uniform(-1, 1, (2, 5)) * 2
    layer = Dense(weights, None, "sigmoid")
    matrix = ei_parts_matrix_exact(layer, **UNIT, **bins(8))
    errors = []
    for n_samples in (2_000, 400_000):
        bits, standard_error = reference.monte_carlo_pair_information(
            weights, 0.0, get_activation("sigmoid"), **UNIT, **bins(8),
            n_samples=n_samples, seed=11)
        # Plug-in MI is biased up by about (B-1)^2 / (2 N ln 2) and fluctuates with the
        # delta-method standard error; allow the bias plus 5 standard errors.
        bias = 49 / (2 * n_samples * math.log(2))
        assert np.all(np.abs(bits - matrix - bias) <= 5 * standard_error + bias)
        errors.append(np.abs(bits - matrix).mean())
    assert errors[1] < errors[0] / 10


def test_drop_matches_monte_carlo_for_relu_at_large_weight_and_differs_from_clip():
    weight = 4.0
    drop = edge_ei_exact(weight, "relu", **UNIT, **bins(8), overflow="drop")
    clip = edge_ei_exact(weight, "relu", **UNIT, **bins(8), overflow="clip")
    bits, standard_error = reference.monte_carlo_pair_information(
        np.array([[weight]]), 0.0, get_activation("relu"), **UNIT, **bins(8),
        n_samples=400_000, seed=2, drop=True)
    bias = 49 / (2 * 100_000 * math.log(2))  # a quarter of the samples are kept
    assert abs(bits[0, 0] - drop) <= 5 * standard_error[0, 0] + bias
    # Only x < 1/4 keeps relu(4x) <= 1: two input bins survive, each covering four output
    # bins, so exactly 1 bit; clipping keeps the other six input bins in the top bin.
    assert drop == pytest.approx(1.0, abs=1e-12)
    assert clip < drop - 0.1


def test_custom_activation_with_inverse():
    softsign = Activation("softsign_test", lambda z: z / (1 + np.abs(z)), (-1.0, 1.0),
                          inverse=lambda t: t / (1 - np.abs(t)))
    kw = dict(in_range=(-1.0, 1.0), out_range=(-1.0, 1.0), **bins(8))
    bits = edge_ei_exact(3.0, softsign, **kw)
    brute = reference.edge_ei_midpoint(3.0, softsign, **kw, points_per_bin=10**6)
    assert bits == pytest.approx(brute, abs=1e-6)


# --- the paper's Fig. 1 single-edge curves ------------------------------------------------

def fig1_curve(activation, n_bins, weights):
    value_range = FIG1_RANGES[activation]
    overflow = "drop" if activation == "ReLU" else "clip"
    return np.array([edge_ei_exact(w, activation.lower(), in_range=value_range,
                                   out_range=value_range, **bins(n_bins), overflow=overflow)
                     for w in weights])


@pytest.mark.parametrize("activation", ["Sigmoid", "Tanh", "ReLU"])
def test_single_edge_curve_rises_peaks_and_decays(activation):
    weights = np.linspace(0.0, 25.0, 501)
    curve = fig1_curve(activation, 8, weights)
    peak = int(np.argmax(curve))
    assert 0 < peak < weights.size - 1
    assert curve[0] == 0.0
    assert curve[-1] < curve[peak] / 2
    assert np.all(curve >= 0) and np.all(curve <= 3.0 + 1e-12)


# The authors' points are plug-in estimates from 30,000 samples with their own bin layout
# (tests/data/README.md). For each point, the reference builds the exact joint distribution of
# (input bin, output bin) in closed form, once in the layout fastei can express (inputs
# binned over their range, outputs over the authors' output range) and once in the
# authors' layout (their input bins are 1e-4 wider too); the exact estimator must equal
# the first to 1e-12 bits. Multinomial runs of the authors' procedure on the second give the
# mean and the spread of their estimator, so the authors' value is predicted as
#     exact + [mean of the runs - I(first)]  (the plug-in bias plus the layout offset)
# and must lie within 5 spreads of it, with no exceptions: for 12,960 Gaussian points the
# chance of any beyond 5 sigma is 12,960 * 5.7e-7 < 1 %. The z-scores must also look like a
# unit normal sample of their size n (mean within 5 / sqrt(n) of 0, standard deviation
# within 5 / sqrt(2 n) of 1, plus 3.5 % for the spreads' own error), so that a wrong bias or
# an inflated spread fails too.
FIG1_SAMPLES = 30_000
FIG1_RUNS = 400     # runs per point: the spread is known to 1 / sqrt(2 * 400) = 3.5 %
PARTS_FLOOR = 0.01  # the authors' ei_of_layer reports totals below 0.01 bits as 0


def authors_edges(kind, value_range, n_bins):
    """Bin edges of the authors' code: ``floor((v - lo) / (hi - lo + 1e-4) * B)`` for the
    joint EI, ``fast_histogram`` over ``(lo - 1e-6, hi + 1e-6)`` for EI_parts."""
    lo, hi = value_range
    if kind == "whole":
        return lo + (hi - lo + 1e-4) / n_bins * np.arange(n_bins + 1)
    return (lo - 1e-6) + (hi - lo + 2e-6) / n_bins * np.arange(n_bins + 1)


def fig1_z_scores(kind, activation, n_bins, every=1):
    """z-scores of the authors' points on one curve (0 where the value is explained exactly)."""
    data = np.load(Path(__file__).with_name("data") / "fig1.npz")
    weights = data[f"fig1_{kind}_{activation}_{n_bins}_ws"][::every]
    paper = data[f"fig1_{kind}_{activation}_{n_bins}_ei"][::every]
    name, value_range = activation.lower(), FIG1_RANGES[activation]
    drop = activation == "ReLU"
    edges = authors_edges(kind, value_range, n_bins)
    own_inputs = np.linspace(*value_range, n_bins + 1)
    rng = np.random.default_rng(n_bins)
    scores = []
    for weight, value in zip(weights, paper, strict=True):
        bits = edge_ei_exact(weight, name, in_range=value_range, out_range=(edges[0], edges[-1]),
                             **bins(n_bins), overflow="drop" if drop else "clip")
        same_layout, _ = reference.edge_joint_distribution(
            weight, name, x_range=value_range, in_edges=own_inputs, out_edges=edges, drop=drop)
        closed_form = reference.mutual_information_bits(same_layout)
        assert bits == pytest.approx(closed_form, abs=1e-12), (kind, activation, n_bins, weight)
        authors, dropped = reference.edge_joint_distribution(
            weight, name, x_range=value_range, in_edges=edges, out_edges=edges, drop=drop)
        runs = reference.plug_in_replicates(authors, dropped, FIG1_SAMPLES, FIG1_RUNS, rng)
        expected, spread = bits + runs.mean() - closed_form, runs.std(ddof=1)
        if kind == "parts" and value == 0.0:
            # reported as 0: the authors' plug-in was below the floor
            scores.append(0.0 if expected - 5 * spread < PARTS_FLOOR else np.inf)
        elif spread == 0.0:
            # X or Y takes one value in every run: the plug-in is exactly `expected`
            scores.append(0.0 if abs(value - expected) < 1e-9 else np.inf)
        else:
            scores.append((value - expected) / spread)
    return weights, np.array(scores)


def _check_fig1(every):
    scores, worst = [], []
    for kind in ("whole", "parts"):
        for activation in FIG1_RANGES:
            for n_bins in (8, 16, 32, 64):
                weights, z = fig1_z_scores(kind, activation, n_bins, every)
                scores.append(z)
                worst.append((np.abs(z).max(), kind, activation, n_bins,
                              weights[np.argmax(np.abs(z))]))
    scores = np.concatenate(scores)
    assert np.all(np.abs(scores) <= 5), max(worst)
    fitted = scores[scores != 0]  # points predicted exactly carry no noise
    n = fitted.size
    assert abs(fitted.mean()) < 5 / np.sqrt(n)
    assert abs(fitted.std() - 1) < 5 / np.sqrt(2 * n) + 0.035


def test_paper_fig1_points_within_their_sampling_noise_of_the_exact_curve():
    # Every 20th weight (0, 1, ..., 26, relu's aligned weights 1, 8 and 16 among them) of
    # all 24 curves: 648 points.
    _check_fig1(every=20)


@pytest.mark.slow
def test_paper_fig1_every_point_within_its_sampling_noise_of_the_exact_curve():
    # All 12,960 points (about a minute).
    _check_fig1(every=1)


# --- errors ---------------------------------------------------------------------------------

def test_activation_without_inverse_is_rejected():
    plain = Activation("no_inverse_test", np.tanh, (-1.0, 1.0))
    layer = Dense(np.ones((1, 1)), None, plain)
    with pytest.raises(ValueError, match="activation 'no_inverse_test' has no inverse"):
        ei_parts_matrix_exact(layer, **UNIT, **bins(8))


def test_joint_ei_rejects_more_than_two_inputs():
    layer = Dense(np.ones((1, 3)), None, "sigmoid")
    with pytest.raises(ValueError, match="1 or 2 inputs, got 3"):
        ei_exact(layer, **UNIT, **bins(8))


# --- memory -----------------------------------------------------------------------------

def _traced(call):
    """``call()`` and the peak of the memory NumPy and Python allocated during it."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _within_budget_or_refused(call, expected, peak):
    """At budgets around the measured ``peak`` a call either refuses before allocating
    or stays within the budget with the same result; at three times it runs."""
    for budget in (peak // 2, peak, 2 * peak):
        try:
            got, used = _traced(lambda b=budget: call(b))
        except MemoryError:
            continue
        assert used <= budget
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(call(3 * peak), expected)


@pytest.mark.parametrize("weights, n_bins", [
    (np.random.default_rng(0).uniform(-1 / 28, 1 / 28, (2, 784)), 16),  # Fourier series
    (np.random.default_rng(1).uniform(-3, 3, (3, 3)), 64),  # closed forms in long double
    (np.hstack([np.full((2, 40), 0.01), [[30.0], [20.0]]]), 32),  # both
])
@pytest.mark.parametrize("function", [ei_parts_matrix_exact, sensitivity_matrix_exact])
def test_pairwise_tables_stay_within_the_budget_or_are_refused(function, weights, n_bins):
    layer = Dense(weights, None, "sigmoid")
    expected, peak = _traced(lambda: function(layer, **UNIT, **bins(n_bins)))
    expected, peak = _traced(lambda: function(layer, **UNIT, **bins(n_bins)))  # kernels loaded
    _within_budget_or_refused(
        lambda budget: function(layer, **UNIT, **bins(n_bins), max_memory=budget), expected,
        peak)


@pytest.mark.parametrize("weights, n_bins", [(np.array([[3.0, -2.0], [1.0, 4.0], [2.0, 2.0]]), 32),
                                             (np.array([[1.0], [-2.0], [5.0]]), 64)])
def test_joint_exact_stays_within_the_budget_or_is_refused(weights, n_bins):
    layer = Dense(weights, None, "sigmoid")
    expected, peak = _traced(lambda: ei_exact(layer, **UNIT, **bins(n_bins)))
    _within_budget_or_refused(
        lambda budget: ei_exact(layer, **UNIT, **bins(n_bins), max_memory=budget), expected,
        peak)


@pytest.mark.parametrize("call, match", [
    (lambda: ei_parts_matrix_exact(Dense(np.full((10, 200), 0.01)), **UNIT, **bins(64),
                                   max_memory=2_000_000),
     r"exact EI_parts of a 200 -> 10 layer at 64 bins needs about [\d.]+ MB, more than "
     r"max_memory=2 MB; pass max_memory='[\d.]+MB' or fewer bins"),
    (lambda: sensitivity_matrix_exact(Dense(np.full((10, 200), 0.01)), **UNIT, in_bins=8,
                                      out_bins=16, max_memory=10**6),
     r"exact sensitivity of a 200 -> 10 layer at 8 x 16 bins needs about [\d.]+ MB, more "
     r"than max_memory=1 MB; pass max_memory='[\d.]+MB' or fewer bins"),
    (lambda: ei_exact(Dense(np.ones((3, 2))), **UNIT, **bins(64), max_memory=10**6),
     r"exact EI of a 2 -> 3 layer at 64 bins needs about 3.66 MB, more than max_memory=1 MB; "
     r"pass max_memory='4.1MB' or fewer bins"),  # the crossings of 319 lines
    (lambda: ei_exact(Dense(np.array([[3.0, -2.0], [1.0, 4.0], [2.0, 2.0]])), **UNIT,
                      **bins(64), max_memory=10**7),
     r"exact EI of a 2 -> 3 layer at 64 bins needs about \d+ MB, more than "
     r"max_memory=10 MB; pass max_memory='\d+MB' or fewer bins"),  # the segments
])
def test_exact_tables_too_large_for_the_budget_are_refused(call, match):
    with pytest.raises(MemoryError, match=f"^{match}$"):
        call()


def test_exact_estimators_refuse_weights_whose_sums_overflow():
    layer = Dense(np.array([[1.0, 2.0], [1e308, 1e308]]))
    for function in (ei_parts_matrix_exact, sensitivity_matrix_exact, ei_exact):
        with pytest.raises(ValueError, match=r"^the 2 -> 2 layer: the pre-activation of output "
                           r"1 can overflow float64"):
            function(layer, **UNIT, **bins(8))
