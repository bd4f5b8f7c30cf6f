"""Public estimators: SPEC sanity facts, determinism, bounded memory and bad input."""

import math
import re

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import fastei
from fastei import _rng, _sampling
from fastei._validation import check_subset
from fastei.estimators._signatures import estimator

from . import reference as ref
from . import strategies

# Plug-in information from N samples is biased and spread on the scale of 1 / (2 N ln 2)
# bits: 2 N ln 2 times the gap between the plug-in entropy of K equally likely states and
# log2(K) tends to a chi-square with K - 1 degrees of freedom, and so does 2 N ln 2 times
# the plug-in mutual information of independent variables of K and L states, with
# (K - 1)(L - 1) degrees of freedom (mean df, variance 2 df).


def chi_square_scale(samples):
    return 1 / (2 * samples * math.log(2))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _identity_edge(activation="linear"):
    return fastei.Network.from_weights([np.array([[1.0]])], activation=activation)


@pytest.mark.parametrize("bins", [4, 8, 16])
def test_identity_edge_carries_log2_bins(bins):
    net = _identity_edge()
    samples = 100_000
    options = dict(in_bins=bins, out_bins=bins, out_range=(0, 1), seed=3, samples=samples)
    # y = x binned like x: every value is the plug-in entropy of B equally likely bins,
    # log2(B) - chi2(B - 1) / (2 N ln 2): allow its mean and 5 standard deviations.
    scale = chi_square_scale(samples)
    expected = math.log2(bins) - (bins - 1) * scale
    value = fastei.ei(net, **options)
    assert abs(value - expected) < 5 * math.sqrt(2 * (bins - 1)) * scale
    assert value <= math.log2(bins)
    # One pair from the same noise: EI_parts and sensitivity count the same states.
    assert fastei.ei_parts(net, **options) == pytest.approx(value, rel=1e-12)
    assert fastei.sensitivity(net, **options) == pytest.approx(value, rel=1e-12)


def test_zero_weights_give_zero_everywhere():
    m = fastei.measure(np.zeros((3, 4)), samples=20_000, groups=[([0, 1], [2])])
    assert m.ei == m.ei_parts == m.sensitivity == m.degeneracy == m.phi_feedforward == 0.0
    assert not m.ei_parts_matrix.any() and not m.sensitivity_matrix.any()
    assert m.group_ei == {((0, 1), (2,)): 0.0}


def _diagonal_plug_in_runs(weights, samples, runs, seed):
    """EI, EI_parts and the diagonal pair terms of a diagonal sigmoid layer (8 bins) in
    ``runs`` multinomial runs of ``samples`` samples of its exact binned joint distribution,
    the product of one closed-form single-edge joint per node."""
    edges = np.linspace(0.0, 1.0, 9)
    joints = [ref.edge_joint_distribution(w, "sigmoid", x_range=(0, 1), in_edges=edges,
                                          out_edges=edges, drop=False)[0] for w in weights]
    cells = [np.argwhere(joint > 0) for joint in joints]
    index = np.meshgrid(*[np.arange(len(c)) for c in cells], indexing="ij")
    index = [i.ravel() for i in index]
    probability = np.prod([j[c[i, 0], c[i, 1]]
                           for j, c, i in zip(joints, cells, index, strict=True)], axis=0)
    counts = np.random.default_rng(seed).multinomial(samples, probability / probability.sum(),
                                                     size=runs).astype(np.float64)
    x = [c[i, 0] for c, i in zip(cells, index, strict=True)]
    y = [c[i, 1] for c, i in zip(cells, index, strict=True)]

    def entropy(labels):
        order = np.argsort(labels, kind="stable")
        starts = np.flatnonzero(np.diff(labels[order], prepend=-1))
        totals = np.add.reduceat(counts[:, order], starts, axis=1)
        c_log2_c = np.where(totals > 0, totals * np.log2(np.maximum(totals, 1)), 0).sum(axis=1)
        return math.log2(samples) - c_log2_c / samples

    def information(a, b):
        return entropy(a) + entropy(b) - entropy(a * 512 + b)

    x_state, y_state = x[0] * 64 + x[1] * 8 + x[2], y[0] * 64 + y[1] * 8 + y[2]
    ei = information(x_state, y_state)
    diagonal = sum(information(x[i], y[i]) for i in range(3))
    parts = sum(information(x[i], y[j]) for i in range(3) for j in range(3))
    return ei, parts, diagonal


