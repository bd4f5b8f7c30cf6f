"""The counting driver: chunks, passes, hash tables and memory plans give the reference's
counts, whatever the split of the work."""

import functools
import math
import re
import subprocess
import sys
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import fastei
from fastei import _kernels, _rng, _sampling
from fastei._sampling import (
    CHUNK_ROWS,
    PREFETCH_DISTANCE,
    SORT_ROW_BYTES,
    CountSum,
    JointPlan,
    PreparedLayer,
    Span,
    _pair_information,
    _Table,
    budget_for,
    check_preactivation_bounds,
    count_joint,
    format_bytes,
    key_layout,
    pair_information,
    plan_joint,
    sensitivity_counts,
)
from fastei._validation import check_memory

from . import reference as ref
from . import strategies
from .conftest import multiplicities, span_setup


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _plan(weights, samples, max_memory, in_bins=8, **kwargs):
    setup = span_setup(weights, in_bins=in_bins)
    return plan_joint(setup, _rng.stream_key(0, _rng.JOINT_STREAM), samples,
                      np.arange(setup.n_in), np.arange(setup.n_out), True, max_memory, **kwargs)


def assert_same_counts(got, expected):
    """Two JointCounts hold the same counts (and so the same bits)."""
    assert (got.n_valid, got.n_outside) == (expected.n_valid, expected.n_outside)
    for name in ("x", "y", "xy"):
        assert_array_equal(multiplicities(getattr(got, name)),
                           multiplicities(getattr(expected, name)))
    assert_array_equal(got.pairs, expected.pairs)
    assert got.information() == expected.information()


def assert_reference_counts(counts, weights, samples, in_bins=8, out_bins=8):
    """A span of sigmoid layers counted like the reference's joint stream of seed 0."""
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    layers = [(w, np.zeros(w.shape[0]), _sigmoid) for w in weights]
    xb, yb, _ = ref.joint_stream(layers, key, samples, (0, 1), (0, 1), in_bins, out_bins)
    for tally, states in ((counts.x, xb), (counts.y, yb), (counts.xy, np.hstack([xb, yb]))):
        assert_array_equal(multiplicities(tally), np.bincount(ref.state_counts(states)))


@pytest.mark.parametrize("n_in, n_out, sort_rows, budget, split_outputs", [
    (10, 3, False, 4, False),   # tables, passes over input cells
    (10, 12, False, 4, True),   # tables, output states split too
    (10, 3, True, 2, False),    # sorted rows, passes over input cells
    (5, 12, True, 3, True),     # sorted rows, output states (in a table) split too
])
def test_partitioned_low_memory_run_equals_unpartitioned(n_in, n_out, sort_rows, budget,
                                                         split_outputs):
    weights = np.random.default_rng(4).uniform(-2, 2, size=(n_out, n_in))
    full = count_joint(_plan(weights, 120_000, 2**30, sort_rows=False))
    assert full.passes == 1
    small = _plan(weights, 120_000, budget * 2**20, chunk_rows=5000, n_shards=3,
                  sort_rows=sort_rows)
    assert small.passes > 1 and small.split_outputs == split_outputs
    assert small.sort_rows == sort_rows
    low = count_joint(small)
    assert low.passes == small.passes
    assert_same_counts(low, full)


def test_narrow_joint_states_are_sorted_and_wide_ones_counted_in_tables():
    # One word holds 10 inputs and 3 outputs at 8 bins (39 bits), not 20 and 3 (69 bits);
    # sorting keeps every row, so a budget too small for the rows chooses tables.
    narrow, wide = (np.random.default_rng(1).uniform(-2, 2, size=(3, n)) for n in (10, 20))
    assert _plan(narrow, 120_000, 2**30).sort_rows
    assert not _plan(narrow, 120_000, 2 * 2**20, chunk_rows=5000).sort_rows
    assert not _plan(wide, 120_000, 2**30).sort_rows
    with pytest.raises(ValueError, match=r"^the joint states of layer 0 \(20 -> 3\) do not "
                                         r"fit in one word; count them in tables"):
        _plan(wide, 1000, 2**30, sort_rows=True)
    assert_same_counts(count_joint(_plan(narrow, 50_000, 2**30)),
                       count_joint(_plan(narrow, 50_000, 2**30, sort_rows=False)))


@pytest.mark.parametrize("in_bins, wanted, made", [
    (8, [1, 2, 3, 5, 6, 9, 40, 65], [1, 2, 4, 8, 8, 16, 64, 128]),
    (30, [2, 4, 7, 11, 16, 31], [2, 5, 10, 15, 30, 36]),
    (7, [3, 7, 8], [3, 7, 8])])
