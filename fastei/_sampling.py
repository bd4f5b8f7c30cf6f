"""Streaming plug-in counting: noise in chunks through the span, counts in hash tables.

This module drives the kernels of :mod:`fastei._kernels`. It owns the chunk loop, the
hash tables and the memory plan: how many rows a chunk takes through the span, and how
many passes over the regenerated noise stream are needed, so that the chunk buffers and
the tables fit in the budget. Everything it returns is an integer count or an exact
function of counts, so results do not depend on the thread count, the chunk size or the
number of passes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numba
import numpy as np

from . import _kernels as K
from .activations import LINEAR_CODE, SIGMOID_CODE, TANH_CODE, apply_checked, name_of

CHUNK_ROWS = 1 << 16  # most rows per chunk
MIN_CHUNK_ROWS = 1024  # fewest rows per chunk a budget must hold (fewer would be slow)
CHUNK_SHARE = 0.25   # share of the budget a batch may take (tables and allocator slack: rest)
BLOCK_ROWS = 512     # rows per parallel task in the node-major kernels
INITIAL_CAPACITY = 64  # slots per shard of a table whose size cannot be foreseen
MAX_LOAD = 0.75      # a shard's table grows past this fill
PLANNED_LOAD = 0.6   # tables are sized for this fill of the expected states
SMALL_COUNT = 4096   # counts up to this are tallied in a dense histogram
SCAN_FACTOR = 8      # a pass scans up to this many chunks' rows to select one chunk's
# activations whose outputs are binned from their pre-activations (see Span.output_bins)
THRESHOLD_CODES = (SIGMOID_CODE, TANH_CODE)
DENSE_STATE_BITS = 20  # output keys this narrow are counted in a dense array, not a table
PREFETCH_DISTANCE = 16  # rows ahead whose home slot is prefetched while inserting
PAIR_GROUP_BYTES = 1 << 16  # most bytes of an input's histogram against a group of outputs
SORT_BLOCKS = 16     # blocks of rows a radix sort pass moves in parallel
SORT_ROW_BYTES = 16  # a sorted row's joint key and its sort scratch


@dataclass(frozen=True)
class PreparedLayer:
    """One layer in the form the kernels take.

    A dense layer gives its weight matrix. A layer with its own linear map (a
    convolution) gives ``forward(h, out)``, which writes the activation of kernel
    ``code`` of the map's outputs for node-major inputs ``h`` into ``out`` (``n_out``
    rows); its ``weights`` and ``bias`` then hold one row and one entry per group of
    outputs sharing them (a convolution's channels), which bound every pre-activation.
    """

    weights: np.ndarray    # (n_out, n_in), C-contiguous; see above for ``forward``
    bias: np.ndarray       # (n_out,), zeros when the layer has none
    code: int              # kernel activation code; -1: apply ``func`` in NumPy
    func: object           # the activation's NumPy function, for user activations
    name: str = ""         # the activation's name, for messages (default: looked up)
    forward: object = None  # the layer's own ``forward(h, out)``; None: dense weights
    n_out: int = 0         # outputs (default: rows of ``weights``)

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", name_of(self.func))
        if not self.n_out:
            object.__setattr__(self, "n_out", self.weights.shape[0])

    def apply(self, h: np.ndarray, out: np.ndarray) -> None:
        """Write the layer's outputs for node-major inputs ``h`` into ``out`` (activation
        of kernel ``code`` applied; a user activation is left to the caller)."""
        if self.forward is None:
            K.dense_forward(h, self.weights, self.bias, self.code, BLOCK_ROWS, out)
        else:
            self.forward(h, out)


@dataclass(frozen=True)
class Span:
    """A validated span with its intervention and binning settings."""

    layers: tuple[PreparedLayer, ...]
    n_in: int
    n_out: int
    in_range: tuple[float, float]
    out_range: tuple[float, float]
    in_bins: int
    out_bins: int
    drop: bool
    first_layer: int = 0   # index of the span's first layer in the network, for messages

    @property
    def name(self) -> str:
        """The span's layers, as messages name them ("layer 2", "layers 0 to 3")."""
        last = self.first_layer + len(self.layers) - 1
        if last == self.first_layer:
            return f"layer {last}"
        return f"layers {self.first_layer} to {last}"

    @property
    def description(self) -> str:
        """The span's layers and widths, e.g. "layer 0 (784 -> 100)"."""
        return f"{self.name} ({self.n_in} -> {self.n_out})"

    def forward_bytes(self) -> int:
        """Bytes per row that :meth:`output_bins` allocates: every
        layer's outputs (three arrays for a user activation: pre-activations, its result
        and the float64 copy) and the output bins."""
        widths = sum(layer.n_out * (1 if layer.code >= 0 else 3)
                     for layer in self.layers)
        return 8 * widths + 2 * self.n_out

    def row_bytes(self) -> int:
        """Bytes per joint-stream row a chunk holds through the span: the input noise and
        its bins (:meth:`noise`), then :meth:`forward_bytes`."""
        return 10 * self.n_in + self.forward_bytes()

    def output_bins(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Bins ``(n_out, n)`` of the span's outputs for node-major inputs ``x`` of shape
        ``(n_in, n)``, and the number of output values outside ``out_range``.

        A sigmoid or tanh last layer is binned from its pre-activations by
        :meth:`preactivation_thresholds`, without evaluating the activation.

        Raises
        ------
        ValueError
            If an output is NaN, or a user activation returns a wrong array (see
            :func:`fastei.activations.apply_checked`).
        """
        return self._output_bins(x, 0)

    def noise_output_bins(self, key, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The bins of the input noise of the given rows of stream ``key`` (as
        :meth:`noise`), and :meth:`output_bins` of that noise. A dense first layer with a
        built-in activation takes the noise a block of rows at a time as it is drawn
        (:func:`fastei._kernels.noise_forward`), so the noise itself is never stored."""
        first = self.layers[0]
        if first.forward is not None or first.code < 0:
            x, x_bins = self.noise(key, rows)
            return (x_bins, *self.output_bins(x))
        x_bins = np.empty((self.n_in, rows.size), dtype=np.int16)
        h = np.empty((first.n_out, rows.size))
        K.noise_forward(key, rows, *self.in_range, self.in_bins, x_bins, first.weights,
                        first.bias, self._kernel_code(0), BLOCK_ROWS, h)
        return (x_bins, *self._output_bins(h, 1))

    def _kernel_code(self, index: int) -> int:
        """The activation code layer ``index`` is computed with: none (pre-activations)
        for a last layer binned by :meth:`preactivation_thresholds`."""
        last = index == len(self.layers) - 1
        if last and self.preactivation_thresholds is not None:
            return LINEAR_CODE
        return self.layers[index].code

    def _output_bins(self, h: np.ndarray, first: int) -> tuple[np.ndarray, int]:
        """:meth:`output_bins` from ``h``, the outputs of the layers before ``first``."""
        for index in range(first, len(self.layers)):
            layer = self.layers[index]
            out = np.empty((layer.n_out, h.shape[1]))
            if self._kernel_code(index) != layer.code:
                K.dense_forward(h, layer.weights, layer.bias, LINEAR_CODE, BLOCK_ROWS, out)
            else:
                layer.apply(h, out)
            if layer.code < 0:
                out = apply_checked(layer.func, out, layer.name)
            h = out
        bins = np.empty(h.shape, dtype=np.int16)
        thresholds = self.preactivation_thresholds
        if thresholds is None:
            outside, nan = K.bin_values(h, *self.out_range, self.out_bins, self.drop, bins)
        else:
            edges, low, high = thresholds
            outside, nan = K.bin_values(h, low, high, self.out_bins, self.drop, bins, edges)
        if nan:
            raise ValueError(
                f"{self.name} gave {nan} NaN outputs: a pre-activation overflowed float64, "
                "so some weights are too large; rescale them"
            )
        return bins, int(outside)

    @functools.cached_property
    def preactivation_thresholds(self) -> tuple[np.ndarray, float, float] | None:
        """Where the last layer's activation moves its output to the next bin, and out of
        the output range: ``(thresholds, low, high)`` (see
        :func:`fastei._kernels.bin_values`); None unless the last layer is
        dense with a sigmoid or tanh.

        Each is the smallest double pre-activation ``z`` at which the kernel's own
        activation and binning give a bin at least ``k`` (``k = 1 .. out_bins - 1``),
        an output at least the range's low end, or one above its high end, found by
        bisection over the doubles in order. The activation is non-decreasing, so the
        bins are those of the activation's values; no exp or tanh is computed per row.
        """
        last = self.layers[-1]
        if last.forward is not None or last.code not in THRESHOLD_CODES:
            return None
        lo, hi = self.out_range

        def holds(z):  # each predicate at its own pre-activation
            values = z.copy()
            K.activate(values, last.code, np.empty((2, values.size), np.int64))
            bins = np.empty((1, values.size), np.int16)
            K.bin_values(values[None], lo, hi, self.out_bins, False, bins)
            return np.concatenate([bins[0, :-2] >= np.arange(1, self.out_bins),
                                   [values[-2] >= lo, values[-1] > hi]])

        edges = _smallest_where(holds, self.out_bins + 1)
        return edges[:-2], float(edges[-2]), float(edges[-1])

    def noise(self, key, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Input noise ``(n_in, len(rows))`` of the given sample rows of stream ``key``,
        and its bins."""
        x = np.empty((self.n_in, rows.size))
        bins = np.empty(x.shape, dtype=np.int16)
        K.fill_uniform(key, rows, self.n_in, np.arange(self.n_in, dtype=np.int64),
                       *self.in_range, BLOCK_ROWS, x, self.in_bins, bins)
        return x, bins


_SIGN = np.int64(-(2**63))


def _ordered(z: np.ndarray) -> np.ndarray:
    """Integers in the order of the doubles ``z`` (``-0.0`` and ``0.0`` both give 0)."""
    bits = z.view(np.int64)
    return np.where(bits >= 0, bits, -(bits & ~_SIGN))


def _double(ordered: np.ndarray) -> np.ndarray:
    """The doubles of :func:`_ordered` integers."""
    return np.where(ordered >= 0, ordered, (-ordered) | _SIGN).view(np.float64)


def _smallest_where(holds, n: int) -> np.ndarray:
    """For ``n`` predicates that are false below and true from some double on, the
    smallest double where each holds (``-inf`` if it holds everywhere, NaN if nowhere).
    ``holds(z)`` evaluates predicate ``i`` at ``z[i]`` for an array of ``n`` doubles."""
    low = _ordered(np.full(n, -np.inf))
    high = _ordered(np.full(n, np.inf))
    everywhere = holds(_double(low))
    nowhere = ~holds(_double(high))
    while np.any(low + 1 < high):  # low fails, high holds
        middle = (low >> 1) + (high >> 1) + (low & high & 1)  # no overflow
        ok = holds(_double(middle))
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
    edges = _double(high)
    edges[everywhere] = -np.inf
    edges[nowhere] = np.nan
    return edges


def format_bytes(n: float) -> str:
    """``n`` bytes in decimal units, to three significant digits ("3.2 GB")."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def budget_for(n: float) -> str:
    """A ``max_memory`` string 10 % above ``n`` bytes (at least 1 MiB), rounded up to two
    significant digits, e.g. ``'3.6GB'``."""
    n = max(1.1 * n, 2**20)
    unit, size = next((u, z) for u, z in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6))
                      if n >= z or u == "MB")
    step = 10.0 ** (math.floor(math.log10(n / size)) - 1)
    return f"{math.ceil(n / size / step) * step:g}{unit}"