def test_diagonal_layer_has_no_degeneracy():
    weights = np.diag([3.0, 2.0, 5.0])
    samples = 200_000
    m = fastei.measure(weights, samples=samples, sensitivity_samples=samples)
    # Same noise for each input and no cross terms: the edges' terms agree exactly, and
    # with the other inputs held, an output does not move at all.
    np.testing.assert_array_equal(np.diag(m.sensitivity_matrix), np.diag(m.ei_parts_matrix))
    assert np.count_nonzero(m.sensitivity_matrix) == 3
    # Off the diagonal the joint stream pairs independent variables: chi2(49) / (2 N ln 2).
    scale = chi_square_scale(samples)
    off_diagonal = m.ei_parts_matrix[~np.eye(3, dtype=bool)]
    assert (off_diagonal < (49 + 5 * math.sqrt(2 * 49)) * scale).all()
    # The true EI is the sum of the true edge values, but the joint plug-in over 512 input
    # cells is biased above the parts. Its sampling distribution, from 200 runs of the exact
    # joint distribution: each value within 5 spreads of the runs' mean (the spread known
    # to 1 / sqrt(400) = 5 %).
    ei, parts, diagonal = _diagonal_plug_in_runs(np.diag(weights), samples, 200, seed=1)
    for value, runs in ((m.ei, ei), (m.ei_parts, parts), (m.degeneracy, diagonal - ei),
                        (m.phi_feedforward, ei - parts)):
        assert abs(value - runs.mean()) < 5 * runs.std(ddof=1)
    # the exact values, free of bias: EI = EI_parts = sensitivity
    exact = fastei.measure(weights, method="converged", cells=64, points_per_cell=64)
    assert exact.ei_parts == pytest.approx(exact.sensitivity, rel=1e-12)


def test_measures_equal_the_reference_with_the_same_noise():
    rng = np.random.default_rng(0)
    weights, bias = rng.uniform(-4, 4, size=(2, 3)), rng.normal(size=2)
    network = fastei.Network([fastei.Dense(weights, bias, "tanh")])
    options = dict(in_bins=4, out_bins=8, in_range=(-1, 1), seed=5)
    m = fastei.measure(network, samples=30_000, sensitivity_samples=4000, baseline=0.2,
                       groups=[([2, 0], [1])], **options)
    layers = [(weights, bias, np.tanh)]
    key = _rng.stream_key(5, _rng.JOINT_STREAM)
    xb, yb, outside = ref.joint_stream(layers, key, 30_000, (-1, 1), (-1, 1), 4, 8)
    ei = ref.mutual_information(xb, yb)
    parts = ref.pair_matrix(xb, yb)
    sens = ref.sensitivity_matrix(layers, _rng.stream_key(5, _rng.SENSITIVITY_STREAM), 4000,
                                  (-1, 1), (-1, 1), 4, 8, baseline=0.2)
    assert_allclose(m.ei, ei, rtol=1e-12)
    assert_allclose(m.ei_parts_matrix, parts, rtol=1e-12, atol=1e-15)
    assert_allclose(m.sensitivity_matrix, sens, rtol=1e-12, atol=1e-15)
    # degeneracy and phi_feedforward against the reference's own totals
    assert_allclose(m.degeneracy, sens.sum() - ei, rtol=1e-12)
    assert_allclose(m.phi_feedforward, ei - parts.sum(), rtol=1e-12)
    assert_allclose(m.group_ei[((0, 2), (1,))], ref.mutual_information(xb[:, [0, 2]], yb[:, [1]]),
                    rtol=1e-12)
    assert (m.samples, m.sensitivity_samples, m.valid_samples) == (30_000, 4000, 30_000)
    assert m.out_of_range == outside == 0 and m.passes == 1
    # the same numbers from the single-measure functions
    assert fastei.degeneracy(network, samples=30_000, sensitivity_samples=4000, baseline=0.2,
                             **options) == m.degeneracy
    assert fastei.phi_feedforward(network, samples=30_000, **options) == m.phi_feedforward