def test_pass_counts_split_input_cells_evenly_where_they_can(in_bins, wanted, made):
    # Passes are raised (at most doubled) to a divisor of in_bins**m, m prefix nodes, so
    # that each pass gets as many cells; a prime number of bins may leave them unequal.
    setup = span_setup(np.ones((2, 10)), in_bins=in_bins)
    plan = plan_joint(setup, np.uint64(0), 10, np.arange(10), np.arange(2), False, 2**30)
    assert [plan.balanced(p) for p in wanted] == made
    for passes in made:
        m = len(replace(plan, passes=passes).prefix_nodes())
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
    planned = count_joint(_plan(weights, 60_000, 2**30, chunk_rows=7000, n_shards=2,
                                sort_rows=False))
    assert {(record, words) for record, words, _ in grown} == {(3, 2)}  # the joint table
    assert_reference_counts(planned, [weights], 60_000)

    grown.clear()
    monkeypatch.setattr(JointPlan, "capacity", lambda plan, expected_states: 16)
    underestimated = count_joint(_plan(weights, 60_000, 2**30, chunk_rows=7000, n_shards=2,
                                       sort_rows=False))
    # cell table [count, cell, first output], joint table [count, cell, output], outputs
    assert {(record, words) for record, words, _ in grown} == {(3, 1), (3, 2), (2, 1)}
    assert max(capacity for _, _, capacity in grown) >= 1024  # grown many times over
    assert_same_counts(underestimated, planned)


def test_sorted_rows_beyond_the_plan_are_kept_or_sent_to_more_passes(monkeypatch):
    # A part that meets more rows than planned keeps them in a larger buffer; when the
    # budget has no room for it, the count starts again with more passes. Same counts.
    weights = np.random.default_rng(5).uniform(-9, 9, size=(8, 4))
    expected = count_joint(_plan(weights, 60_000, 2**30, sort_rows=True))
    assert_reference_counts(expected, [weights], 60_000)
    monkeypatch.setattr(JointPlan, "part_rows", lambda plan, passes: 1000)
    grown = count_joint(_plan(weights, 60_000, 2**30, chunk_rows=7000, sort_rows=True))
    assert grown.passes == 1
    assert_same_counts(grown, expected)
    tight = _plan(weights, 60_000, 2**30, chunk_rows=7000, sort_rows=True)
    tight = replace(tight, max_memory=tight.buffer_bytes() + tight.table_bytes(1, False)
                    + SORT_ROW_BYTES * 30_000)
    retried = count_joint(tight)
    assert retried.passes > 1
    assert_same_counts(retried, expected)


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
    _kernels.count_states(keys, hashes, valid, table.records, table.fill, table.limit, resume,
                          PREFETCH_DISTANCE)
    assert resume.min() == 3000
    distinct = len({tuple(row) for row in bins.T})
    assert table.fill.sum() == distinct
    bigger = table.grown()
    assert bigger.records.shape == (3, 4096, 1 + words)
    assert_array_equal(bigger.fill, table.fill)
    resume[:] = 0
    _kernels.count_states(keys, hashes, valid, bigger.records, bigger.fill, bigger.limit, resume,
                          PREFETCH_DISTANCE)
    assert_array_equal(bigger.fill, table.fill)
    assert sorted(bigger.records[..., 0][bigger.records[..., 0] > 0].tolist()) == sorted(
        (2 * table.records[..., 0][table.records[..., 0] > 0]).tolist())


def test_a_table_outgrowing_the_budget_is_counted_again_in_more_passes(monkeypatch):
    # 4 inputs at 4 bins (256 cells) and 12 outputs: almost every sample is a new joint
    # state, but the plan budgets only the 256 cells and the output states, so at 5 MB the
    # joint table outgrows the budget in the first attempt; the run starts again with
    # twice the passes and gives the counts of an unlimited run.
    weights = np.random.default_rng(4).uniform(-4, 4, size=(12, 4))
    unlimited = count_joint(_plan(weights, 100_000, 2**30, in_bins=4, chunk_rows=2000,
                                  n_shards=2))
    attempts = []
    original = _sampling._count_parts

    def spy(plan, executor, progress):
        attempts.append(plan.passes)
        return original(plan, executor, progress)

    monkeypatch.setattr(_sampling, "_count_parts", spy)
    plan = _plan(weights, 100_000, 5 * 10**6, in_bins=4, chunk_rows=2000, n_shards=2)
    result = count_joint(plan)
    assert plan.passes == 1 and attempts == [1, 2] and result.passes == 2
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
    counts = count_joint(_plan(weights, PROPERTY_SAMPLES, 2**30, in_bins=in_bins))
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
    plan = _plan(weights, PROPERTY_SAMPLES, 2**30, in_bins=in_bins, chunk_rows=chunk_rows,
                 n_shards=n_shards)
    plan = replace(plan, passes=passes, split_outputs=split_outputs)
    assert_same_counts(count_joint(plan), _property_baseline(name))


