"""Public estimators: SPEC sanity facts, determinism, bounded memory and bad input."""

import math

import numba
import numpy as np
import pytest

import fastei
from fastei import _rng
from fastei._sampling import JointCounter

from .conftest import span_setup


def _identity_edge(activation="linear"):
    return fastei.Network.from_weights([np.array([[1.0]])], activation=activation)


@pytest.mark.parametrize("bins", [4, 8, 16])
def test_identity_edge_carries_log2_bins(bins):
    net = _identity_edge()
    options = dict(in_bins=bins, out_bins=bins, out_range=(0, 1), seed=3)
    # Plug-in entropy of B equally likely bins from N samples is below log2(B) by about
    # (B - 1) / (2 N ln 2) bits: 1e-4 here.
    for value in (fastei.ei(net, samples=100_000, **options),
                  fastei.ei_parts(net, samples=100_000, **options),
                  fastei.sensitivity(net, samples=100_000, **options)):
        assert abs(value - math.log2(bins)) < 1e-3


def test_zero_weights_give_zero_everywhere():
    m = fastei.measure(np.zeros((3, 4)), samples=20_000, groups=[([0, 1], [2])])
    assert m.ei == m.ei_parts == m.sensitivity == m.degeneracy == m.phi_feedforward == 0.0
    assert not m.ei_parts_matrix.any() and not m.sensitivity_matrix.any()
    assert m.group_ei == {((0, 1), (2,)): 0.0}


def test_diagonal_layer_has_no_degeneracy():
    weights = np.diag([3.0, -2.0, 5.0])
    m = fastei.measure(weights, samples=200_000, sensitivity_samples=200_000)
    # Same noise for each input and no cross terms: the edges' terms agree exactly.
    np.testing.assert_array_equal(np.diag(m.sensitivity_matrix), np.diag(m.ei_parts_matrix))
    assert np.count_nonzero(m.sensitivity_matrix) == 3
    # Off the diagonal the joint stream pairs independent variables: only plug-in bias,
    # about (B - 1)**2 / (2 N ln 2) = 1.8e-4 bits per pair.
    off_diagonal = m.ei_parts_matrix[~np.eye(3, dtype=bool)]
    assert (off_diagonal < 5e-4).all()
    # The joint plug-in over 512 cells carries a little more upward bias than the parts.
    assert abs(m.ei - m.ei_parts) < 0.01 and abs(m.degeneracy) < 0.01


def test_bounds_and_non_negative_parts():
    rng = np.random.default_rng(0)
    weights = rng.uniform(-4, 4, size=(2, 3))
    m = fastei.measure(weights, samples=50_000, in_bins=4, out_bins=8)
    assert 0 <= m.ei <= min(3 * 2, 2 * 3)
    assert (m.ei_parts_matrix >= 0).all() and (m.sensitivity_matrix >= 0).all()
    assert m.ei_parts_matrix.shape == m.sensitivity_matrix.shape == weights.shape == (2, 3)
    assert m.degeneracy == pytest.approx(m.sensitivity - m.ei)
    assert m.phi_feedforward == pytest.approx(m.ei - m.ei_parts)


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


def test_group_ei_of_everything_is_ei():
    weights = np.random.default_rng(2).uniform(-3, 3, size=(3, 3))
    assert fastei.group_ei(weights, inputs=None, outputs=None, samples=20_000) == fastei.ei(weights,
                                                                              samples=20_000)


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


def _counter(weights, samples, max_memory, **kwargs):
    setup = span_setup(weights)
    return JointCounter(setup, _rng.stream_key(0, _rng.JOINT_STREAM), samples,
                        np.arange(setup.n_in), np.arange(setup.n_out), True, max_memory,
                        **kwargs)


@pytest.mark.parametrize("n_out", [3, 12])
def test_partitioned_low_memory_run_equals_unpartitioned(n_out):
    weights = np.random.default_rng(4).uniform(-2, 2, size=(n_out, 10))
    full = _counter(weights, 120_000, 2**30).run()
    assert full.passes == 1
    small = _counter(weights, 120_000, 4 * 2**20, chunk_rows=5000, n_shards=3)
    passes, split_outputs = small.plan()
    assert passes > 1 and split_outputs == (n_out == 12)
    low = small.run()
    assert low.passes == passes
    assert low.information() == full.information()
    np.testing.assert_array_equal(low.pairs, full.pairs)
    np.testing.assert_array_equal(low.xy.small, full.xy.small)