@pytest.mark.parametrize("weights, in_bins, out_bins", [
    ([[1.0], [0.5], [0.25]], 2, 8),  # one input at 2 bins: EI <= 1; y0 = x tells its bin
    ([[1.0, 0.0, 0.0]], 8, 2),       # one output at 2 bins: EI <= 1; y is a function of x0's bin
    (np.eye(2), 4, 4),               # y = x: EI <= 2 * log2(4)
])
def test_spec_bounds_hold_and_are_reached(weights, in_bins, out_bins):
    # EI <= n_in log2(in_bins) and <= n_out log2(out_bins). Each case reaches the smaller
    # bound K = 2**bound states: EI is the plug-in entropy of K equally likely states,
    # bound - chi2(K - 1) / (2 N ln 2), within 5 standard deviations. The plug-in is the
    # information of the sample's own distribution, so the bound holds exactly, and so does
    # monotonicity: I(X; Y) >= I(X_A; Y_B) for every group and every edge.
    weights = np.asarray(weights)
    n_out, n_in = weights.shape
    net = fastei.Network.from_weights([weights], activation="linear")
    samples = 20_000
    m = fastei.measure(net, samples=samples, sensitivity_samples=samples, in_bins=in_bins,
                       out_bins=out_bins, out_range=(0, 1), seed=2,
                       groups=[([0], [0]), ([n_in - 1], list(range(n_out)))])
    bound = min(n_in * math.log2(in_bins), n_out * math.log2(out_bins))
    states, scale = 2 ** bound, chi_square_scale(samples)
    assert m.ei <= bound
    assert abs(m.ei - (bound - (states - 1) * scale)) < 5 * math.sqrt(2 * (states - 1)) * scale
    edge_bound = min(math.log2(in_bins), math.log2(out_bins))
    for matrix in (m.ei_parts_matrix, m.sensitivity_matrix):
        assert matrix.shape == (n_out, n_in)
        assert (matrix >= 0).all() and (matrix <= edge_bound).all()
    assert m.ei >= m.ei_parts_matrix.max()
    assert all(m.ei >= value for value in m.group_ei.values())


def test_span_of_two_layers_equals_composed_map():
    rng = np.random.default_rng(1)
    first = rng.uniform(-3, 3, size=(3, 4))
    permutation = np.eye(3)[[2, 0, 1]]
    network = fastei.Network([fastei.Dense(first, activation="sigmoid"),
                              fastei.Dense(permutation, activation="linear")])
    # The linear permutation copies values exactly, so binning over the same range
    # gives the same joint states up to an output relabelling.
    span_value = fastei.ei(network, span=(0, 1), samples=50_000, out_range=(0, 1))
    assert span_value == fastei.ei(first, samples=50_000)
    assert fastei.ei(network, span=(0, 1), samples=50_000, out_range=(0, 1)) == span_value


@pytest.mark.parametrize("inputs, outputs", [([1], [2]), ([3, 0], [1, 2]), ([0, 1, 2, 3], [0]),
                                             ([2], [0, 1, 2]), (None, None)])
def test_group_ei_of_subsets_equals_the_reference(inputs, outputs):
    weights = np.random.default_rng(2).uniform(-3, 3, size=(3, 4))
    got = fastei.group_ei(weights, inputs=inputs, outputs=outputs, samples=20_000, seed=4)
    key = _rng.stream_key(4, _rng.JOINT_STREAM)
    expected = ref.ei([(weights, np.zeros(3), _sigmoid)], key, 20_000, (0, 1), (0, 1), 8, 8,
                      inputs, outputs)
    assert_allclose(got, expected, rtol=1e-12)