def _span(weights, code=1, func=None, in_range=(0.0, 1.0), out_range=(0.0, 1.0), bins=8,
          first_layer=0):
    """A one-layer span built directly (sigmoid unless ``code`` says otherwise)."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    layer = PreparedLayer(weights, np.zeros(weights.shape[0]), code, func)
    return Span((layer,), weights.shape[1], weights.shape[0], in_range, out_range, bins, bins,
                False, first_layer)


# --- NaN ------------------------------------------------------------------------------

def test_nan_outputs_are_reported_not_binned():
    # The first layer passes the static bound; the second sums terms beyond float64 on both
    # sides: inf - inf = NaN before its sigmoid.
    network = fastei.Network([fastei.Dense(np.eye(2), activation="linear"),
                              fastei.Dense([[1e308, -1e308]])])
    options = dict(span=(0, 1), in_range=(0, 4))
    for call in (lambda: fastei.ei(network, samples=1000, **options),
                 lambda: fastei.ei_stratified(network, cells=10, points_per_cell=100, **options)):
        with pytest.raises(ValueError, match=r"^layers 0 to 1 gave \d+ NaN outputs: a "
                           r"pre-activation overflowed float64, so some weights") as info:
            call()
        assert "\n" not in str(info.value)


def test_overflowing_first_layer_is_refused_before_sampling():
    with pytest.raises(ValueError, match=r"^layer 0: the pre-activation of output 0 can "
                                         r"overflow float64 \(sum \|w\| \* 4 \+ \|b\| is not"):
        fastei.ei(np.array([[1e308, -1e308]]), in_range=(0, 4), samples=1000)


def test_nan_message_names_the_span():
    span = _span(np.ones((1, 1)), first_layer=2)
    with pytest.raises(ValueError, match="^layer 2 gave 1 NaN outputs"):
        span.output_bins(np.array([[0.5, np.nan]]))
    two = Span(span.layers * 2, 1, 1, (0.0, 1.0), (0.0, 1.0), 8, 8, False, 1)
    with pytest.raises(ValueError, match="^layers 1 to 2 gave 2 NaN outputs"):
        two.output_bins(np.full((1, 2), np.nan))


def test_preactivation_bounds():
    check_preactivation_bounds(_span([[1e307, -1e307], [1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"^layer 3: the pre-activation of output 1 can "
                       r"overflow float64 \(sum \|w\| \* 1 \+ \|b\| is not finite\)"):
        check_preactivation_bounds(_span([[1.0, 2.0], [1e308, 1e308]], first_layer=3))
    with pytest.raises(ValueError, match=r"output 0 can overflow float64 \(sum \|w\| \* 4 "):
        check_preactivation_bounds(_span([[1e308]], in_range=(-4.0, 1.0)))


# --- user activations -------------------------------------------------------------------

_CHILD = """
import numpy as np, fastei
fastei.register_activation(fastei.Activation({name!r}, {func}, (0.0, 1.0)), replace=True)
network = fastei.Network.from_weights([np.full((3, 4), 0.5)], activation={name!r})
try:
    fastei.ei(network, samples=5000)
except ValueError as error:
    print(error)
