"""Stratified (converged) joint EI: ``EI = H(Y) - E_x[H(Y | X = x)]``.

The intervention makes every input cell equally likely, so cells are drawn uniformly and
several points are drawn inside each. The within-cell entropies (Miller-Madow corrected)
average to ``H(Y | X)``; all points together are uniform over the input space and give
``H(Y)`` (Chao-Shen corrected). Unlike the plug-in, this converges for wide inputs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _kernels as K
from ._sampling import BLOCK_ROWS, CHUNK_ROWS, Span, batch_size, check_budget, key_layout

_LN2 = math.log(2.0)


class StratifiedEstimate(NamedTuple):
    """Stratified joint EI with its standard error and the budget used (bits)."""

    value: float
    standard_error: float
    entropy_outputs: float
    conditional_entropy: float
    cells: int
    points_per_cell: int
    samples: int


def chao_shen_entropy(counts: np.ndarray, multiplicity: np.ndarray) -> float:
    """Chao-Shen coverage-adjusted entropy estimate (bits) from state counts.

    ``multiplicity[k]`` states were seen ``counts[k] > 0`` times each. Reduces the
    downward bias of the plug-in when many states are seen once.
    """
    counts = counts.astype(np.float64)
    n = float(np.dot(counts, multiplicity))
    singletons = multiplicity[counts == 1].sum()
    coverage = 1.0 - min(singletons, n - 1) / n
    p = coverage * counts / n
    # 1 - (1 - p)**n, the chance to see the state (1 for a state that takes every point)
    log_missed = np.log1p(-p, out=np.full_like(p, -np.inf), where=p < 1.0)
    inclusion = -np.expm1(n * log_missed)
    return float(-np.sum(multiplicity * p * np.log2(p) / inclusion))


def _multiplicities(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the distinct values of a sorted array, and how many values have each."""
    last = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1])  # last index of each run
    lengths = np.diff(last, prepend=-1, append=sorted_keys.size - 1)
    return np.unique(lengths, return_counts=True)


def _output_hashes(span: Span, x: np.ndarray, out: np.ndarray) -> None:
    """Identity of each point's binned output state: the packed key when it fits in one
    word, else its 64-bit hash."""
    bits, words, hashed = key_layout(span.n_out, span.out_bins)
    y_bins, _ = span.output_bins(x)
    keys = np.empty((x.shape[1], words), np.uint64)
    valid = np.empty(x.shape[1], np.bool_)
    K.cell_keys(y_bins, np.arange(span.n_out, dtype=np.int64), bits, hashed, BLOCK_ROWS,
                keys, out, valid)
    if words == 1:
        out[:] = keys[:, 0]


def _hash_points(span, point_key, output_key, rows, cell_bins, in_cells, uniform) -> None:
    """Output hashes of the points ``rows`` inside cells ``cell_bins`` (``(n_in, k)`` bins
    of ``k`` cells, ``len(rows) / k`` points each) and of as many independent uniform
    points. The batch's arrays die on return, before the next batch allocates its own."""
    n_in = span.n_in
    lo, hi = span.in_range
    nodes = np.arange(n_in, dtype=np.int64)
    x = np.empty((n_in, rows.size))
    K.fill_uniform(point_key, rows, n_in, nodes, 0.0, 1.0, BLOCK_ROWS, x)
    x += np.repeat(cell_bins, rows.size // cell_bins.shape[1], axis=1)
    x *= (hi - lo) / span.in_bins
    x += lo
    _output_hashes(span, x, in_cells)
    K.fill_uniform(output_key, rows, n_in, nodes, lo, hi, BLOCK_ROWS, x)
    _output_hashes(span, x, uniform)


def stratified_ei(span: Span, keys, cells: int, points_per_cell: int,
                  chunk_points: int | None = None, max_memory: int | None = None
                  ) -> StratifiedEstimate:
    """Estimate joint EI of a span from ``cells`` cells of ``points_per_cell`` points.

    ``keys`` are three stream keys: cell choice, points within cells, and the independent
    uniform points for ``H(Y)`` (as many as the cells hold). Points go through the span
    in batches of whole cells, at most ``chunk_points`` points (default ``CHUNK_ROWS``)
    and fewer when ``max_memory`` asks for it (see :func:`fastei._sampling.batch_size`;
    ``None``: no budget); any batch size gives the same estimate.

    Raises
    ------
    MemoryError
        Before allocating, if the output keys of every point and a batch of one cell
        need more than ``max_memory``.
    """
    cell_key, point_key, output_key = keys
    n_in, m = span.n_in, points_per_cell
    n = cells * m
    words = key_layout(span.n_out, span.out_bins)[1]
    # the cells; two keys per point; flags and run lengths when counting distinct keys
    kept = 8 * n_in * cells + 48 * cells + 17 * n + 40 * min(n, span.out_bins ** span.n_out)
    # a batch: row numbers, points and their cell offsets, the span's outputs, keys, flags
    point_bytes = 8 + 16 * n_in + span.forward_bytes() + 8 * words + 1
    cells_per_chunk = batch_size(max_memory, kept, point_bytes * m,
                                 min(cells, max(1, (chunk_points or CHUNK_ROWS) // m)), 1)
    check_budget(kept + point_bytes * m * cells_per_chunk, max_memory,
                 f"stratified EI of {span.description} with {cells} cells of {m} points",
                 "fewer cells or points_per_cell")
    nodes = np.arange(n_in, dtype=np.int64)
    cell_bins = np.empty((n_in, cells))
    K.fill_uniform(cell_key, np.arange(cells, dtype=np.int64), n_in, nodes, 0.0, 1.0,
                   BLOCK_ROWS, cell_bins)
    cell_bins *= span.in_bins
    np.floor(cell_bins, out=cell_bins)
    np.minimum(cell_bins, span.in_bins - 1, out=cell_bins)
    in_cells = np.empty(n, np.uint64)
    uniform = np.empty(n, np.uint64)
    for first in range(0, cells, cells_per_chunk):
        rows = np.arange(first * m, min(cells, first + cells_per_chunk) * m, dtype=np.int64)
        _hash_points(span, point_key, output_key, rows, cell_bins[:, first:first + rows.size // m],
                     in_cells[rows[0]:rows[-1] + 1], uniform[rows[0]:rows[-1] + 1])
    per_cell = in_cells.reshape(cells, m)
    per_cell.sort(axis=1)
    within = np.empty(cells)
    distinct = np.empty(cells, np.int64)
    K.within_cell_entropy(per_cell, within, distinct)
    within += (distinct - 1) / (2.0 * m * _LN2)  # Miller-Madow
    uniform.sort()
    counts, multiplicity = _multiplicities(uniform)
    h_y = chao_shen_entropy(counts, multiplicity)
    h_y_given_x = float(within.mean())
    # The two terms come from independent points: their variances add. Var(H(Y)) by the
    # delta method: the variance over the points of the surprisal of their state.
    surprisal = -np.log2(counts / n)
    weight = multiplicity * counts / n  # the share of the points in states of each count
    mean = np.dot(weight, surprisal)
    variance = np.dot(weight, (surprisal - mean) ** 2) / n + within.var(ddof=1) / cells
    return StratifiedEstimate(h_y - h_y_given_x, math.sqrt(variance), h_y, h_y_given_x,
                              cells, m, 2 * n)