def test_group_ei_of_two_independent_halves():
    # y = x on two nodes, binned alike: every group EI is a plug-in entropy or a plug-in
    # information between independent nodes, in closed form.
    net = fastei.Network.from_weights([np.eye(2)], activation="linear")
    samples = 20_000
    kw = dict(samples=samples, out_range=(0, 1), seed=6)
    halves = [fastei.group_ei(net, inputs=[i], outputs=[i], **kw) for i in (0, 1)]
    across = fastei.group_ei(net, inputs=[0], outputs=[1], **kw)
    whole = fastei.ei(net, **kw)
    # H(X0) + H(X1) - H(X0, X1) = I(X0; X1) holds for the sample's own distribution.
    assert sum(halves) - whole == pytest.approx(across, rel=1e-9, abs=1e-15)
    # Each half: log2(8) - chi2(7) / (2 N ln 2); across the halves: chi2(49) / (2 N ln 2).
    # Mean plus or minus 5 standard deviations, sqrt(2 df) each.
    scale = chi_square_scale(samples)
    for half in halves:
        assert abs(half - (3 - 7 * scale)) < 5 * math.sqrt(14) * scale
    assert abs(across - 49 * scale) < 5 * math.sqrt(98) * scale


@settings(max_examples=10)  # two measures per example, ~0.2 s each
@given(weights=strategies.weight_matrices(), data=st.data())
def test_relabelling_the_outputs_changes_no_bit(weights, data):
    # Outputs are computed and binned one by one, so reordering them permutes the output
    # states and the per-edge rows and nothing else: the counts, and the bits, are the same.
    order = np.array(data.draw(st.permutations(range(weights.shape[0]))))
    kw = dict(samples=3000, seed=1, sensitivity_samples=500)
    m, relabelled = fastei.measure(weights, **kw), fastei.measure(weights[order], **kw)
    assert relabelled.ei == m.ei
    np.testing.assert_array_equal(relabelled.ei_parts_matrix, m.ei_parts_matrix[order])
    np.testing.assert_array_equal(relabelled.sensitivity_matrix, m.sensitivity_matrix[order])
    assert 0 <= m.ei <= min(weights.shape) * 3


def test_same_seed_same_bits_with_any_thread_count():
    weights = np.random.default_rng(3).uniform(-2, 2, size=(4, 6))
    default = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fastei.measure(weights, samples=30_000)
        numba.set_num_threads(default)
        many = fastei.measure(weights, samples=30_000)
    finally:
        numba.set_num_threads(default)
    assert one.ei == many.ei and one.ei_parts == many.ei_parts
    assert one.sensitivity == many.sensitivity


def test_different_seeds_differ():
    weights = np.random.default_rng(3).uniform(-2, 2, size=(4, 6))
    assert fastei.ei(weights, samples=5000, seed=1) != fastei.ei(weights, samples=5000, seed=2)


def test_memory_budget_too_small_for_buffers_is_reported():
    with pytest.raises(MemoryError, match="max_memory"):
        fastei.ei(np.ones((2, 200)), samples=10**6, max_memory="1MiB")