"""


@pytest.mark.parametrize("name, func, match", [
    ("first_column", "lambda z: z[:, :1]", r"returned shape \(3, 1\) for input of shape \(3, "),
    ("first_row", "lambda z: z[:1]", r"returned shape \(1, \d+\) for input of shape \(3, "),
])
def test_wrong_shape_from_a_user_activation_is_an_error_not_a_crash(name, func, match):
    # Both used to reach the kernels: the first aborted the interpreter (free(): invalid
    # size), the second read memory past the array.
    child = subprocess.run([sys.executable, "-c", _CHILD.format(name=name, func=func)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    assert re.match(f"activation '{name}' {match}", child.stdout)
    assert "act element-wise" in child.stdout and child.stdout.count("\n") == 1


@pytest.mark.parametrize("func, match", [
    (lambda z: z.astype(np.complex128), "returned complex128 values; it must return real"),
    (lambda z: np.where(z > 0.7, np.nan, z), "returned NaN for the finite input 0.8;"),
    (lambda z: 0.5, r"returned shape \(\) for input of shape \(2, 3\)"),
])
def test_user_activation_results_are_checked(func, match):
    fastei.register_activation(fastei.Activation("checked_test", func, (0.0, 1.0)),
                               replace=True)
    span = _span(np.eye(2), code=-1, func=func)
    x = np.array([[0.1, 0.7, 0.8], [0.2, 0.3, 0.4]])
    with pytest.raises(ValueError, match=f"^activation 'checked_test' {match}"):
        span.output_bins(x)


def test_user_activation_results_are_cast_to_float64():
    span = _span(np.eye(2), code=-1, func=lambda z: (z > 0.5).astype(np.float32))
    bins, outside = span.output_bins(np.array([[0.25, 0.75], [0.75, 0.25]]))
    np.testing.assert_array_equal(bins, [[0, 7], [7, 0]])
    assert outside == 0


def test_nan_at_an_infinite_input_is_left_to_the_binning():
    # The activation's check passes NaN from an infinite input; the binning reports it.
    span = _span(np.eye(1), code=-1, func=lambda z: z / (1.0 + np.abs(z)), in_range=(-1, 1))
    with np.errstate(invalid="ignore"), pytest.raises(ValueError,
                                                      match="^layer 0 gave 1 NaN outputs"):
        span.output_bins(np.array([[np.inf, 0.5]]))


def test_inverse_of_a_user_activation_is_checked():
    from fastei._exact import ei_parts_matrix_exact
    from fastei.network import Dense

    bad = fastei.Activation("bad_inverse_test", lambda z: z, (0.0, 1.0),
                            inverse=lambda t: t[:2])
    with pytest.raises(ValueError, match=r"^inverse of activation 'bad_inverse_test' "
                       r"returned shape \(2,\) for input of shape \(9,\)"):
        ei_parts_matrix_exact(Dense(np.ones((1, 2)), None, bad), in_range=(0, 1),
                              out_range=(0, 1), in_bins=8, out_bins=8)


# --- memory ----------------------------------------------------------------------------

def _peak(call):
    """``call()`` and the peak of the memory NumPy and Python allocated during it."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _budget_message(error) -> str:
    """The budget a MemoryError suggests."""
    return re.search(r"pass max_memory='([0-9.]+[kMGT]B)'", str(error)).group(1)


KEY = _rng.stream_key(0, _rng.JOINT_STREAM)


@pytest.mark.parametrize("n_in, n_out, samples, budget, plan", [
    (200, 20, 20_000, 12_000_000, (1, False)),  # wide: the chunk shrinks
    (25, 6, 100_000, 6_000_000, (4, False)),    # many states: passes over input cells
    (10, 12, 30_000, 1_300_000, (3, True)),     # outputs partitioned too
])
def test_adaptive_chunks_and_passes_stay_within_the_budget_and_change_no_count(
        n_in, n_out, samples, budget, plan):
    span = _span(np.random.default_rng(n_in).uniform(-1, 1, (n_out, n_in)) / np.sqrt(n_in))
    nodes = np.arange(n_in), np.arange(n_out)
    count_joint(plan_joint(span, KEY, 1000, *nodes, True, None))  # load the kernels
    planned = plan_joint(span, KEY, samples, *nodes, True, budget)
    assert (planned.passes, planned.split_outputs) == plan
    assert planned.chunk_rows < min(samples, CHUNK_ROWS)
    assert planned.buffer_bytes() + planned.table_bytes(*plan) <= budget
    low, peak = _peak(lambda: count_joint(planned))
    assert peak <= budget + CountSum.bookkeeping_bytes(planned.n_shards)
    full = count_joint(plan_joint(span, KEY, samples, *nodes, True, None))
    assert full.passes == 1 and low.passes == planned.passes
    assert low.information() == full.information()
    np.testing.assert_array_equal(low.pairs, full.pairs)
    for a, b in ((low.x, full.x), (low.y, full.y), (low.xy, full.xy)):
        np.testing.assert_array_equal(a.small, b.small)


