"""Kernels and sampled estimators against the plain NumPy reference: same noise, same counts."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import fastei
from fastei import _kernels, _rng, _sampling
from fastei._sampling import CHUNK_ROWS, count_joint, key_layout, plan_joint

from . import reference as ref
from . import strategies
from .conftest import multiplicities, span_setup


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _layers(weights, func=_sigmoid, bias=None):
    return [(w, np.zeros(w.shape[0]) if bias is None else bias, func) for w in weights]


def _joint_counts(weights, samples, seed=0, inputs=None, outputs=None, **options):
    network = fastei.Network.from_weights(weights, activation=options.pop("activation", "sigmoid"))
    setup = span_setup(network, options.pop("span", 0), options.pop("in_bins", 8),
                       options.pop("out_bins", 8), options.pop("overflow", "clip"))
    inputs = np.arange(setup.n_in) if inputs is None else np.asarray(inputs)
    outputs = np.arange(setup.n_out) if outputs is None else np.asarray(outputs)
    return count_joint(plan_joint(setup, _rng.stream_key(seed, _rng.JOINT_STREAM), samples,
                                  inputs, outputs, True, options.pop("max_memory", 2**30),
                                  **options))


def test_noise_matches_reference_bit_for_bit():
    key = _rng.stream_key(7, _rng.JOINT_STREAM)
    rows = np.array([0, 1, 5, 2**40 + 3], dtype=np.int64)
    nodes = np.arange(5, dtype=np.int64)
    out = np.empty((5, rows.size))
    _kernels.fill_uniform(key, rows, 5, nodes, -1.0, 3.0, 3, out)
    assert_array_equal(out.T, ref.uniform_noise(key, rows, 5, -1.0, 3.0))
    assert out.min() >= -1.0 and out.max() < 3.0
    for lo, hi, n_bins in ((-1.0, 3.0, 8), (0.1, 0.7, 30)):  # by multiplication, by division
        binned, bins = np.empty((5, rows.size)), np.empty((5, rows.size), np.int16)
        _kernels.fill_uniform(key, rows, 5, nodes, lo, hi, 3, binned, n_bins, bins)
        assert_array_equal(binned.T, ref.uniform_noise(key, rows, 5, lo, hi))
        assert_array_equal(bins, ref.bins_of(binned, lo, hi, n_bins))


@pytest.mark.parametrize("n_in, n_out, code", [(25, 6, 0), (4, 5, 1), (3, 2, 3)])
def test_noise_taken_through_a_layer_as_drawn_equals_noise_then_layer(n_in, n_out, code):
    # The fused kernel keeps the noise in the cache; same bins, same outputs, bit for bit.
    rng = np.random.default_rng(n_in)
    weights, bias = rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
    rows = np.sort(rng.choice(10**6, 3000, replace=False)).astype(np.int64)
    key = _rng.stream_key(4, _rng.JOINT_STREAM)
    x, x_bins = np.empty((n_in, rows.size)), np.empty((n_in, rows.size), np.int16)
    _kernels.fill_uniform(key, rows, n_in, np.arange(n_in), -1.0, 1.0, 64, x, 8, x_bins)
    expected = np.empty((n_out, rows.size))
    _kernels.dense_forward(x, weights, bias, code, 64, expected)
    bins, out = np.empty_like(x_bins), np.empty_like(expected)
    _kernels.noise_forward(key, rows, -1.0, 1.0, 8, bins, weights, bias, code, 64, out)
    assert_array_equal(bins, x_bins)
    assert_array_equal(out, expected)


@pytest.mark.parametrize("code, func", [(0, lambda z: z), (1, _sigmoid), (2, np.tanh),
                                        (3, lambda z: np.maximum(z, 0.0))])
def test_layer_kernel_matches_reference(code, func):
    rng = np.random.default_rng(code)
    weights, bias = rng.normal(size=(7, 5)), rng.normal(size=7)
    x = rng.uniform(-2, 2, size=(300, 5))
    out = np.empty((7, 300))
    _kernels.dense_forward(np.ascontiguousarray(x.T), weights, bias, code, 64, out)
    # Same additions in the same order; only exp/tanh may differ in the last ulp.
    assert_allclose(out.T, ref.forward([(weights, bias, func)], x), rtol=1e-14, atol=1e-300)


def test_sigmoid_kernel_agrees_with_numpy_over_the_whole_range():
    # The kernel's own vectorised exp: within a few ulp everywhere, exact at saturation.
    z = np.concatenate([np.random.default_rng(0).uniform(-800, 800, 200_000),
                        np.random.default_rng(1).uniform(-3, 3, 200_000),
                        [-1e300, -746.0, -709.0, 0.0, 1e-300, 709.0, 746.0, 1e300]])
    out = np.empty((1, z.size))
    _kernels.dense_forward(z[None], np.ones((1, 1)), np.zeros(1), 1, 512, out)
    with np.errstate(over="ignore"):
        expected = _sigmoid(z)
    assert_allclose(out[0], expected, rtol=1e-15, atol=0)
    assert out[0, -1] == 1.0 and out[0, -8] == 0.0 and out[0, -5] == 0.5


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("out_bins, out_range, overflow", [
    (8, None, "clip"), (64, None, "clip"), (7, (0.2, 0.7), "clip"), (5, (0.2, 0.7), "drop")])
def test_outputs_binned_from_preactivations_equal_the_activations_binned(
        activation, out_bins, out_range, overflow):
    # A sigmoid or tanh last layer is binned by comparing pre-activations with thresholds:
    # the same bins and the same count outside the range as the activation's values,
    # also at each threshold and the doubles beside it.
    setup = span_setup(fastei.Network.from_weights([np.eye(1)], activation=activation), 0,
                       8, out_bins, overflow, out_range=out_range)
    thresholds, low, high = setup.preactivation_thresholds
    edges = np.concatenate([thresholds, [low, high]])
    edges = edges[np.isfinite(edges)]
    z = np.concatenate([np.random.default_rng(out_bins).uniform(-40, 40, 100_000),
                        edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                        [-np.inf, np.inf, 0.0, -0.0, 1e-300, -1e-300]])[None]
    bins, outside = setup.output_bins(z)
    code = setup.layers[0].code
    values = z.copy()
    _kernels.activate(values[0], code, np.empty((2, z.size), np.int64))
    expected = np.empty(z.shape, np.int16)
    expected_outside, _ = _kernels.bin_values(values, *setup.out_range, out_bins,
                                              overflow == "drop", expected)
    assert_array_equal(bins, expected)
    assert outside == expected_outside
    assert len(np.unique(bins)) == out_bins + (overflow == "drop")


def test_binning_counts_and_overflow_match_reference():
    values = np.array([[-0.5, 0.0, 0.124, 0.125, 0.5, 0.999, 1.0, 1.7]])
    for drop in (False, True):
        out = np.empty(values.shape, np.int16)
        outside, nan = _kernels.bin_values(values, 0.0, 1.0, 8, drop, out)
        assert_array_equal(out, ref.bins_of(values, 0.0, 1.0, 8, drop))
        assert (outside, nan) == (2, 0)


def test_binning_counts_nan_apart():
    values = np.array([[0.3, np.nan, 1.5], [np.nan, np.nan, -0.2]])
    finite = ~np.isnan(values)
    for drop in (False, True):
        out = np.empty(values.shape, np.int16)
        assert _kernels.bin_values(values, 0.0, 1.0, 8, drop, out) == (2, 3)
        assert_array_equal(out[finite], ref.bins_of(values[finite], 0.0, 1.0, 8, drop))
        assert_array_equal(out[~finite], 0)


@pytest.mark.parametrize("code, func", [(0, lambda z: z), (1, _sigmoid), (2, np.tanh),
                                        (3, lambda z: np.maximum(z, 0.0))])
def test_layer_kernel_keeps_nan(code, func):
    # inf - inf in the sum gives NaN, and no activation may turn it into a number
    h = np.array([[np.inf, 1.0, -np.inf], [np.inf, np.nan, -np.inf]])
    out = np.empty((1, 3))
    _kernels.dense_forward(h, np.array([[1.0, -1.0]]), np.zeros(1), code, 2, out)
    with np.errstate(invalid="ignore"):
        expected = ref.forward([(np.array([[1.0, -1.0]]), np.zeros(1), func)], h.T)
    assert np.isnan(expected).all()
    assert np.isnan(out).all()


@pytest.mark.parametrize("lo, hi, n_bins", [(0.0, 1.0, 8), (-1.0, 1.0, 30), (-3.0, 5.0, 7),
                                            (0.1, 0.7, 8), (-2.0, 1.0, 64)])
def test_binning_matches_reference_at_and_near_every_edge(lo, hi, n_bins):
    # Power-of-two widths bin by a multiplication, others by the SPEC's division: both
    # must agree with the formula bit for bit, including values one ulp from an edge.
    edges = lo + (hi - lo) * np.arange(n_bins + 1) / n_bins
    values = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                             np.random.default_rng(n_bins).uniform(lo - 1, hi + 1, 5000)])
    out = np.empty((1, values.size), np.int16)
    outside, nan = _kernels.bin_values(values[None], lo, hi, n_bins, False, out)
    assert_array_equal(out[0], ref.bins_of(values, lo, hi, n_bins))
    assert (outside, nan) == (np.count_nonzero((values < lo) | (values > hi)), 0)


@pytest.mark.parametrize("n_bins, n_prefix, passes, lo, hi", [
    (8, 1, 8, 0.0, 1.0), (8, 2, 6, -1.0, 2.0), (30, 1, 5, 0.0, 1.0), (5, 2, 7, -1.0, 2.0)])
def test_pass_selection_matches_reference_partition(n_bins, n_prefix, passes, lo, hi):
    # Row r goes to pass (mixed-radix index of its prefix bins) % passes, computed from
    # the reference noise; every row lands in exactly one pass, in order.
    key = _rng.stream_key(4, _rng.JOINT_STREAM)
    first, n, n_nodes = 1000, 3000, 6
    prefix = np.array([2, 4][:n_prefix], dtype=np.int64)
    rows = np.arange(first, first + n)
    bins = ref.bins_of(ref.uniform_noise(key, rows, n_nodes, lo, hi)[:, prefix], lo, hi, n_bins)
    index = np.zeros(n, np.int64)
    for c in range(n_prefix):
        index = index * n_bins + bins[:, c]
    for p in range(passes):
        out = np.empty(n, np.int64)
        found = _kernels.rows_of_partition(key, first, n_nodes, prefix, lo, hi, n_bins, passes,
                                           p, 64, out)
        assert_array_equal(out[:found], rows[index % passes == p])


@pytest.mark.parametrize("n_nodes, n_bins", [(3, 8), (21, 8), (25, 8), (42, 8), (50, 8), (9, 300)])
def test_cell_keys_are_lossless_up_to_128_bits(n_nodes, n_bins):
    rng = np.random.default_rng(n_nodes)
    bins = rng.integers(0, n_bins, size=(n_nodes, 400)).astype(np.int16)
    bits, words, hashed = key_layout(n_nodes, n_bins)
    keys = np.empty((400, words), np.uint64)
    hashes = np.empty(400, np.uint64)
    valid = np.empty(400, np.bool_)
    _kernels.cell_keys(bins, np.arange(n_nodes), bits, hashed, 64, keys, hashes, valid)
    assert hashed == (bits * n_nodes > 128)
    if not hashed:
        packed = [sum(int(b) << (bits * c) for c, b in enumerate(column)) for column in bins.T]
        got = [int(k[0]) | (int(k[1]) << 64 if words > 1 else 0) for k in keys]
        assert got == packed
    distinct_rows = len({tuple(column) for column in bins.T})
    assert len({tuple(k) for k in keys.tolist()}) == distinct_rows
    assert valid.all()


@pytest.mark.parametrize("widths, in_bins, out_bins", [
    ((3, 2), 8, 8), ((25, 6), 8, 8), ((4, 30), 4, 8), ((5, 10), 8, 8), ((50, 3), 8, 8),
    ((2, 2), 64, 64)])
def test_joint_counts_equal_reference(widths, in_bins, out_bins):
    # Output keys up to 20 bits are counted in a dense array, wider ones in a table.
    n_in, n_out = widths
    rng = np.random.default_rng(n_in)
    weights = [rng.uniform(-3, 3, size=(n_out, n_in))]
    samples = 30_000
    counts = _joint_counts(weights, samples, seed=3, in_bins=in_bins, out_bins=out_bins)
    key = _rng.stream_key(3, _rng.JOINT_STREAM)
    xb, yb, _ = ref.joint_stream(_layers(weights), key, samples, (0, 1), (0, 1), in_bins, out_bins)
    for tally, states in ((counts.x, xb), (counts.y, yb), (counts.xy, np.hstack([xb, yb]))):
        assert_array_equal(multiplicities(tally), np.bincount(ref.state_counts(states)))
    assert_allclose(counts.information(), ref.mutual_information(xb, yb), rtol=1e-12)
    assert_allclose(counts.pairs.sum(axis=(2, 3)), samples)
    assert_allclose(fastei.ei_parts_matrix(weights, samples=samples, seed=3, in_bins=in_bins,
                                           out_bins=out_bins),
                    ref.pair_matrix(xb, yb), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n_out, in_bins, out_bins, rows", [
    (6, 8, 8, 50_000), (7, 8, 8, 50_000), (5, 16, 16, 20_000), (3, 64, 64, 20_000),
    (6, 8, 8, 500)])
def test_pair_counts_equal_numpy_histograms_for_every_output_group(n_out, in_bins, out_bins,
                                                                   rows):
    # Outputs are counted in groups (three at 8 bins, fewer for short chunks or many
    # bins); dropped outputs (-1) count for no pair. Every pair must equal its histogram.
    rng = np.random.default_rng(n_out)
    x_bins = rng.integers(0, in_bins, size=(4, rows)).astype(np.int16)
    y_bins = rng.integers(-1, out_bins, size=(n_out, rows)).astype(np.int16)
    setup = span_setup(fastei.Network.from_weights([np.ones((n_out, 4))]), 0, in_bins, out_bins)
    counts = np.zeros((4, n_out, in_bins, out_bins), np.int64)
    _sampling.count_pairs(setup, x_bins, y_bins, counts)
    _sampling.count_pairs(setup, x_bins[:, ::-1].copy(), y_bins[:, ::-1].copy(), counts)
    for i in range(4):
        for j in range(n_out):
            kept = y_bins[j] >= 0
            expected = np.zeros((in_bins, out_bins), np.int64)
            np.add.at(expected, (x_bins[i, kept], y_bins[j, kept]), 2)
            assert_array_equal(counts[i, j], expected)
    assert _sampling.output_group(setup, rows) == {(8, 50_000): 3, (16, 20_000): 2,
                                                   (64, 20_000): 1, (8, 500): 1}[in_bins, rows]


def test_large_counts_are_tallied_exactly():
    # 2 inputs at 2 bins and a saturated output: four cells seen ~5000 times each.
    weights = [np.array([[40.0, 40.0]])]
    counts = _joint_counts(weights, 20_000, in_bins=2, out_bins=2)
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    xb, yb, _ = ref.joint_stream(_layers(weights), key, 20_000, (0, 1), (0, 1), 2, 2)
    assert counts.x.large
    assert_array_equal(multiplicities(counts.x), np.bincount(ref.state_counts(xb)))
    assert_allclose(counts.information(), ref.mutual_information(xb, yb), rtol=1e-12)


def test_group_ei_matches_reference():
    rng = np.random.default_rng(5)
    weights = [rng.uniform(-4, 4, size=(4, 5))]
    key = _rng.stream_key(2, _rng.JOINT_STREAM)
    got = fastei.group_ei(weights, inputs=[0, 3], outputs=[1, 2], samples=20_000, seed=2)
    expected = ref.ei(_layers(weights), key, 20_000, (0, 1), (0, 1), 8, 8, [0, 3], [1, 2])
    assert_allclose(got, expected, rtol=1e-12)


def test_drop_matches_reference_for_relu():
    rng = np.random.default_rng(6)
    weights = [rng.uniform(0, 3, size=(2, 3))]
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    key = _rng.stream_key(1, _rng.JOINT_STREAM)
    network = fastei.Network.from_weights(weights, activation="relu")
    m = fastei.measure(network, samples=20_000, sensitivity_samples=3000, seed=1,
                       overflow="drop")
    expected = ref.ei(_layers(weights, relu), key, 20_000, (0, 1), (0, 1), 8, 8, drop=True)
    assert_allclose(m.ei, expected, rtol=1e-12)
    xb, yb, outside = ref.joint_stream(_layers(weights, relu), key, 20_000, (0, 1), (0, 1),
                                       8, 8, drop=True)
    assert m.out_of_range == outside > 0
    assert m.valid_samples == int((yb >= 0).all(axis=1).sum())
    assert_allclose(m.ei_parts_matrix, ref.pair_matrix(xb, yb), rtol=1e-12, atol=1e-15)
    assert_allclose(m.sensitivity_matrix,
                    ref.sensitivity_matrix(_layers(weights, relu), key, 3000, (0, 1), (0, 1),
                                           8, 8, drop=True), rtol=1e-12, atol=1e-15)


def test_sensitivity_matches_reference_with_baseline_and_bias():
    rng = np.random.default_rng(8)
    weights, bias = rng.uniform(-5, 5, size=(3, 4)), rng.normal(size=3)
    network = fastei.Network([fastei.Dense(weights, bias, "tanh")])
    got = fastei.sensitivity_matrix(network, samples=4000, seed=4, baseline=0.3,
                                    in_range=(-1, 1), out_range=(-1, 1), in_bins=16)
    key = _rng.stream_key(4, _rng.SENSITIVITY_STREAM)
    expected = ref.sensitivity_matrix([(weights, bias, np.tanh)], key, 4000, (-1, 1), (-1, 1),
                                      16, 8, baseline=0.3)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_two_layer_span_matches_reference():
    rng = np.random.default_rng(9)
    weights = [rng.uniform(-2, 2, size=(4, 3)), rng.uniform(-2, 2, size=(2, 4))]
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    expected = ref.ei(_layers(weights), key, 20_000, (0, 1), (0, 1), 8, 8)
    assert_allclose(fastei.ei(weights, span=(0, 1), samples=20_000), expected, rtol=1e-12)


def test_user_activation_runs_through_the_same_pipeline():
    softsign = fastei.Activation("softsign_test", lambda z: z / (1.0 + np.abs(z)), (-1.0, 1.0))
    fastei.register_activation(softsign, replace=True)
    weights = [np.random.default_rng(1).uniform(-3, 3, size=(2, 3))]
    network = fastei.Network.from_weights(weights, activation="softsign_test")
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    expected = ref.ei(_layers(weights, softsign.func), key, 10_000, (0, 1), (-1, 1), 8, 8)
    assert_allclose(fastei.ei(network, samples=10_000), expected, rtol=1e-12)


def test_entropies_from_tallies_match_reference():
    weights = [np.eye(3) * 5.0]
    counts = _joint_counts(weights, 10_000, chunk_rows=CHUNK_ROWS // 16)
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    xb, yb, _ = ref.joint_stream(_layers(weights), key, 10_000, (0, 1), (0, 1), 8, 8)
    n = counts.n_valid
    for tally, states in ((counts.x, xb), (counts.y, yb), (counts.xy, np.hstack([xb, yb]))):
        assert_allclose(math.log2(n) - tally.c_log2_c() / n, ref.entropy_of_rows(states),
                        rtol=1e-12)


@settings(max_examples=100)  # cheap examples; 25 catch a multiplication by B / width in 1
@given(data=st.data(), layout=strategies.bin_layouts())
def test_binning_at_bin_edges_follows_the_spec_formula(data, layout):
    # Any range and bin count, values on and a few ulps around the edges: the kernel's bin
    # is the SPEC's clip(floor((v - lo) / (hi - lo) * B), 0, B - 1), bit for bit, and
    # with drop the values outside [lo, hi] are marked -1 and counted.
    lo, hi, n_bins = layout
    values = data.draw(strategies.values_at_edges(lo, hi, n_bins))
    outside_expected = np.count_nonzero((values < lo) | (values > hi))
    for drop in (False, True):
        out = np.empty((1, values.size), np.int16)
        outside, nan = _kernels.bin_values(values[None], lo, hi, n_bins, drop, out)
        expected = ref.bin_index(values, (lo, hi), n_bins)
        if drop:
            expected[(values < lo) | (values > hi)] = -1
        assert_array_equal(out[0], expected)
        assert (outside, nan) == (outside_expected, 0)


@pytest.mark.parametrize("ahead", [0, 1, 16, 10**6])
def test_prefetch_distance_changes_no_count(ahead, monkeypatch):
    # The prefetch is a hint: any distance gives the reference counts, in the same slots.
    keys = np.random.default_rng(ahead % 7).integers(0, 50, size=(5000, 1)).astype(np.uint64)
    hashes = np.array([_kernels.state_hash(k, np.uint64(0)) for k in keys[:, 0]], np.uint64)
    table = np.zeros((2, 128, 2), np.uint64)
    fill, resume = np.zeros(2, np.int64), np.zeros(2, np.int64)
    _kernels.count_states(keys, hashes, np.ones(5000, np.bool_), table, fill, 96, resume, ahead)
    assert (resume == 5000).all()
    used = table.reshape(-1, 2)[table.reshape(-1, 2)[:, 0] > 0]
    values, counts = np.unique(keys[:, 0], return_counts=True)
    assert_array_equal(used[np.argsort(used[:, 1]), 0], counts)
    assert_array_equal(np.sort(used[:, 1]), values)
    # the joint kernel, through the counter, against the reference stream
    monkeypatch.setattr(_sampling, "PREFETCH_DISTANCE", ahead)
    weights = [np.random.default_rng(2).uniform(-3, 3, size=(3, 4))]
    counts = _joint_counts(weights, 20_000, in_bins=4)
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    xb, yb, _ = ref.joint_stream(_layers(weights), key, 20_000, (0, 1), (0, 1), 4, 8)
    expected = np.bincount(ref.state_counts(np.hstack([xb, yb])))
    assert_array_equal(multiplicities(counts.xy), expected)