W = np.ones((2, 2))
LINEAR_FIRST = fastei.Network([fastei.Dense(W, None, "linear"), fastei.Dense(W)])
@pytest.mark.parametrize("call, match", [
    # weights and networks
    (lambda: fastei.ei([[1.0, np.nan]]), "weights contains a non-finite value (nan at index ("),
    (lambda: fastei.ei([[np.nan, 1.0]]),
     "weights contains a non-finite value (nan at index (0, 0)); replace NaN/inf"),
    (lambda: fastei.ei([[1.0], [np.inf]]), "weights contains a non-finite value (inf at index (1, 0))"),
    (lambda: fastei.ei(np.ones(3)),
     "weights must be 2-D, got shape (3,); weights are (n_out, n_in) matrices"),
    (lambda: fastei.ei(np.ones((0, 3))),
     "weights is empty (shape (0, 3)); give at least one entry"),
    (lambda: fastei.Dense(W, bias=np.ones(3)),
     "bias has 3 entries but weights of shape (2, 2) have 2 outputs; give a bias of shape (2,)"),
    (lambda: fastei.ei([np.ones((3, 2)), np.ones((1, 4))]),
     "layer 1 has shape (1, 4), which expects 4 inputs; layer 1 needs 3 columns"),
    (lambda: fastei.Network([]), "a network needs at least one layer; got an empty list of layers"),
    (lambda: fastei.Network.from_weights([W, W], biases=[None]),
     "biases has 1 entries for 2 weight matrices; give one bias (or None) per layer"),
    (lambda: fastei.Network.from_weights([W, W], activation=["tanh"] * 3),
     "activation has 3 entries for 2 layers; give one activation or one per layer"),
    # activations
    (lambda: fastei.Network.from_weights([W], activation="swish"),
     "unknown activation 'swish'; use one of ['linear', "),
    (lambda: fastei.Activation("upside_down", np.tanh, (1.0, -1.0)),
     "natural_range of activation 'upside_down' is (1.0, -1.0); it must satisfy lo < hi"),
    (lambda: fastei.ei(fastei.Network.from_weights([W], activation="linear")),
     "out_range has no default: layer 0 uses the unbounded activation 'linear'; pass "
     "out_range=(lo, hi)"),
    (lambda: fastei.ei(LINEAR_FIRST, span=1),
     "in_range has no default: layer 0 uses the unbounded activation 'linear'; pass "
     "in_range=(lo, hi)"),
    # options
    (lambda: fastei.ei(W, in_bins=1), "in_bins must be >= 2, got 1"),
    (lambda: fastei.ei(W, out_bins=40_000), "out_bins must be <= 32767, got 40000"),
    (lambda: fastei.ei(W, samples=0), "samples must be >= 1, got 0"),
    (lambda: fastei.measure(W, sensitivity_samples="auto"),
     "sensitivity_samples must be a number; got 'auto'"),
    (lambda: fastei.ei(W, in_range=(1, 0)), "in_range must satisfy lo < hi, got (1.0, 0.0)"),
    (lambda: fastei.ei(W, out_range=(0, np.inf)),
     "out_range must be finite, got (0.0, inf); give explicit finite bounds"),
    (lambda: fastei.ei(W, in_range=(-1e308, 1e308)),
     "in_range = (-1e+308, 1e+308) is too wide: hi - lo overflows float64"),
    (lambda: fastei.ei(W, overflow="wrap"), "overflow must be one of ['clip', 'drop'], got 'wrap'"),
    (lambda: fastei.ei(W, span=(0, 3)),
     "span (0, 3) is not a valid (start, end) for a network of 1 layers; use 0 <= start <= "
     "end <= 0"),
    (lambda: fastei.ei(W, max_memory="lots"),
     "max_memory 'lots' is not understood; use bytes or a size like '512MB' or '2GiB'"),
    (lambda: fastei.ei(W, max_memory=1000), "max_memory must be at least 1 MiB, got 1000 bytes"),
    (lambda: fastei.ei(W, seed=-1), "seed must be a non-negative integer, got -1"),
    (lambda: fastei.group_ei(W, inputs=[0, 5], outputs=[0]),
     "inputs = [0, 5] must hold distinct indices in 0..1"),
    (lambda: fastei.group_ei(W, inputs=[1, 1]), "inputs = [1, 1] must hold distinct indices"),
    (lambda: fastei.measure(W, samples=1000, groups=[([0], [2])]),
     "groups outputs = [2] must hold distinct indices in 0..1"),
    (lambda: fastei.sensitivity(W, baseline=np.nan), "baseline must be finite, got nan"),
])
def test_bad_input_gets_a_one_line_value_error(call, match):
    with pytest.raises(ValueError, match=re.escape(match)) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("call, match", [
    (lambda: fastei.ei("net"),
     "network must be a fastei.Network, a Dense layer, a 2-D weight array or a list of them; "
     "got str"),
    (lambda: fastei.Network([W]), "layers[0] is a ndarray; build layers with fastei.Dense"),
    (lambda: fastei.ei(np.ones((2, 2), complex)),
     "weights must be a real numeric array, got a complex array; give real int or float values"),
    (lambda: fastei.ei([["a", "b"]]),
     "weights must be a real numeric array, got a non-numeric (<U1) array"),
    (lambda: fastei.Dense(W, activation=3), "activation must be a name or an Activation, got int"),
    (lambda: fastei.register_activation("tanh"),
     "activation must be a fastei.activations.Activation, got str"),
    (lambda: fastei.ei(W, samples=2.5), "samples must be an integer, got 2.5"),
    (lambda: fastei.ei(W, samples=True), "samples must be an integer, got True"),
    (lambda: fastei.ei(W, seed="x"),
     "seed must be None, an int, a SeedSequence or a Generator; got str"),
    (lambda: fastei.ei(W, in_range=3), "in_range must be a pair (lo, hi) of numbers, got 3"),
    (lambda: fastei.ei(W, in_range=(0, "1")),
     "in_range must be a pair (lo, hi) of numbers, got (0, '1')"),
    (lambda: fastei.ei(W, span="0"),
     "span must be a layer index or a pair (start, end) of integer indices, got '0'"),
    (lambda: fastei.ei(W, max_memory=[1]),
     "max_memory must be a number of bytes or a size string, got [1]"),
    (lambda: fastei.group_ei(W, inputs=3), "inputs must be a list of node indices or None, got 3"),
    (lambda: fastei.group_ei(W, outputs=[]),
     "outputs must be a non-empty list of integer node indices, got []"),
    (lambda: fastei.group_ei(W, inputs=[0.5]),
     "inputs must be a non-empty list of integer node indices, got [0.5]"),
    (lambda: fastei.measure(W, groups=5),
     "groups must be a list of (inputs, outputs) pairs, got 5"),
    (lambda: fastei.measure(W, groups=[[0]]),
     "each group must be a pair (inputs, outputs) of node lists, got [0]"),
    (lambda: fastei.measure(W, samples=1000, groups=[([], [0])]),
     "groups inputs must be a non-empty list of integer node indices, got []"),
    (lambda: fastei.sensitivity(W, baseline="0"), "baseline must be a number, got '0'"),
    (lambda: fastei.ei(W, progress="yes"), "progress must be True, False or None, got 'yes'"),
    (lambda: fastei.ei(W, sample=10),
     "ei() got an unexpected keyword argument 'sample'; it takes span, in_bins, out_bins"),
])
def test_bad_types_get_a_type_error(call, match):
    with pytest.raises(TypeError, match=re.escape(match)) as info:
        call()
    assert "\n" not in str(info.value)


