"""The counting driver: chunks, passes, hash tables and memory plans give the reference's
counts, whatever the split of the work."""

import functools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import fastei
from fastei import _kernels, _rng
from fastei._sampling import CountSum, JointCounter, _Table, key_layout, sensitivity_counts

from . import reference as ref
from . import strategies
from .conftest import span_setup


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _counter(weights, samples, max_memory, in_bins=8, **kwargs):
    setup = span_setup(weights, in_bins=in_bins)
    return JointCounter(setup, _rng.stream_key(0, _rng.JOINT_STREAM), samples,
                        np.arange(setup.n_in), np.arange(setup.n_out), True, max_memory,
                        **kwargs)


def _multiplicities(tally):
    """``m[c]`` = number of states seen ``c`` times, from a CountSum."""
    large = np.concatenate(tally.large) if tally.large else np.zeros(0, np.int64)
    m = np.zeros(max(tally.small.size, large.max(initial=0) + 1), np.int64)
    m[:tally.small.size] = tally.small
    np.add.at(m, large, 1)
    return np.trim_zeros(m, "b")


def assert_same_counts(got, expected):
    """Two JointCounts hold the same counts (and so the same bits)."""
    assert (got.n_valid, got.n_outside) == (expected.n_valid, expected.n_outside)
    for name in ("x", "y", "xy"):
        assert_array_equal(_multiplicities(getattr(got, name)),
                           _multiplicities(getattr(expected, name)))
    assert_array_equal(got.pairs, expected.pairs)
    assert got.information() == expected.information()


def assert_reference_counts(counts, weights, samples, in_bins=8, out_bins=8):
    """A span of sigmoid layers counted like the reference's joint stream of seed 0."""
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    layers = [(w, np.zeros(w.shape[0]), _sigmoid) for w in weights]
    xb, yb, _ = ref.joint_stream(layers, key, samples, (0, 1), (0, 1), in_bins, out_bins)
    for tally, states in ((counts.x, xb), (counts.y, yb), (counts.xy, np.hstack([xb, yb]))):
        assert_array_equal(_multiplicities(tally), np.bincount(ref.state_counts(states)))


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
    assert_same_counts(low, full)


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


def _count_growth(monkeypatch):
    """Record the shape of every table that grows, by (record width, key words)."""
    grown = []
    original = _Table.grown

    def spy(table):
        grown.append((table.records.shape[2], table.key_words, table.records.shape[1]))
        return original(table)

    monkeypatch.setattr(_Table, "grown", spy)
    return grown


def test_tables_grow_when_cells_repeat_more_than_planned(monkeypatch):
    # 4 inputs at 8 bins (4096 cells) and 60,000 samples: most cells meet several output
    # states, and the joint table, which starts at 64 slots a shard, must grow. A plan that
    # underestimates every table (16 slots) makes the cell and output tables grow as well
    # (8 outputs at 8 bins: 24-bit keys, counted in a table).
    weights = np.random.default_rng(5).uniform(-9, 9, size=(8, 4))
    grown = _count_growth(monkeypatch)
    planned = _counter(weights, 60_000, 2**30, chunk_rows=7000, n_shards=2).run()
    assert {(record, words) for record, words, _ in grown} == {(3, 2)}  # the joint table
    assert_reference_counts(planned, [weights], 60_000)

    grown.clear()
    counter = _counter(weights, 60_000, 2**30, chunk_rows=7000, n_shards=2)
    counter._capacity = lambda expected_states: 16
    underestimated = counter.run()
    # cell table [count, cell, first output], joint table [count, cell, output], outputs
    assert {(record, words) for record, words, _ in grown} == {(3, 1), (3, 2), (2, 1)}
    assert max(capacity for _, _, capacity in grown) >= 1024  # grown many times over
    assert_same_counts(underestimated, planned)


@pytest.mark.parametrize("n_nodes, n_bins", [(3, 8), (25, 8), (50, 8)])
def test_a_grown_table_finds_every_key_again(n_nodes, n_bins):
    # Keys of one word, two words and hashed keys: after rehashing into a table twice as
    # large, counting the same rows again must find every key (no new entries, counts
    # doubled), so each record sits where a lookup for its key starts.
    bins = np.random.default_rng(n_nodes).integers(0, n_bins, size=(n_nodes, 3000),
                                                   dtype=np.int16)
    bits, words, hashed = key_layout(n_nodes, n_bins)
    keys, hashes = np.empty((3000, words), np.uint64), np.empty(3000, np.uint64)
    valid = np.empty(3000, np.bool_)
    _kernels.cell_keys(bins, np.arange(n_nodes), bits, hashed, 64, keys, hashes, valid)
    table = _Table.empty(3, 2048, 1 + words, words, words)
    resume = np.zeros(3, np.int64)
    _kernels.count_states(keys, hashes, valid, table.records, table.fill, table.limit, resume)
    assert resume.min() == 3000
    distinct = len({tuple(row) for row in bins.T})
    assert table.fill.sum() == distinct
    bigger = table.grown()
    assert bigger.records.shape == (3, 4096, 1 + words)
    assert_array_equal(bigger.fill, table.fill)
    resume[:] = 0
    _kernels.count_states(keys, hashes, valid, bigger.records, bigger.fill, bigger.limit, resume)
    assert_array_equal(bigger.fill, table.fill)
    assert sorted(bigger.records[..., 0][bigger.records[..., 0] > 0].tolist()) == sorted(
        (2 * table.records[..., 0][table.records[..., 0] > 0]).tolist())