@pytest.mark.parametrize("in_bins, wanted, made", [
    (8, [1, 2, 3, 5, 6, 9, 40, 65], [1, 2, 4, 8, 8, 16, 64, 128]),
    (30, [2, 4, 7, 11, 16, 31], [2, 5, 10, 15, 30, 36]),
    (7, [3, 7, 8], [3, 7, 8])])
def test_pass_counts_split_input_cells_evenly_where_they_can(in_bins, wanted, made):
    # Passes are raised (at most doubled) to a divisor of in_bins**m, m prefix nodes, so
    # that each pass gets as many cells; a prime number of bins may leave them unequal.
    setup = span_setup(np.ones((2, 10)), in_bins=in_bins)
    counter = JointCounter(setup, np.uint64(0), 10, np.arange(10), np.arange(2), False, 2**30)
    assert [counter._balanced(p) for p in wanted] == made
    for passes in made:
        m = len(counter._prefix_nodes(passes))
        assert in_bins ** m % passes == 0 or in_bins ** m >= 8 * passes


def test_tables_grow_when_cells_repeat_more_than_planned():
    # Narrow inputs and many samples: most cells are mixed, the joint table grows.
    weights = np.random.default_rng(5).uniform(-9, 9, size=(2, 4))
    counter = _counter(weights, 100_000, 2**30, chunk_rows=7000)
    assert counter.run().information() == _counter(weights, 100_000, 2**30).run().information()


def test_memory_budget_too_small_for_buffers_is_reported():
    with pytest.raises(MemoryError, match="max_memory"):
        fastei.ei(np.ones((2, 200)), samples=10**6, max_memory="1MiB")


@pytest.mark.parametrize("call, match", [
    (lambda: fastei.ei([[np.nan, 1.0]]), r"weights contains a non-finite value \(nan"),
    (lambda: fastei.ei([[np.inf]]), "weights contains a non-finite value"),
    (lambda: fastei.ei([np.ones((3, 2)), np.ones((1, 4))]),
     r"layer 1 has shape \(1, 4\).*needs 3 columns"),
    (lambda: fastei.ei(np.ones((2, 2)), in_bins=1), "in_bins must be >= 2, got 1"),
    (lambda: fastei.ei(np.ones((2, 2)), out_bins=40_000), "out_bins must be <= 32767"),
    (lambda: fastei.ei(np.ones((2, 2)), samples=0), "samples must be >= 1, got 0"),
    (lambda: fastei.ei(np.ones((2, 2)), in_range=(1, 0)), r"in_range must satisfy lo < hi"),
    (lambda: fastei.ei(np.ones((2, 2)), out_range=(0, np.inf)), "out_range must be finite"),
    (lambda: fastei.Network.from_weights([np.ones((2, 2))], activation="swish"),
     "unknown activation 'swish'"),
    (lambda: fastei.ei(fastei.Network.from_weights([np.ones((2, 2))], activation="linear")),
     "out_range has no default: layer 0 uses the unbounded activation 'linear'"),
    (lambda: fastei.ei(np.ones((2, 2)), overflow="wrap"), "overflow must be one of"),
    (lambda: fastei.ei(np.ones((2, 2)), span=(0, 3)), r"span \(0, 3\) is not a valid"),
    (lambda: fastei.ei(np.ones((2, 2)), max_memory="lots"), "max_memory 'lots' is not"),
    (lambda: fastei.ei(np.ones((2, 2)), seed=-1), "seed must be a non-negative integer"),
    (lambda: fastei.group_ei(np.ones((2, 2)), inputs=[0, 5], outputs=[0]), r"inputs = \[0, 5\] must hold"),
    (lambda: fastei.sensitivity(np.ones((2, 2)), baseline=np.nan), "baseline must be finite"),
    (lambda: fastei.Dense(np.ones((2, 2)), bias=np.ones(3)), "bias has 3 entries"),
    (lambda: fastei.ei(np.ones(3)), "weights must be 2-D, got shape"),
])
def test_bad_input_gets_a_one_line_value_error(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("call, match", [
    (lambda: fastei.ei("net"), "network must be a fastei.Network"),
    (lambda: fastei.ei(np.ones((2, 2)), samples=2.5), "samples must be an integer"),
    (lambda: fastei.ei(np.ones((2, 2)), seed="x"), "seed must be None, an int"),
    (lambda: fastei.ei(np.ones((2, 2)), in_range=3), r"in_range must be a pair"),
    (lambda: fastei.register_activation("tanh"), "activation must be a fastei"),
])
def test_bad_types_get_a_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_builtin_activations_cannot_be_replaced():
    with pytest.raises(ValueError, match="'tanh' is already registered"):
        fastei.register_activation(fastei.Activation("tanh", np.tanh, (-1, 1)), replace=True)