def test_a_group_of_none_means_every_node():
    m = fastei.measure(W, samples=2000, sensitivity_samples=10, groups=[(None, [1])])
    assert m.group_ei == {((0, 1), (1,)): fastei.group_ei(W, outputs=[1], samples=2000)}


def test_bad_groups_are_refused_before_any_counting(monkeypatch):
    def counting(*args, **kwargs):
        raise AssertionError("the joint stream was counted before the groups were checked")

    monkeypatch.setattr(_sampling, "count_part", counting)
    with pytest.raises(ValueError, match=re.escape("groups outputs = [2] must hold distinct")):
        fastei.measure(W, groups=[([0], [2])])


def test_subsets_must_be_integer_node_lists():
    # the public options turn node lists into ints first; the shared check still refuses
    with pytest.raises(TypeError, match=re.escape("inputs must be a non-empty list of node "
                                                  "indices, got array([0.5])")):
        check_subset(np.array([0.5]), "inputs", 3)


def test_an_estimator_can_only_declare_known_options():
    with pytest.raises(ValueError, match=re.escape("unknown options ['bogus', 'samplez']")):
        estimator("span", "samplez", "bogus")


def test_user_activations_are_replaced_only_on_request():
    softsign = fastei.Activation("softsign_twice_test", lambda z: z / (1 + np.abs(z)), (-1, 1))
    fastei.register_activation(softsign, replace=True)
    with pytest.raises(ValueError, match=re.escape(
            "activation 'softsign_twice_test' is already registered; choose another name or "
            "pass replace=True")):
        fastei.register_activation(softsign)


def test_builtin_activations_cannot_be_replaced():
    with pytest.raises(ValueError, match=re.escape(
            "activation 'tanh' is already registered; choose another name")) as info:
        fastei.register_activation(fastei.Activation("tanh", np.tanh, (-1, 1)), replace=True)
    assert "replace=True" not in str(info.value)