def test_a_table_outgrowing_the_budget_is_counted_again_in_more_passes(monkeypatch):
    # 4 inputs at 4 bins (256 cells) and 12 outputs: almost every sample is a new joint
    # state, but the plan budgets only the 256 cells and the output states, so at 5 MB the
    # joint table outgrows the budget in the first attempt; the run starts again with
    # twice the passes and gives the counts of an unlimited run.
    weights = np.random.default_rng(4).uniform(-4, 4, size=(12, 4))
    unlimited = _counter(weights, 100_000, 2**30, in_bins=4, chunk_rows=2000, n_shards=2).run()
    attempts = []
    original = JointCounter._run

    def spy(self, passes, split_outputs):
        attempts.append(passes)
        return original(self, passes, split_outputs)

    monkeypatch.setattr(JointCounter, "_run", spy)
    counter = _counter(weights, 100_000, 5 * 10**6, in_bins=4, chunk_rows=2000, n_shards=2)
    planned, _ = counter.plan()
    result = counter.run()
    assert planned == 1 and attempts == [1, 2] and result.passes == 2
    assert_same_counts(result, unlimited)
    assert_reference_counts(result, [weights], 100_000, in_bins=4)


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000, 4096])
def test_sensitivity_counts_in_several_chunks_equal_the_reference(chunk_rows):
    # chunk_rows // n_in samples per node and chunk (at least 1): 1, 1, 142 and 585, so
    # 300, 300, 2500 and 2500 samples take 300, 300, 18 and 5 chunks, the last one short.
    # Relu outputs above 1 are dropped (and counted as outside).
    rng = np.random.default_rng(8)
    weights, bias = rng.uniform(-2, 3, size=(3, 7)), rng.normal(size=3)
    network = fastei.Network([fastei.Dense(weights, bias, "relu")])
    setup = span_setup(network, in_bins=6, out_bins=16, overflow="drop")
    key = _rng.stream_key(9, _rng.SENSITIVITY_STREAM)
    samples = 300 if chunk_rows < 7 * 2 else 2500
    counts, outside = sensitivity_counts(setup, key, samples, 0.4, chunk_rows=chunk_rows)
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    expected, expected_outside = ref.sensitivity_counts(
        [(weights, bias, relu)], key, samples, (0, 1), (0, 1), 6, 16, baseline=0.4, drop=True)
    assert 0 < outside == expected_outside
    assert_array_equal(counts, expected)


@given(counts=strategies.count_lists(), data=st.data())
def test_tallies_merge_exactly_in_any_order(counts, data):
    # The tallies of the parts, added in any order, give the tally of the whole and the
    # same sum(c log2 c) bit for bit; and that sum is the reference's.
    parts = data.draw(strategies.split_in_parts(counts))
    whole = CountSum.of_counts(np.array(counts))
    merged = CountSum()
    for part in parts:
        merged += CountSum.of_counts(np.array(part, dtype=np.int64))
    assert_array_equal(merged.small, whole.small)
    assert merged.c_log2_c() == whole.c_log2_c()
    assert whole.c_log2_c() == pytest.approx(
        math.fsum(c * math.log2(c) for c in counts), rel=1e-13)


# Two spans: 5 inputs at 4 bins (1024 cells, some met twice) and 9 outputs, whose 27-bit
# states go to a table; 3 inputs at 8 bins and 2 outputs, counted in a dense array.
PROPERTY_SPANS = {"table": (np.random.default_rng(21).uniform(-3, 3, size=(9, 5)), 4),
                  "dense": (np.random.default_rng(22).uniform(-6, 6, size=(2, 3)), 8)}
PROPERTY_SAMPLES = 2000


@functools.cache
def _property_baseline(name):
    weights, in_bins = PROPERTY_SPANS[name]
    counts = _counter(weights, PROPERTY_SAMPLES, 2**30, in_bins=in_bins).run()
    assert_reference_counts(counts, [weights], PROPERTY_SAMPLES, in_bins=in_bins)
    return counts


@given(name=st.sampled_from(sorted(PROPERTY_SPANS)), chunk_rows=st.integers(40, 2500),
       n_shards=st.integers(1, 5), passes=st.integers(1, 6), split_outputs=st.booleans())
def test_any_split_of_the_work_gives_the_same_counts(name, chunk_rows, n_shards, passes,
                                                    split_outputs):
    # Chunks of any size, any number of shards (threads) and passes over the regenerated
    # noise, with or without partitioning the output states: the counts of one plain run
    # (which equal the reference's). Chunks of at least 40 rows keep the 25 examples within
    # a few seconds (each chunk costs a round of kernel calls in every pass).
    weights, in_bins = PROPERTY_SPANS[name]
    counter = _counter(weights, PROPERTY_SAMPLES, 2**30, in_bins=in_bins,
                       chunk_rows=chunk_rows, n_shards=n_shards)
    assert_same_counts(counter._run(passes, split_outputs), _property_baseline(name))