def batch_size(max_memory, fixed: float, item_bytes: float, most: int, fewest: int) -> int:
    """Items per batch: at most ``most`` (and at least ``fewest``), and no more than
    ``CHUNK_SHARE`` of what ``max_memory`` leaves after ``fixed`` bytes holds at
    ``item_bytes`` each (``None``: no budget)."""
    if max_memory is None or max_memory == math.inf:
        return most
    fit = int(CHUNK_SHARE * (max_memory - fixed) // item_bytes)
    return max(min(most, fewest), min(most, fit))


def check_budget(needed: float, max_memory, what: str, remedy: str) -> None:
    """Raise ``MemoryError`` before ``what`` allocates ``needed`` bytes beyond ``max_memory``
    (``None``: no budget), naming a budget that would do or the ``remedy``."""
    if max_memory is not None and needed > max_memory:
        raise MemoryError(
            f"{what} needs about {format_bytes(needed)}, more than max_memory="
            f"{format_bytes(max_memory)}; pass max_memory={budget_for(needed)!r} or {remedy}"
        )


def check_preactivation_bounds(span: Span) -> None:
    """Raise if a pre-activation of the span's first layer can overflow float64.

    Output ``i`` is bounded by ``sum_j |w_ij| * max(|lo|, |hi|) + |b_i|`` over the
    intervention range ``(lo, hi)``; when that bound is finite no sum of the layer
    overflows. A cheap check before sampling; NaN outputs are caught while binning too.

    Raises
    ------
    ValueError
        If the bound of an output is not finite.
    """
    layer = span.layers[0]
    check_finite_preactivations(layer.weights, layer.bias, span.in_range,
                                f"layer {span.first_layer}")


def check_finite_preactivations(weights, bias, in_range, name: str) -> None:
    """:func:`check_preactivation_bounds` of a layer given by its arrays; ``name`` names
    it in the message."""
    reach = max(abs(v) for v in in_range)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = np.abs(weights).sum(axis=1) * reach + np.abs(bias)
    overflowing = np.flatnonzero(~np.isfinite(bound))
    if overflowing.size:
        raise ValueError(
            f"{name}: the pre-activation of output {overflowing[0]} can overflow float64 "
            f"(sum |w| * {reach:g} + |b| is not finite), so its weights are too large; "
            "rescale them or narrow in_range"
        )


class CountSum:
    """Exact tally of a multiset of counts, for ``sum(c * log2(c))``.

    Multiplicities of small counts are kept as integers and large counts as values, so
    partial tallies from separate passes or sample blocks merge exactly and the final
    sum (``math.fsum``, correctly rounded) does not depend on how the work was split.
    """

    def __init__(self):
        self.small = np.zeros(SMALL_COUNT + 1, dtype=np.int64)
        self.large: list[np.ndarray] = []

    @classmethod
    def of_table(cls, table: _Table, total: int, clear: bool = False) -> tuple[CountSum, CountSum]:
        """Tallies of the unmixed and of the mixed entries of a hash table whose counts
        sum to at most ``total`` (a plain state table has no mixed entries); with
        ``clear`` the table is left empty, ready for reuse."""
        n_shards, capacity, _ = table.records.shape
        small = np.zeros((n_shards, 2, SMALL_COUNT + 1), dtype=np.int64)
        large = np.zeros((n_shards, 2, min(capacity, total // SMALL_COUNT + 1)), dtype=np.int64)
        n_large = np.zeros((n_shards, 2), dtype=np.int64)
        K.tally_counts(table.records, clear, small, large, n_large)
        if clear:
            table.fill[:] = 0
        tallies = (cls(), cls())
        for u, tally in enumerate(tallies):
            tally.small += small[:, u].sum(axis=0)
            tally.large.extend(large[s, u, :n_large[s, u]].copy() for s in range(n_shards)
                               if n_large[s, u])
        return tallies

    @classmethod
    def of_sorted(cls, keys: np.ndarray, shift: int) -> tuple[CountSum, CountSum]:
        """Tallies of the states ``keys >> shift`` and of the states ``keys`` (sorted in
        place here): the input cells and the joint states of joint keys."""
        K.radix_sort(keys, int(keys.max()).bit_length() if keys.size else 0, SORT_BLOCKS,
                     np.empty_like(keys))
        small = np.zeros((2, SMALL_COUNT + 1), dtype=np.int64)
        large = np.zeros((2, keys.size // SMALL_COUNT + 1), dtype=np.int64)
        n_large = K.tally_sorted_runs(keys, shift, small, large)
        tallies = (cls(), cls())
        for u, tally in enumerate(tallies):
            tally.small += small[u]
            if n_large[u]:
                tally.large.append(large[u, :n_large[u]].copy())
        return tallies

    @staticmethod
    def bookkeeping_bytes(n_shards: int) -> int:
        """Most bytes of the dense small-count histograms that tallies over ``n_shards``
        shards hold at once (the scratch of :meth:`of_table`, a few tallies and sums)."""
        return 8 * (SMALL_COUNT + 1) * (2 * n_shards + 8)

    @staticmethod
    def scratch_bytes(total: int, n_shards: int) -> int:
        """Most bytes the large counts of tallies over ``total`` samples take: the scratch
        of :meth:`of_table` and the counts kept by three tallies."""
        return (16 * n_shards + 24) * (total // SMALL_COUNT + 1)

    @classmethod
    def of_counts(cls, counts: np.ndarray) -> CountSum:
        """Tally of the counts in a dense array (zeros are not states), a block at a time
        so that the temporaries stay small."""
        tally = cls()
        for start in range(0, counts.size, CHUNK_ROWS):
            block = counts[start:start + CHUNK_ROWS]
            tally.small += np.bincount(block[block <= SMALL_COUNT], minlength=SMALL_COUNT + 1)
            large = block[block > SMALL_COUNT]
            if large.size:
                tally.large.append(large)
        tally.small[0] = 0
        return tally

    def __iadd__(self, other: CountSum) -> CountSum:
        self.small += other.small
        self.large.extend(other.large)
        return self

    def c_log2_c(self) -> float:
        """``sum(c * log2(c))`` over the tallied counts."""
        c = np.arange(2, SMALL_COUNT + 1, dtype=np.float64)
        terms = (self.small[2:] * (c * np.log2(c))).tolist()
        for values in self.large:
            v = values.astype(np.float64)
            terms.extend((v * np.log2(v)).tolist())
        return math.fsum(terms)


def mutual_information(n: int, x: CountSum, y: CountSum, xy: CountSum) -> float:
    """Plug-in ``I(X; Y)`` in bits from the count tallies of ``n`` samples."""
    if n == 0:
        return 0.0
    return max(0.0, math.log2(n) + (xy.c_log2_c() - x.c_log2_c() - y.c_log2_c()) / n)


def pair_information(counts: np.ndarray) -> np.ndarray:
    """Plug-in mutual information in bits of each 2-D histogram ``counts[..., bx, by]``.

    Summed term by term, ``p(x, y) log2(p(x, y) / (p(x) p(y)))``, so independent
    variables give exactly 0. The histograms go through a block at a time (about
    ``CHUNK_ROWS`` cells), so that the temporaries stay small next to ``counts``.
    """
    histograms = counts.reshape(-1, *counts.shape[-2:])
    block = max(1, CHUNK_ROWS // (counts.shape[-2] * counts.shape[-1]))
    bits = np.empty(histograms.shape[0])
    for start in range(0, bits.size, block):
        bits[start:start + block] = _pair_information(histograms[start:start + block])
    return bits.reshape(counts.shape[:-2])


def _pair_information(counts: np.ndarray) -> np.ndarray:
    """:func:`pair_information` of a block of histograms ``(k, bx, by)``."""
    counts = counts.astype(np.float64)
    n = counts.sum(axis=(-2, -1), keepdims=True)
    px = counts.sum(axis=-1, keepdims=True)
    py = counts.sum(axis=-2, keepdims=True)
    positive = counts > 0
    ratio = np.where(positive, counts * n, 1.0) / np.where(positive, px * py, 1.0)
    terms = np.where(positive, counts * np.log2(ratio), 0.0)
    safe_n = np.where(n[..., 0, 0] > 0, n[..., 0, 0], 1.0)
    return np.maximum(terms.sum(axis=(-2, -1)) / safe_n, 0.0)


def output_group(span: Span, rows: int) -> int:
    """Outputs whose pair histograms one increment counts together (see
    :func:`fastei._kernels.pair_counts`): as many as keep an input's histogram within
    ``PAIR_GROUP_BYTES`` and its sweep at most a quarter of the ``rows`` counted."""
    group, radix = 1, span.out_bins + 1
    while (group < span.n_out
           and 8 * span.in_bins * radix ** (group + 1) <= min(PAIR_GROUP_BYTES, 2 * rows)):
        group += 1
    return group


def count_pairs(span: Span, x_bins: np.ndarray, y_bins: np.ndarray, counts: np.ndarray) -> None:
    """Add a chunk's (input, output) pair histograms to ``counts``; see
    :func:`fastei._kernels.pair_counts`."""
    group = output_group(span, x_bins.shape[1])
    codes = np.empty((-(-span.n_out // group), x_bins.shape[1]), np.int64)
    K.output_group_codes(y_bins, group, span.out_bins + 1, codes)
    K.pair_counts(x_bins, codes, group, counts)


def key_layout(n_nodes: int, n_bins: int) -> tuple[int, int, bool]:
    """Bits per bin, words per key and whether keys are hashed (wider than 128 bits)."""
    bits = max(1, (n_bins - 1).bit_length())
    total = bits * n_nodes
    return bits, (1 if total <= 64 else 2), total > 128


class _TableBudgetExceeded(Exception):
    """A table would outgrow the memory plan; the caller retries with more passes."""


@dataclass
class _Table:
    """A sharded open-addressing hash table of records ``[count, key..., payload...]``."""

    records: np.ndarray  # (n_shards, capacity, record) uint64
    fill: np.ndarray     # (n_shards,) int64
    key_words: int
    split: int           # first output word of a joint key; key_words for plain states

    @classmethod
    def empty(cls, n_shards, capacity, record, key_words, split):
        return cls(np.zeros((n_shards, capacity, record), dtype=np.uint64),
                   np.zeros(n_shards, dtype=np.int64), key_words, split)

    @property
    def nbytes(self) -> int:
        return self.records.nbytes

    @property
    def limit(self) -> int:
        return int(self.records.shape[1] * MAX_LOAD)

    def grown(self) -> _Table:
        n_shards, capacity, record = self.records.shape
        new = _Table.empty(n_shards, 2 * capacity, record, self.key_words, self.split)
        K.rehash(self.records, self.key_words, self.split, new.records, new.fill)
        return new


@dataclass
class JointCounts:
    """Tallies of one joint stream over ``(A inputs, B outputs)`` plus pairwise counts."""

    n_valid: int
    n_outside: int
    x: CountSum | None
    y: CountSum | None
    xy: CountSum | None
    pairs: np.ndarray | None
    passes: int

    def information(self) -> float:
        return mutual_information(self.n_valid, self.x, self.y, self.xy)


@dataclass
class PartCounts:
    """What one part of a :class:`JointPlan` counted; :class:`JointMerge` adds the parts.

    ``x`` and ``xy`` tally the input cells of the part (complete: every row of those
    cells is in it); ``y`` tallies its share of the output states when they are split
    by hash; ``outputs`` holds the part's own output-state counts when they are not
    split (None when it counted into shared ones): a table, or the indices and counts
    of the nonzero entries of a dense array (a few kB to send instead of up to 8 MB);
    ``pairs`` and the row counts come from the parts that read each row once.
    """

    n_valid: int = 0
    n_outside: int = 0
    x: CountSum | None = None
    xy: CountSum | None = None
    y: CountSum | None = None
    outputs: _Table | tuple[np.ndarray, np.ndarray] | None = None
    pairs: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class JointPlan:
    """A frozen plan of one count of a span's joint stream, split into ``passes`` parts.

    With joint states (``inputs`` given) part ``p`` takes the rows whose input cell
    falls in the ``p``-th share of the cells (chosen by the bins of the first inputs),
    so its cell and joint tallies are complete. With ``sort_rows`` it keeps each row's
    joint state as one word and counts the states by sorting them (see
    :meth:`CountSum.of_sorted`), else in hash tables. With ``split_outputs`` it also counts
    the output states whose hash falls in share ``p``, reading every row. Without joint
    states (pair histograms only) part ``p`` is the ``p``-th block of rows. Each part is
    counted by :func:`count_part` alone, anywhere; :class:`JointMerge` adds them. The
    counts, so the value, do not depend on the number of parts, chunk rows or shards.
    Build one with :func:`plan_joint`.

    Parameters
    ----------
    span : Span
    key : numpy.uint64
        Noise stream key.
    samples : int
    inputs, outputs : ndarray of int64 or None
        Nodes whose joint states are counted (``None``: no joint counting).
    pairs : bool
        Also accumulate the (input, output) pair histograms for EI_parts.
    max_memory : float
        Byte budget of one part (``math.inf``: none) for everything the count allocates
        that grows with the span, the samples or the bins: the chunk buffers (noise,
        bins, every layer's outputs, keys, hashes, masks, a pass's scan), the pair
        histograms, the tables with the headroom to grow them, and the large counts of
        the tallies. Left out: the histograms of small counts, a fixed size
        (``CountSum.bookkeeping_bytes``, 390 kB with 2 shards).
    chunk_rows : int
        Most rows per chunk.
    n_shards : int
        Hash-table shards (by default the thread count of the planning process).
    passes : int
        Number of parts.
    split_outputs : bool
        Whether output states are split among the parts too.
    sort_rows : bool
        Whether joint states are counted by sorting (they must fit in one word).
    """

    span: Span
    key: np.uint64
    samples: int
    inputs: np.ndarray | None
    outputs: np.ndarray | None
    pairs: bool
    max_memory: float
    chunk_rows: int
    n_shards: int
    passes: int = 1
    split_outputs: bool = False
    sort_rows: bool = False

    @property
    def joint(self) -> bool:
        return self.inputs is not None

    @property
    def sortable(self) -> bool:
        """Whether a row's input cell and output state fit in one word together."""
        x_bits, _, x_hashed, y_bits, _, y_hashed = self._keys
        return (self.joint and not x_hashed and not y_hashed
                and x_bits * len(self.inputs) + y_bits * len(self.outputs) <= 64)

    @property
    def output_bits(self) -> int:
        """Bits of an output-state key (the low bits of a joint key)."""
        return self._keys[3] * len(self.outputs)

    @functools.cached_property
    def _keys(self) -> tuple[int, int, bool, int, int, bool]:
        return (*key_layout(len(self.inputs), self.span.in_bins),
                *key_layout(len(self.outputs), self.span.out_bins))

    @property
    def wx(self) -> int:
        return self._keys[1]

    @property
    def wy(self) -> int:
        return self._keys[4]

    @property
    def dense_outputs(self) -> bool:
        """Whether output states are counted in a dense array (narrow keys)."""
        _, _, _, y_bits, _, y_hashed = self._keys
        return not y_hashed and y_bits * len(self.outputs) <= DENSE_STATE_BITS

    # ------------------------------------------------------------------ planning
    def planned(self, least_passes: int = 1, sort_rows: bool | None = None) -> JointPlan:
        """This plan with the fewest passes (at least ``least_passes``) whose tables fit.

        Joint states are sorted when ``sort_rows`` (they must fit in one word), counted
        in tables when it is False, and by default sorted when they fit in one word and
        the rows of ``least_passes`` parts fit in the budget (sorting reads memory in
        order, where tables probe it at random, but keeps every row, not every state).

        Raises
        ------
        MemoryError
            When the budget does not hold the chunk buffers.
        ValueError
            When ``sort_rows`` is asked for joint states wider than a word.
        """
        buffers = self.buffer_bytes()
        if buffers > self.max_memory:
            raise MemoryError(
                f"max_memory={format_bytes(self.max_memory)} does not even hold the chunk "
                f"buffers of {self.span.description}, {format_bytes(buffers)} for "
                f"{self.chunk_rows} rows; pass max_memory={budget_for(2 * buffers)!r} or more"
            )
        least = min(least_passes, max(1, self.samples))
        if not self.joint:
            return replace(self, passes=least, split_outputs=False)
        if sort_rows and not self.sortable:
            raise ValueError(f"the joint states of {self.span.description} do not fit in one "
                             f"word; count them in tables (sort_rows=False)")
        budget = self.max_memory - buffers
        sorting = replace(self, sort_rows=True)
        if sort_rows is None:
            sort_rows = self.sortable and sorting.table_bytes(least, False) <= budget
        return (sorting if sort_rows else self)._passes_within(budget, least)

    def _passes_within(self, budget, least) -> JointPlan:
        """This plan with the fewest passes, at least ``least``, whose tables (or kept
        rows) fit in ``budget`` bytes, and whether to split the output states too."""
        if self.table_bytes(least, False) <= budget:
            return replace(self, passes=least, split_outputs=False)
        x_bytes, y_bytes = self._cell_bytes(1), self._output_bytes(1)
        split_outputs = y_bytes > budget / 2
        if split_outputs:
            passes = math.ceil((x_bytes + y_bytes) / budget)
        else:
            passes = self.balanced(math.ceil(x_bytes / (budget - y_bytes)))
        passes = max(passes, least)
        # the estimate above is linear; tables also have slack and parts that never shrink
        while self.table_bytes(passes, split_outputs) > budget:
            if passes > self.samples:
                raise self.too_small(self.samples)
            passes = max(passes + 1, passes * 9 // 8)
            passes = passes if split_outputs else self.balanced(passes)
        return replace(self, passes=passes, split_outputs=split_outputs)

    def retried(self, role: str) -> JointPlan:
        """The plan after a table of ``role`` outgrew the budget: twice the passes.

        Raises
        ------
        MemoryError
            When there would be more passes than samples.
        """
        split_outputs = self.split_outputs or role == "outputs"
        passes = 2 * self.passes if split_outputs else self.balanced(2 * self.passes)
        if passes > max(1, self.samples):
            raise self.too_small(self.samples)
        return replace(self, passes=passes, split_outputs=split_outputs)

    def separable(self) -> JointPlan:
        """This plan with parts that need no shared table: output states that a table
        (not a dense array) counts are split among several parts."""
        if self.joint and self.passes > 1 and not self.dense_outputs:
            return replace(self, split_outputs=True)
        return self

    def part_result_bytes(self) -> int:
        """Most bytes a part's result takes, besides its large counts: pair histograms,
        dense output counts and the small-count histograms of three tallies."""
        span = self.span
        pairs = 8 * span.n_in * span.n_out * span.in_bins * span.out_bins if self.pairs else 0
        outputs = self._output_bytes(1) if self.joint and self.dense_outputs else 0
        return pairs + outputs + 3 * 8 * (SMALL_COUNT + 1)

    def row_bytes(self) -> int:
        """Bytes per chunk row: the span's arrays, the row numbers and flags of a pass's
        scan of up to ``SCAN_FACTOR`` chunks' rows, the output group codes of pair counts
        and, for joint counts, the keys, hashes, flags, partitions, masks and each shard's
        list of its rows."""
        row = self.span.row_bytes() + 9 * SCAN_FACTOR
        if self.pairs:
            row += 8 * self.span.n_out
        if self.joint:
            row += 8 * (self.wx + self.wy) + 16 + 2 + 20 + 8 * self.n_shards
        return row

    def fixed_bytes(self) -> int:
        """Bytes that do not grow with the chunk: pair histograms and tally scratch."""
        span = self.span
        pairs = 8 * span.n_in * span.n_out * span.in_bins * span.out_bins if self.pairs else 0
        return pairs + CountSum.scratch_bytes(self.samples, self.n_shards)

    def buffer_bytes(self) -> int:
        return self.fixed_bytes() + self.row_bytes() * self.chunk_rows

    def table_bytes(self, passes, split_outputs) -> int:
        """Bytes of the tables of a pass as they are first made (joint table included),
        or of its sorted rows."""
        record = 1 + self.wx + self.wy
        joint = 0 if self.sort_rows else 8 * record * self.n_shards * INITIAL_CAPACITY
        return (self._cell_bytes(passes) + joint
                + self._output_bytes(passes if split_outputs else 1))

    def _cell_bytes(self, passes) -> int:
        if self.sort_rows:
            return SORT_ROW_BYTES * self.part_rows(passes)
        return self._records_bytes(self._cell_states() / passes, 1 + self.wx + self.wy)

    def part_rows(self, passes) -> int:
        """Rows a part keeps for sorting: its share of the samples, with room for the
        chance excess of a pass's cells (four standard deviations)."""
        share = self.samples / passes
        return int(share + 4 * math.sqrt(share) + 64)

    def _output_bytes(self, passes) -> int:
        if self.dense_outputs:
            return 8 << (self._keys[3] * len(self.outputs))
        return self._records_bytes(self._output_states() / passes, 1 + self.wy)

    def _records_bytes(self, expected_states, record) -> int:
        return 8 * record * self.n_shards * self.capacity(expected_states)

    def _cell_states(self) -> int:
        return min(self.samples, self.span.in_bins ** len(self.inputs))

    def _output_states(self) -> int:
        return min(self.samples, self.span.out_bins ** len(self.outputs))

    def too_small(self, passes) -> MemoryError:
        """The error for a budget whose tables do not fit even in ``passes`` passes; it
        names a budget that fits one pass with room for the joint table to grow to a
        state per sample (three times its planned size: the old and the new table)."""
        joint_states = min(self.samples, self._cell_states() * self._output_states())
        needed = (self.buffer_bytes() + self.table_bytes(1, False)
                  + 3 * self._records_bytes(joint_states, 1 + self.wx + self.wy))
        return MemoryError(
            f"max_memory={format_bytes(self.max_memory)} is too small for the state tables "
            f"of {self.span.description} even with {passes} passes; pass "
            f"max_memory={budget_for(needed)!r}"
        )

    def capacity(self, expected_states: float) -> int:
        """Slots per shard of a table planned for ``expected_states`` states."""
        per_shard = expected_states / self.n_shards
        return int(math.ceil((per_shard + 4 * math.sqrt(per_shard) + 8) / PLANNED_LOAD))

    def prefix_nodes(self) -> np.ndarray:
        """Input nodes whose bins choose a row's pass (the fewest that split the cells
        evenly, or else into parts within 1/8 of each other)."""
        m = self._prefix_length(self.passes)
        if self.span.in_bins ** m % self.passes:
            while m < len(self.inputs) and self.span.in_bins ** m < 8 * self.passes:
                m += 1
        return self.inputs[:m]

    def _prefix_length(self, passes) -> int:
        m = 1
        while m < len(self.inputs) and self.span.in_bins ** m < passes:
            m += 1
        return m

    def balanced(self, passes) -> int:
        """At least ``passes`` passes, raised (at most doubled) to a divisor of
        ``in_bins ** m`` when one exists, so that every pass gets as many cells."""
        cells = self.span.in_bins ** self._prefix_length(passes)
        return next((d for d in range(passes, min(2 * passes, cells) + 1) if cells % d == 0),
                    passes)

    def new_output_counts(self):
        """Empty output-state counts for the whole stream (or, split, a part's share): a
        dense array for narrow keys, else a hash table."""
        if self.dense_outputs:
            return np.zeros(1 << (self._keys[3] * len(self.outputs)), np.int64)
        expected = self._output_states() / (self.passes if self.split_outputs else 1)
        return _Table.empty(self.n_shards, self.capacity(expected), 1 + self.wy, self.wy,
                            self.wy)


def plan_joint(span, key, samples, inputs, outputs, pairs, max_memory, chunk_rows=None,
               n_shards=None, least_passes=1, sort_rows=None) -> JointPlan:
    """Plan the count of ``samples`` rows of stream ``key`` through ``span`` within
    ``max_memory`` bytes (``None``: no budget) in at least ``least_passes`` parts.

    ``chunk_rows`` (default :data:`CHUNK_ROWS`) is the most rows per chunk; fewer are
    taken when the budget asks for it. See :class:`JointPlan` for the rest.

    Raises
    ------
    MemoryError
        When the budget is too small; the message names one that would do.
    """
    plan = JointPlan(span, key, samples, inputs, outputs, pairs,
                     math.inf if max_memory is None else max_memory, 1,
                     n_shards or max(1, numba.get_num_threads()))
    rows = batch_size(plan.max_memory, plan.fixed_bytes(), plan.row_bytes(),
                      min(chunk_rows or CHUNK_ROWS, samples), MIN_CHUNK_ROWS)
    return replace(plan, chunk_rows=rows).planned(least_passes, sort_rows)


class JointMerge:
    """Adds the :class:`PartCounts` of a plan's parts into :class:`JointCounts`.

    Every count is an integer and the tallies sum exactly, so the parts may come in any
    order; :func:`count_joint` adds them in part order. ``outputs`` is the output-state
    count (a dense array or a table, in a one-element list) that the parts of a plan
    whose outputs are not split count into, when they share one.
    """

    def __init__(self, plan: JointPlan, outputs: list | None = None):
        self.plan, self.outputs = plan, outputs
        self.counts = JointCounts(0, 0, None, None, None, None, plan.passes)
        if plan.joint:
            self.counts.x, self.counts.y, self.counts.xy = CountSum(), CountSum(), CountSum()

    def add(self, part: PartCounts) -> None:
        counts = self.counts
        counts.n_valid += part.n_valid
        counts.n_outside += part.n_outside
        if part.pairs is not None:
            counts.pairs = part.pairs if counts.pairs is None else counts.pairs + part.pairs
        for name in ("x", "xy", "y"):
            if getattr(part, name) is not None:
                tally = getattr(counts, name)
                tally += getattr(part, name)  # in place
        if isinstance(part.outputs, _Table):  # the only part: see JointPlan.separable
            self.outputs = [part.outputs]
        elif part.outputs is not None:
            if self.outputs is None:
                self.outputs = [self.plan.new_output_counts()]
            index, states = part.outputs
            self.outputs[0][index] += states

    def result(self) -> JointCounts:
        """The merged counts, with the tally of the output states counted together."""
        if self.outputs is not None:
            self.counts.y += _output_tally(self.outputs[0], self.plan.samples)
            self.outputs = None
        return self.counts


def _output_tally(output_counts, samples) -> CountSum:
    if isinstance(output_counts, _Table):
        return CountSum.of_table(output_counts, samples)[0]
    return CountSum.of_counts(output_counts)


def count_joint(plan: JointPlan, executor=None, progress=None) -> JointCounts:
    """Count every part of ``plan`` and merge them, adding passes until the tables fit.

    Parameters
    ----------
    plan : JointPlan
    executor : concurrent.futures.Executor, optional
        Counts the parts (each a task that returns its tallies, which are small); by
        default they are counted here, one after the other, sharing one output count.
    progress : tqdm-like or None
        Updated with the rows each part reads.

    Raises
    ------
    MemoryError
        When the budget is too small even with one pass per sample.
    """
    while True:
        try:
            return _count_parts(plan, executor, progress)
        except _TableBudgetExceeded as exceeded:
            plan = plan.retried(exceeded.args[0])


def _count_parts(plan, executor, progress) -> JointCounts:
    shared = None
    if executor is None:
        if plan.joint and not plan.split_outputs:
            shared = [plan.new_output_counts()]
        count = functools.partial(count_part, plan, outputs=shared, progress=progress)
    else:
        plan = plan.separable()
        count = functools.partial(count_part, plan)
    reads = plan.samples * (plan.passes if plan.joint else 1)
    if progress is not None:
        progress.reset(total=reads)
    merge = JointMerge(plan, shared)
    window = waiting_results(plan.max_memory, plan.part_result_bytes())
    for part in results_in_order(count, range(plan.passes), executor, window):
        merge.add(part)
        if executor is not None and progress is not None:
            progress.update(reads // plan.passes)
    return merge.result()


def results_in_order(function, items, executor=None, window=None) -> Iterator:
    """``function(item)`` for each item, in order: here one at a time, or as tasks of
    ``executor``, at most ``window`` (default: all) submitted and not yet taken, so
    that finished results wait in memory a bounded number at a time. If one fails, the
    tasks not yet started are cancelled."""
    if executor is None:
        yield from map(function, items)
        return
    items = list(items)
    window = len(items) if window is None else max(1, window)
    futures = [executor.submit(function, item) for item in items[:window]]
    try:
        for index in range(len(items)):
            result = futures[index].result()
            futures[index] = None
            yield result
            if index + window < len(items):
                futures.append(executor.submit(function, items[index + window]))
    finally:
        for future in futures:
            if future is not None:
                future.cancel()


def waiting_results(max_memory, result_bytes: float) -> int | None:
    """How many results of ``result_bytes`` each may wait in ``max_memory`` (None: any)."""
    if max_memory is None or max_memory == math.inf:
        return None
    return max(1, int(max_memory // (2 * max(result_bytes, 1))))


def sample_blocks(samples: int, blocks: int) -> list[range]:
    """The rows of ``samples`` split into ``blocks`` consecutive blocks of near-equal size."""
    return [range(samples * b // blocks, samples * (b + 1) // blocks) for b in range(blocks)]


def count_part(plan: JointPlan, part: int, outputs: list | None = None,
               progress=None) -> PartCounts:
    """Count part ``part`` of ``plan`` into fresh tables and return its tallies.

    ``outputs`` is a shared output-state count (see :class:`JointMerge`) to count into;
    by default the part counts its output states into its own.

    Raises
    ------
    _TableBudgetExceeded
        When a table would outgrow the budget (the plan needs more passes).
    """
    return _PartCounter(plan, part, outputs, progress).run()


class _PartCounter:
    """The tables (or the kept joint keys) and the chunk loop of one part of a plan."""

    def __init__(self, plan, part, outputs, progress):
        self.plan, self.part, self.progress = plan, part, progress
        self.result = PartCounts()
        if plan.pairs and self.reads_rows:
            span = plan.span
            self.result.pairs = np.zeros((span.n_in, span.n_out, span.in_bins, span.out_bins),
                                         np.int64)
        self.cells, self.outputs, self.owns_outputs = [], outputs, outputs is None
        self.kept = np.empty(plan.part_rows(plan.passes) if plan.sort_rows else 0, np.uint64)
        self.n_kept = 0
        if plan.joint and not plan.sort_rows:
            record = 1 + plan.wx + plan.wy
            self.cells = [
                _Table.empty(plan.n_shards, plan.capacity(plan._cell_states() / plan.passes),
                             record, plan.wx, plan.wx),
                _Table.empty(plan.n_shards, INITIAL_CAPACITY, record, plan.wx + plan.wy,
                             plan.wx)]
        if plan.joint and outputs is None:
            self.outputs = [plan.new_output_counts()]

    @property
    def reads_rows(self) -> bool:
        """Whether this part counts each of its rows once (rows, pairs): every part but
        those of a split-output plan after the first, which read every row again."""
        return not self.plan.split_outputs or self.part == 0

    def run(self) -> PartCounts:
        plan = self.plan
        select = plan.joint and plan.passes > 1 and not plan.split_outputs
        prefix = plan.prefix_nodes() if select or plan.split_outputs else None
        first, stop = 0, plan.samples
        if not plan.joint:  # a block of rows
            block = sample_blocks(plan.samples, plan.passes)[self.part]
            first, stop = block.start, block.stop
        scan_rows = plan.chunk_rows * (min(plan.passes, SCAN_FACTOR) if select else 1)
        found = np.empty(scan_rows if select else 0, dtype=np.int64)
        for start in range(first, stop, scan_rows):
            scanned = min(scan_rows, stop - start)
            if select:
                span = plan.span
                rows = found[:K.rows_of_partition(plan.key, start, span.n_in, prefix,
                                                  *span.in_range, span.in_bins, plan.passes,
                                                  self.part, BLOCK_ROWS, found[:scanned])]
            else:
                rows = np.arange(start, start + scanned, dtype=np.int64)
            for at in range(0, rows.size, plan.chunk_rows):
                self._count_chunk(rows[at:at + plan.chunk_rows], prefix)
            if self.progress is not None:
                self.progress.update(scanned)
        if plan.sort_rows:
            self.result.x, self.result.xy = CountSum.of_sorted(self.kept[:self.n_kept],
                                                               plan.output_bits)
        elif plan.joint:
            unmixed, mixed = CountSum.of_table(self.cells[0], plan.samples)
            self.result.x = CountSum()
            self.result.x += unmixed
            self.result.x += mixed
            self.result.xy = unmixed
            self.result.xy += CountSum.of_table(self.cells[1], plan.samples)[0]
        if plan.joint:
            if plan.split_outputs:
                self.result.y = _output_tally(self.outputs[0], plan.samples)
            elif self.owns_outputs:
                counts = self.outputs[0]
                if isinstance(counts, _Table):
                    self.result.outputs = counts
                else:
                    index = np.flatnonzero(counts)
                    self.result.outputs = (index, counts[index])
        return self.result

    def _count_chunk(self, rows, prefix) -> None:
        """Take the given rows through the span and count them. The chunk's arrays die
        on return, before the next chunk allocates its own."""
        plan = self.plan
        x_bins, y_bins, outside = plan.span.noise_output_bins(plan.key, rows)
        if self.result.pairs is not None:
            count_pairs(plan.span, x_bins, y_bins, self.result.pairs)
        valid = rows.size
        if plan.joint:
            valid = self._count_joint(x_bins, y_bins, prefix)
        if self.reads_rows:
            self.result.n_valid += valid
            self.result.n_outside += outside

    def _count_joint(self, x_bins, y_bins, prefix) -> int:
        """Insert a chunk's states into the tables; return the number of valid rows."""
        plan = self.plan
        x_bits, wx, x_hashed, y_bits, wy, y_hashed = plan._keys
        n = x_bins.shape[1]
        x_keys = np.empty((n, wx), np.uint64)
        y_keys = np.empty((n, wy), np.uint64)
        # sorted rows need no cell hashes, nor output hashes unless outputs go to a table
        # or are split by hash
        hashed_outputs = not plan.sort_rows or not plan.dense_outputs or plan.split_outputs
        x_hashes = np.empty(0 if plan.sort_rows else n, np.uint64)
        y_hashes = np.empty(n if hashed_outputs else 0, np.uint64)
        x_ok = np.empty(n, np.bool_)
        valid = np.empty(n, np.bool_)
        K.cell_keys(x_bins, plan.inputs, x_bits, x_hashed, BLOCK_ROWS, x_keys, x_hashes, x_ok)
        K.cell_keys(y_bins, plan.outputs, y_bits, y_hashed, BLOCK_ROWS, y_keys, y_hashes, valid)
        x_mask = y_mask = valid
        if plan.split_outputs:
            x_part = np.empty(n, np.int64)
            K.prefix_partition(x_bins, prefix, plan.span.in_bins, plan.passes, x_part)
            y_part = np.empty(n, np.int64)
            K.hash_partition(y_hashes, plan.passes, y_part)
            x_mask = valid & (x_part == self.part)
            y_mask = valid & (y_part == self.part)

        def count_cells(tables, resume):
            cells, joint_table = tables
            K.count_joint_states(x_keys, x_hashes, y_keys, y_hashes, x_mask, cells.records,
                                 cells.fill, cells.limit, joint_table.records,
                                 joint_table.fill, joint_table.limit, resume,
                                 PREFETCH_DISTANCE)

        def count_outputs(tables, resume):
            (outputs,) = tables
            K.count_states(y_keys, y_hashes, y_mask, outputs.records, outputs.fill,
                           outputs.limit, resume, PREFETCH_DISTANCE)

        if plan.sort_rows:
            self._keep(x_keys, y_keys, x_mask)
        else:
            self._insert(self.cells, n, count_cells, "inputs")
        if isinstance(self.outputs[0], _Table):
            self._insert(self.outputs, n, count_outputs, "outputs")
        else:
            K.count_dense_states(y_keys, y_mask, plan.n_shards, self.outputs[0])
        return int(np.count_nonzero(valid))

    def _keep(self, x_keys, y_keys, mask) -> None:
        """Keep the joint keys (input cell above output state) of the masked rows."""
        end = self.n_kept + int(np.count_nonzero(mask))
        if end > self.kept.size:  # more rows than planned: more by an eighth
            grown = max(end, self.kept.size * 9 // 8)
            self._check_room(SORT_ROW_BYTES * (grown - self.kept.size), "inputs")
            kept = np.empty(grown, np.uint64)
            kept[:self.n_kept] = self.kept[:self.n_kept]
            self.kept = kept
        self.n_kept = K.append_joint_keys(x_keys, y_keys, mask, self.plan.output_bits,
                                          self.kept, self.n_kept)

    def _check_room(self, more: int, role: str) -> None:
        """Raise :class:`_TableBudgetExceeded` if ``more`` bytes beside the live tables,
        the kept keys and the chunk buffers would pass the budget."""
        plan = self.plan
        live = (sum(t.nbytes for t in self.cells + self.outputs)
                + SORT_ROW_BYTES * self.kept.size)
        if live + more + plan.buffer_bytes() > plan.max_memory:
            raise _TableBudgetExceeded(role)

    def _insert(self, tables, n_rows, kernel, role):
        """Run a resumable insert kernel, growing full tables until every row is in."""
        plan = self.plan
        resume = np.zeros(plan.n_shards, dtype=np.int64)
        while True:
            kernel(tables, resume)
            if resume.min() >= n_rows:
                return
            for index, table in enumerate(tables):
                if table.fill.max() >= table.limit - 2:
                    # the old table lives on while the records move to the new one
                    self._check_room(2 * table.nbytes, role)
                    tables[index] = table.grown()


def sensitivity_counts(span: Span, key, samples: int, baseline: float,
                       chunk_rows: int | None = None, progress=None,
                       max_memory: int | None = None, blocks: int = 1,
                       executor=None) -> tuple[np.ndarray, int]:
    """Pair histograms when each input alone is perturbed and the rest sit at ``baseline``.

    Input ``i`` takes the same noise values as in the joint stream of the same key. All
    inputs are handled in one batch per chunk: ``per_node`` samples each, through ``n_in``
    copies of the inputs, at most ``chunk_rows // n_in`` (default ``CHUNK_ROWS // n_in``)
    and fewer when ``max_memory`` asks for it (see :func:`batch_size`; ``None``: no
    budget). The samples are counted in ``blocks`` blocks of rows, as tasks of
    ``executor`` if one is given, and their histograms added; any chunk size and any
    number of blocks give the same counts. Returns counts of shape
    ``(n_in, n_out, in_bins, out_bins)`` and the number of output values outside the
    output range.

    Raises
    ------
    MemoryError
        If the histograms (two while blocks are added) and the fewest samples a chunk
        takes need more than ``max_memory``.
    """
    n_in = span.n_in
    histogram_bytes = 8 * n_in * span.n_out * span.in_bins * span.out_bins
    held = histogram_bytes * (2 if blocks > 1 else 1)
    # row numbers, noise and its bins; then n_in rows of held inputs and their outputs
    sample_bytes = 8 + span.row_bytes() + n_in * (8 * n_in + span.forward_bytes())
    per_node = batch_size(max_memory, held, sample_bytes,
                          min(max(1, (chunk_rows or CHUNK_ROWS) // n_in), samples),
                          max(1, MIN_CHUNK_ROWS // n_in))
    check_budget(held + per_node * sample_bytes, max_memory,
                 f"sensitivity of {span.description} in chunks of {per_node} x {n_in} rows",
                 "fewer bins")
    count = functools.partial(_sensitivity_block, span, key, baseline=baseline,
                              per_node=per_node, progress=None if executor else progress)
    counts, n_outside = None, 0
    window = waiting_results(max_memory, histogram_bytes)
    blocked = sample_blocks(samples, blocks)
    results = results_in_order(count, blocked, executor, window)
    for rows, (block, outside) in zip(blocked, results, strict=True):
        if counts is None:
            counts = block
        else:
            counts += block
        n_outside += outside
        if executor is not None and progress is not None:
            progress.update(len(rows) * n_in)
    return counts, n_outside


def _sensitivity_block(span, key, rows: range, baseline, per_node, progress):
    """Sensitivity counts and outputs outside the range of one block of ``rows``."""
    n_in = span.n_in
    counts = np.zeros((n_in, span.n_out, span.in_bins, span.out_bins), np.int64)
    n_outside = 0
    for start in range(rows.start, rows.stop, per_node):
        chunk = np.arange(start, min(start + per_node, rows.stop), dtype=np.int64)
        n_outside += _count_sensitivity_chunk(span, key, chunk, baseline, counts)
        if progress is not None:
            progress.update(chunk.size * n_in)
    return counts, n_outside


def _count_sensitivity_chunk(span, key, rows, baseline, counts) -> int:
    """Add the chunk of ``rows`` to the sensitivity ``counts``; return the outputs outside
    the range. The chunk's arrays die on return, before the next chunk allocates its own."""
    n_in = span.n_in
    noise, noise_bins = span.noise(key, rows)
    x = np.full((n_in, n_in, rows.size), baseline)
    x[np.arange(n_in), np.arange(n_in)] = noise
    y_bins, outside = span.output_bins(x.reshape(n_in, -1))
    K.sensitivity_pair_counts(noise_bins, y_bins, counts)
    return outside
