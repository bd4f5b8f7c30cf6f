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
from ._sampling import BLOCK_ROWS, Span, key_layout

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


def chao_shen_entropy(counts: np.ndarray) -> float:
    """Chao-Shen coverage-adjusted entropy estimate (bits) from state counts.

    Reduces the downward bias of the plug-in when many states are seen once.
    """
    counts = counts[counts > 0].astype(np.float64)
    n = counts.sum()
    singletons = np.count_nonzero(counts == 1)
    coverage = 1.0 - min(singletons, n - 1) / n
    p = coverage * counts / n
    # 1 - (1 - p)**n, the chance to see the state (1 for a state that takes every point)
    log_missed = np.log1p(-p, out=np.full_like(p, -np.inf), where=p < 1.0)
    inclusion = -np.expm1(n * log_missed)
    return float(-np.sum(p * np.log2(p) / inclusion))


def _output_hashes(span: Span, x: np.ndarray, out: np.ndarray) -> None:
    """Identity of each point's binned output state: the packed key when it fits in one
    word, else its 64-bit hash."""
    bits, words, hashed = key_layout(span.n_out, span.out_bins)
    y_bins, _ = span.bin_outputs(span.forward(x))
    keys = np.empty((x.shape[1], words), np.uint64)
    valid = np.empty(x.shape[1], np.bool_)
    K.cell_keys(y_bins, np.arange(span.n_out, dtype=np.int64), bits, hashed, BLOCK_ROWS,
                keys, out, valid)
    if words == 1:
        out[:] = keys[:, 0]


def stratified_ei(span: Span, keys, cells: int, points_per_cell: int,
                  chunk_points: int = 1 << 16) -> StratifiedEstimate:
    """Estimate joint EI of a span from ``cells`` cells of ``points_per_cell`` points.

    ``keys`` are three stream keys: cell choice, points within cells, and the independent
    uniform points for ``H(Y)`` (as many as the cells hold).
    """
    cell_key, point_key, output_key = keys
    n_in, m = span.n_in, points_per_cell
    lo, hi = span.in_range
    n = cells * m
    nodes = np.arange(n_in, dtype=np.int64)
    cell_u = np.empty((n_in, cells))
    K.fill_uniform(cell_key, np.arange(cells, dtype=np.int64), n_in, nodes, 0.0, 1.0,
                   BLOCK_ROWS, cell_u)
    cell_bins = np.minimum(np.floor(cell_u * span.in_bins), span.in_bins - 1)
    in_cells = np.empty(n, np.uint64)
    uniform = np.empty(n, np.uint64)
    cells_per_chunk = max(1, chunk_points // m)
    for first in range(0, cells, cells_per_chunk):
        last = min(cells, first + cells_per_chunk)
        rows = np.arange(first * m, last * m, dtype=np.int64)
        x = np.empty((n_in, rows.size))
        K.fill_uniform(point_key, rows, n_in, nodes, 0.0, 1.0, BLOCK_ROWS, x)
        x += np.repeat(cell_bins[:, first:last], m, axis=1)
        x *= (hi - lo) / span.in_bins
        x += lo
        _output_hashes(span, x, in_cells[rows[0]:rows[-1] + 1])
        K.fill_uniform(output_key, rows, n_in, nodes, lo, hi, BLOCK_ROWS, x)
        _output_hashes(span, x, uniform[rows[0]:rows[-1] + 1])
    per_cell = np.sort(in_cells.reshape(cells, m), axis=1)
    within = np.empty(cells)
    distinct = np.empty(cells, np.int64)
    K.within_cell_entropy(per_cell, within, distinct)
    within += (distinct - 1) / (2.0 * m * _LN2)  # Miller-Madow
    _, inverse, counts = np.unique(uniform, return_inverse=True, return_counts=True)
    h_y = chao_shen_entropy(counts)
    h_y_given_x = float(within.mean())
    # The two terms come from independent points: their variances add. Var(H(Y)) by the
    # delta method: the variance of the surprisal over the number of points.
    surprisal = -np.log2(counts[inverse] / n)
    variance = surprisal.var() / n + within.var(ddof=1) / cells
    return StratifiedEstimate(h_y - h_y_given_x, math.sqrt(variance), h_y, h_y_given_x,
                              cells, m, 2 * n)
