"""The streaming layer of fastei._sampling: memory plans, chunking and the checks on
what flows through a span (NaN outputs, user activations)."""

import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import fastei
from fastei import _rng
from fastei._sampling import (
    CHUNK_ROWS,
    CountSum,
    JointCounter,
    PreparedLayer,
    Span,
    _pair_information,
    budget_for,
    check_preactivation_bounds,
    format_bytes,
    pair_information,
    sensitivity_counts,
)
from fastei._validation import check_memory


def _span(weights, code=1, func=None, in_range=(0.0, 1.0), out_range=(0.0, 1.0), bins=8,
          first_layer=0):
    """A one-layer span built directly (sigmoid unless ``code`` says otherwise)."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    layer = PreparedLayer(weights, np.zeros(weights.shape[0]), code, func)
    return Span((layer,), weights.shape[1], weights.shape[0], in_range, out_range, bins, bins,
                False, first_layer)


# --- NaN ------------------------------------------------------------------------------

def test_nan_outputs_are_reported_not_binned():
    # Terms beyond float64 on both sides: inf - inf = NaN before the sigmoid.
    weights = np.array([[1e308, -1e308]])
    for call in (lambda: fastei.ei(weights, in_range=(0, 4), samples=1000),
                 lambda: fastei.ei_stratified(weights, in_range=(0, 4), cells=10,
                                              points_per_cell=100)):
        with pytest.raises(ValueError, match=r"^layer 0 gave \d+ NaN outputs: a "
                           r"pre-activation overflowed float64, so some weights") as info:
            call()
        assert "\n" not in str(info.value)


def test_nan_message_names_the_span():
    span = _span(np.ones((1, 1)), first_layer=2)
    with pytest.raises(ValueError, match="^layer 2 gave 1 NaN outputs"):
        span.bin_outputs(np.array([[0.5, np.nan]]))
    two = Span(span.layers * 2, 1, 1, (0.0, 1.0), (0.0, 1.0), 8, 8, False, 1)
    with pytest.raises(ValueError, match="^layers 1 to 2 gave 2 NaN outputs"):
        two.bin_outputs(np.full((1, 2), np.nan))


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
        span.forward(x)


def test_user_activation_results_are_cast_to_float64():
    span = _span(np.eye(2), code=-1, func=lambda z: (z > 0.5).astype(np.float32))
    y = span.forward(np.array([[0.25, 0.75], [0.75, 0.25]]))
    assert y.dtype == np.float64 and y.flags.c_contiguous
    np.testing.assert_array_equal(y, [[0.0, 1.0], [1.0, 0.0]])


def test_nan_at_an_infinite_input_is_left_to_the_binning():
    span = _span(np.eye(1), code=-1, func=lambda z: z / (1.0 + np.abs(z)), in_range=(-1, 1))
    with np.errstate(invalid="ignore"):
        y = span.forward(np.array([[np.inf, 0.5]]))
    assert np.isnan(y[0, 0]) and y[0, 1] == 0.5 / 1.5


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
    JointCounter(span, KEY, 1000, *nodes, True, None).run()  # load the kernels
    counter = JointCounter(span, KEY, samples, *nodes, True, budget)
    passes, split_outputs = counter.plan()
    assert (passes, split_outputs) == plan
    assert counter.chunk_rows < min(samples, CHUNK_ROWS)
    assert counter._buffer_bytes() + counter._table_bytes(passes, split_outputs) <= budget
    low, peak = _peak(counter.run)
    assert peak <= budget + CountSum.bookkeeping_bytes(counter.n_shards)
    full = JointCounter(span, KEY, samples, *nodes, True, None).run()
    assert full.passes == 1 and low.passes == passes
    assert low.information() == full.information()
    np.testing.assert_array_equal(low.pairs, full.pairs)
    for a, b in ((low.x, full.x), (low.y, full.y), (low.xy, full.xy)):
        np.testing.assert_array_equal(a.small, b.small)


def test_budget_that_does_not_hold_the_chunk_buffers_is_reported_with_one_that_does():
    span = _span(np.full((2, 200), 0.01))
    counter = JointCounter(span, KEY, 20_000, np.arange(200), np.arange(2), False, 2**20)
    with pytest.raises(MemoryError, match=r"^max_memory=1.05 MB does not even hold the chunk "
                       r"buffers of layer 0 \(200 -> 2\), 2.\d+ MB for 1024 rows; pass "
                       r"max_memory='\d\.?\d?MB' or more$"):
        counter.plan()
    with pytest.raises(MemoryError) as info:
        counter.run()
    budget = check_memory(_budget_message(info.value))
    JointCounter(span, KEY, 20_000, np.arange(200), np.arange(2), False, budget).run()


def test_budget_too_small_for_the_tables_with_every_pass_is_reported_with_one_that_does():
    # 4 input cells, each meeting many output states: the joint table must grow, whatever
    # the number of passes, and this budget leaves it no room.
    span = _span(np.random.default_rng(0).uniform(-9, 9, (8, 2)), bins=2)
    span = Span(span.layers, 2, 8, (0.0, 1.0), (0.0, 1.0), 2, 8, False)
    args = (span, KEY, 300, np.arange(2), np.arange(8), False)
    probe = JointCounter(*args, None, n_shards=1)
    budget = probe._buffer_bytes() + probe._table_bytes(1, False) + 100
    counter = JointCounter(*args, budget, n_shards=1)
    assert counter.plan() == (1, False)
    with pytest.raises(MemoryError, match=r"^max_memory=[\d.]+ kB is too small for the state "
                       r"tables of layer 0 \(2 -> 8\) even with 300 passes; pass "
                       r"max_memory='1.1MB'$") as info:
        counter.run()
    enough = JointCounter(*args, check_memory(_budget_message(info.value)), n_shards=1).run()
    assert enough.information() == probe.run().information()


def test_budget_below_tables_that_never_shrink_is_refused_by_the_plan():
    # 6 outputs at 8 bins are counted in a dense array of 2 MB, whatever the passes.
    span = _span(np.random.default_rng(0).uniform(-0.2, 0.2, (6, 25)))
    counter = JointCounter(span, KEY, 100_000, np.arange(25), np.arange(6), False, 2_500_000)
    with pytest.raises(MemoryError, match=r"^max_memory=2.5 MB is too small for the state "
                       r"tables of layer 0 \(25 -> 6\) even with 100000 passes; pass "
                       r"max_memory='\d+MB'$"):
        counter.plan()


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