def test_budget_that_does_not_hold_the_chunk_buffers_is_reported_with_one_that_does():
    span = _span(np.full((2, 200), 0.01))
    args = (span, KEY, 20_000, np.arange(200), np.arange(2), False)
    with pytest.raises(MemoryError, match=r"^max_memory=1.05 MB does not even hold the chunk "
                       r"buffers of layer 0 \(200 -> 2\), 2.\d+ MB for 1024 rows; pass "
                       r"max_memory='\d\.?\d?MB' or more$") as info:
        plan_joint(*args, 2**20)
    count_joint(plan_joint(*args, check_memory(_budget_message(info.value))))


def test_budget_too_small_for_the_tables_with_every_pass_is_reported_with_one_that_does():
    # 4 input cells, each meeting many output states: the joint table must grow, whatever
    # the number of passes, and this budget leaves it no room.
    span = _span(np.random.default_rng(0).uniform(-9, 9, (8, 2)), bins=2)
    span = Span(span.layers, 2, 8, (0.0, 1.0), (0.0, 1.0), 2, 8, False)
    args = (span, KEY, 300, np.arange(2), np.arange(8), False)
    probe = plan_joint(*args, None, n_shards=1, sort_rows=False)
    budget = probe.buffer_bytes() + probe.table_bytes(1, False) + 100
    plan = plan_joint(*args, budget, n_shards=1, sort_rows=False)
    assert (plan.passes, plan.split_outputs) == (1, False)
    with pytest.raises(MemoryError, match=r"^max_memory=[\d.]+ kB is too small for the state "
                       r"tables of layer 0 \(2 -> 8\) even with 300 passes; pass "
                       r"max_memory='1.1MB'$") as info:
        count_joint(plan)
    enough = count_joint(plan_joint(*args, check_memory(_budget_message(info.value)),
                                    n_shards=1, sort_rows=False))
    assert enough.information() == count_joint(probe).information()


def test_budget_below_tables_that_never_shrink_is_refused_by_the_plan():
    # 6 outputs at 8 bins are counted in a dense array of 2 MB, whatever the passes.
    span = _span(np.random.default_rng(0).uniform(-0.2, 0.2, (6, 25)))
    with pytest.raises(MemoryError, match=r"^max_memory=2.5 MB is too small for the state "
                       r"tables of layer 0 \(25 -> 6\) even with 100000 passes; pass "
                       r"max_memory='\d+MB'$"):
        plan_joint(span, KEY, 100_000, np.arange(25), np.arange(6), False, 2_500_000)


def test_sensitivity_chunks_follow_the_budget_and_change_no_count():
    span = _span(np.random.default_rng(1).uniform(-0.2, 0.2, (30, 200)))
    sensitivity_counts(span, KEY, 10, 0.0)  # load the kernels
    (counts, outside), peak = _peak(lambda: sensitivity_counts(span, KEY, 500, 0.0,
                                                               max_memory=8_000_000))
    assert peak <= 8_000_000
    full, full_outside = sensitivity_counts(span, KEY, 500, 0.0)
    np.testing.assert_array_equal(counts, full)
    assert outside == full_outside
    with pytest.raises(MemoryError, match=r"^sensitivity of layer 0 \(200 -> 30\) in chunks "
                       r"of 5 x 200 rows needs about 4.98 MB, more than max_memory=4 MB; "
                       r"pass max_memory='5.5MB' or fewer bins$") as info:
        sensitivity_counts(span, KEY, 500, 0.0, max_memory=4_000_000)
    sensitivity_counts(span, KEY, 50, 0.0, max_memory=check_memory(_budget_message(info.value)))


def test_byte_counts_read_well():
    assert [format_bytes(n) for n in (512, 1234, 3.2e9)] == ["512 bytes", "1.23 kB", "3.2 GB"]
    assert [budget_for(n) for n in (10, 3.2e9, 1.07e6, 999e6)] == ["1.1MB", "3.6GB", "1.2MB",
                                                                   "1.1GB"]


def test_warmup_runs_its_forced_passes():
    # fastei.warmup forces passes with budgets of 25 and 65 kB and chunks of 100 rows:
    # the chunk buffers of its 3-input layers must fit in them.
    fastei.warmup()


def test_pair_information_block_by_block_is_the_whole_at_once():
    counts = np.random.default_rng(3).integers(0, 50, size=(70, 40, 8, 16))
    counts[0, 0] = 0
    counts[1, 2, :, 3:] = 0
    whole = _pair_information(counts.reshape(-1, 8, 16)).reshape(70, 40)
    blocks = pair_information(counts)
    assert blocks.shape == (70, 40) and whole[0, 0] == 0.0
    np.testing.assert_array_equal(blocks, whole)
