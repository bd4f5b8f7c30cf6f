"""Exact (sampling-free) effective information for layers with monotone activations.

Every input node is uniform on ``in_range``, so the probability that an output lands in
a bin, given the bin of one input, is an integral that can be done in closed form or by a
rapidly converging Fourier series. Use these functions when an answer free of sampling
noise and plug-in bias is wanted (sensitivity, EI_parts, single edges, or joint EI of a
one- or two-input layer); use the sampled estimators for joint EI of wider spans and for
activations without a generalised inverse.

Conventions follow the SPEC of fastei: bins ``bin(v) = clip(floor((v - lo) / (hi - lo) * B),
0, B - 1)``; ``overflow="clip"`` sends out-of-range outputs to the edge bins, ``"drop"``
conditions on the measured output lying in ``[lo, hi]``. All results are in bits.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._kernels import information_from_cdf, two_input_information
from ._sampling import batch_size, check_budget, check_finite_preactivations
from .activations import apply_checked, get_activation

__all__ = [
    "sensitivity_matrix_exact",
    "ei_parts_matrix_exact",
    "ei_exact",
    "edge_ei_exact",
    "two_input_ei_exact",
]

# A uniform narrower than this fraction of the total spread is treated as a point mass in
# the closed-form path: the error is O(fraction**2), the cancellation it avoids O(eps / fraction).
_NARROW_FRACTION = 1e-5
# The closed-form (inclusion-exclusion) CDF is used up to this many uniforms, or up to
# _MAX_CLOSED_FORM_TERMS when the Fourier series would need more harmonics than 2**terms.
_ALWAYS_CLOSED_FORM_TERMS = 4
_MAX_CLOSED_FORM_TERMS = 10
# Truncation bound on the Fourier series of the CDF (absolute, in probability).
_FOURIER_TOLERANCE = 1e-13
_MAX_HARMONICS = 2**16
_SLAB_POINTS = 2_000_000


# --------------------------------------------------------------------------------------
# Levels, bins and mutual information
# --------------------------------------------------------------------------------------

def _preactivation_levels(activation, out_range, out_bins, overflow) -> np.ndarray:
    """Pre-activation thresholds ``zeta_0 <= ... <= zeta_B`` of the output bins.

    Output bin ``k`` is ``zeta_k <= z < zeta_(k+1)``. With ``overflow="clip"`` the outer
    thresholds are ``-inf`` and ``inf``; with ``"drop"`` they bound ``lo <= f(z) <= hi``.
    """
    if activation.inverse is None:
        raise ValueError(
            f"activation {activation.name!r} has no inverse; the exact method needs one "
            "(give Activation(..., inverse=...)) or use a sampled estimator"
        )
    lo, hi = (float(v) for v in out_range)
    edges = lo + (hi - lo) * np.arange(out_bins + 1) / out_bins
    # f(z) <= hi  <=>  f(z) < nextafter(hi): the upper edge of a kept value is inclusive.
    edges[-1] = np.nextafter(hi, math.inf)
    with np.errstate(divide="ignore", invalid="ignore"):  # inverses return +-inf off the image
        levels = apply_checked(activation.inverse, edges, activation.name,
                               "inverse of activation")
    if overflow == "clip":
        levels[0], levels[-1] = -math.inf, math.inf
    return levels


def _bin_midpoints(value_range, n_bins) -> np.ndarray:
    lo, hi = (float(v) for v in value_range)
    return lo + (hi - lo) * (np.arange(n_bins) + 0.5) / n_bins


def _bin_index(values, value_range, n_bins) -> np.ndarray:
    lo, hi = (float(v) for v in value_range)
    index = np.floor((values - lo) / (hi - lo) * n_bins).astype(np.int64)
    return np.clip(index, 0, n_bins - 1)


def _state_codes(columns, base) -> np.ndarray:
    """Dense integer codes of the rows of ``columns`` (values in ``0..base-1``)."""
    codes = np.zeros(columns.shape[0], dtype=np.int64)
    for column in columns.T:
        codes = np.unique(codes * base + column, return_inverse=True)[1].ravel()
    return codes


def _mutual_information_from_weights(x_codes, y_codes, weights) -> float:
    """Bits of ``I(X; Y)`` from weighted (x code, y code) pairs; weights are renormalised."""
    total = weights.sum()
    if total <= 0:
        return 0.0
    p = weights / total
    pair_codes = np.unique(x_codes * (y_codes.max() + 1) + y_codes, return_inverse=True)[1]
    p_xy = np.bincount(pair_codes.ravel(), weights=p)
    first = np.zeros(p_xy.size, dtype=np.int64)
    first[pair_codes.ravel()] = np.arange(p.size)
    p_x = np.bincount(x_codes, weights=p)[x_codes[first]]
    p_y = np.bincount(y_codes, weights=p)[y_codes[first]]
    keep = p_xy > 0
    return float(np.sum(p_xy[keep] * np.log2(p_xy[keep] / (p_x[keep] * p_y[keep]))))


# --------------------------------------------------------------------------------------
# CDF of a centred sum of independent uniforms
# --------------------------------------------------------------------------------------

def _closed_form_cdf(y, widths) -> np.ndarray:
    """``P(T < y)`` for ``T`` a sum of centred uniforms of the given positive widths.

    Inclusion-exclusion over the ``2**n`` corners of the box,
    ``F(y) = sum_A (-1)^|A| (y + D/2 - d_A)_+^n / (n! prod d)``, evaluated in extended
    precision beyond two terms, where the alternating sum starts to cancel. ``y`` has shape
    ``(p, ...)`` and ``widths`` ``(p, n)`` (one row per pair).
    """
    n_pairs, n_terms = widths.shape
    if n_terms == 1:
        return np.clip(y / widths[:, :1, None] + 0.5, 0.0, 1.0)
    dtype = np.float64 if n_terms <= 2 else np.longdouble
    extra = (1,) * (y.ndim - 1)
    if n_terms == 0:
        return (y > 0).astype(np.float64)
    half_total = widths.sum(axis=1).reshape((n_pairs,) + extra) / 2
    inside = np.clip(y, -half_total, half_total).astype(dtype)
    corners = (np.arange(2**n_terms)[:, None] >> np.arange(n_terms)) & 1  # (2**n, n)
    signs = np.where(corners.sum(axis=1) % 2 == 0, 1.0, -1.0).astype(dtype)
    corner_offsets = widths.astype(dtype) @ corners.T  # (p, 2**n)
    scale = math.factorial(n_terms) * np.prod(widths.astype(dtype), axis=1)
    cdf = np.zeros(inside.shape, dtype=dtype)
    base = inside + half_total.astype(dtype)
    for corner in range(2**n_terms):
        shifted = base - corner_offsets[:, corner].reshape((n_pairs,) + extra)
        cdf += signs[corner] * np.maximum(shifted, 0) ** n_terms
    cdf = (cdf / scale.reshape((n_pairs,) + extra)).astype(np.float64)
    cdf = np.where(y <= -half_total, 0.0, np.where(y >= half_total, 1.0, cdf))
    return np.clip(cdf, 0.0, 1.0)


def _log2_sinc_envelope(x) -> np.ndarray:
    """``log2`` of a non-increasing bound on ``|sin x / x|`` for ``x >= 0``.

    ``|sinc x| <= exp(-x**2 / 6)`` for ``x <= pi`` and ``<= 1 / x`` everywhere; taking the
    smaller and then the running maximum from the right (``1 / pi`` at ``pi``) keeps it
    monotone, which the search for the number of harmonics relies on.
    """
    with np.errstate(divide="ignore"):
        inverse = -np.log2(x)
    inside = np.maximum(np.minimum(-x * x / (6.0 * math.log(2)), inverse), -math.log2(math.pi))
    return np.where(x <= math.pi, inside, inverse)


def _harmonic_candidates() -> np.ndarray:
    """Numbers of harmonics tried, growing by 10 % up to ``_MAX_HARMONICS``."""
    return np.unique(np.ceil(1.1 ** np.arange(int(math.log(_MAX_HARMONICS, 1.1)) + 1)))


def _harmonics_needed(bin_widths, background_widths, period) -> np.ndarray:
    """Per input ``i``, a ``K`` with ``|characteristic function of T_i| <= tolerance`` past it.

    Candidates grow geometrically (by 10 %), so ``K`` overshoots the smallest one by at most
    that much; the envelope is non-increasing, so checking the candidate itself suffices.
    """
    candidates = _harmonic_candidates()
    half_omega = (math.pi * candidates / period)[:, None]
    background = _log2_sinc_envelope(half_omega * background_widths)  # (C, n_in)
    log2_envelope = (background.sum(axis=1, keepdims=True) - background
                     + _log2_sinc_envelope(half_omega * bin_widths))
    small = log2_envelope <= math.log2(_FOURIER_TOLERANCE)
    first = np.where(small.any(axis=0), small.argmax(axis=0), candidates.size - 1)
    return candidates[first].astype(np.int64)


def _fourier_cdf(levels, shifts, bin_widths, background_widths, rows, harmonics):
    """``P(T_i < levels_k - shifts_ia)`` for inputs ``i`` in ``rows``, by a Fourier series.

    With a period ``P`` covering the support of every ``T_i`` (a symmetric sum of centred
    uniforms), ``F(y) = 1/2 + y/P + (1/pi) sum_(f=1..K) rho_f sin(2 pi f y / P) / f``,
    where ``rho_f``, the real characteristic function at ``2 pi f / P``, is a product of
    sincs; terms are dropped from the end while their absolute sum stays below the
    tolerance. The background product leaving input ``i`` out comes from prefix and suffix
    products, so no division by a sinc is needed. ``shifts`` must be equally spaced along
    the input bins (they are: ``w_i`` times the bin midpoints plus a constant), so the
    phases ``exp(-i omega_f shift_ia)`` are cumulative products along the bins.
    Returns ``(len(rows), B_in, L)``.
    """
    period = background_widths.sum() + bin_widths.max()
    harmonic = np.arange(1, harmonics + 1)
    omega = 2 * math.pi * harmonic / period  # (K,)
    factors = np.sinc(np.outer(background_widths, omega) / (2 * math.pi))  # (n_in, K)
    ones = np.ones((1, harmonics))
    prefix = np.cumprod(np.vstack([ones, factors[:-1]]), axis=0)
    suffix = np.cumprod(np.vstack([ones, factors[:0:-1]]), axis=0)[::-1]
    rho = (prefix * suffix)[rows] * np.sinc(np.outer(bin_widths[rows], omega) / (2 * math.pi))
    coefficients = rho / (math.pi * harmonic)  # (p, K)
    # The envelope bounds every term past K; the exact terms often fall below the tolerance
    # much earlier, so keep only as many as the largest exact tail needs.
    tail = np.cumsum(np.abs(coefficients[:, ::-1]), axis=1)[:, ::-1]  # sum over f >= index
    needed = np.count_nonzero(tail > _FOURIER_TOLERANCE, axis=1).max()
    harmonics = max(int(needed), 1)
    omega, coefficients = omega[:harmonics], coefficients[:, :harmonics]

    shifts = shifts[rows]
    n_bins = shifts.shape[1]
    step = shifts[:, 1] - shifts[:, 0] if n_bins > 1 else np.zeros(rows.size)
    # Complex columns: K phases c_f e^(-i omega_f shift_a), then 1 + i shift_a; viewed as
    # reals they interleave (re, im), matching the rows of `right` below.
    phases = np.empty((rows.size, n_bins, harmonics + 1), dtype=np.complex128)
    phases[:, 0, :-1] = np.exp(-1j * np.outer(shifts[:, 0], omega)) * coefficients
    phases[:, 1:, :-1] = np.exp(-1j * np.outer(step, omega))[:, None, :]
    np.cumprod(phases[:, :, :-1], axis=1, out=phases[:, :, :-1])
    phases[:, :, -1] = 1.0 + 1j * shifts

    # F = 1/2 + level/P - shift/P + Im(sum_f c_f e^(-i omega shift) e^(i omega level)).
    # Infinite levels are moved just past the support, where the periodic formula already
    # lies beyond [0, 1] and is clipped to the exact 0 or 1.
    bound = period + np.abs(shifts).max()
    levels = np.clip(levels, -bound, bound)
    right = np.empty((2 * harmonics + 2, levels.size))
    right[0:-2:2] = np.sin(np.outer(omega, levels))  # times Re(phase)
    right[1:-2:2] = np.cos(np.outer(omega, levels))  # times Im(phase)
    right[-2] = 0.5 + levels / period
    right[-1] = -1.0 / period
    cdf = (phases.view(np.float64).reshape(rows.size * n_bins, -1) @ right)
    cdf = cdf.reshape(rows.size, n_bins, levels.size)
    return np.clip(cdf, 0.0, 1.0, out=cdf)


class _CdfPlan(NamedTuple):
    """How :func:`_level_cdf` computes the CDF of each input of one output unit."""

    threshold: np.ndarray      # (n_in,) uniforms at most this wide are point masses
    n_significant: np.ndarray  # (n_in,) uniforms wider than the threshold
    closed_form: np.ndarray    # (n_in,) bool: inclusion-exclusion, else Fourier series
    harmonics: int             # Fourier terms of the series (0 when every input is closed)


def _cdf_plan(bin_widths, background_widths) -> _CdfPlan:
    """Decide, before anything large is allocated, how each input's CDF is computed.

    ``T_i`` is the centred sum of a uniform of width ``bin_widths[i]`` and uniforms of
    widths ``background_widths[k]``, ``k != i``; one narrower than ``_NARROW_FRACTION``
    of their total is treated as a point mass. Sums of few uniforms use the closed form,
    wide ones the Fourier series.
    """
    n_in = bin_widths.size
    threshold = _NARROW_FRACTION * (background_widths.sum() - background_widths + bin_widths)
    wider = n_in - np.searchsorted(np.sort(background_widths), threshold, side="right")
    n_significant = wider - (background_widths > threshold) + (bin_widths > threshold)
    closed_form = n_significant <= _ALWAYS_CLOSED_FORM_TERMS
    if closed_form.all():
        return _CdfPlan(threshold, n_significant, closed_form, 0)
    period = background_widths.sum() + bin_widths.max()
    harmonics = _harmonics_needed(bin_widths, background_widths, period)
    closed_form |= (n_significant <= _MAX_CLOSED_FORM_TERMS) & (2.0**n_significant < harmonics)
    return _CdfPlan(threshold, n_significant, closed_form,
                    int(harmonics[~closed_form].max(initial=0)))


def _plan_bytes(n_in) -> int:
    """Most bytes :func:`_cdf_plan` allocates for ``n_in`` inputs (sinc envelopes)."""
    return 96 * _harmonic_candidates().size * n_in


def _cdf_bytes(plan: _CdfPlan, n_bins, n_levels) -> int:
    """Peak bytes of :func:`_level_cdf` with this plan, NumPy temporaries included."""
    n_in = plan.threshold.size
    table = 8 * n_bins * n_levels  # one input's CDF
    n_fourier = n_in - int(np.count_nonzero(plan.closed_form))
    k = plan.harmonics + 1
    # sincs with their prefix and suffix products; complex phases; sines and cosines
    fourier = (96 * n_in * k + 16 * n_fourier * (n_bins + 4) * k + 48 * k * n_levels
               + n_fourier * table) if n_fourier else 0
    if not n_fourier < n_in:
        return fourier
    closed = 0
    for n_terms in np.unique(plan.n_significant[plan.closed_form]):
        rows = int(np.count_nonzero(plan.closed_form & (plan.n_significant == n_terms)))
        size = 8 if n_terms <= 2 else np.dtype(np.longdouble).itemsize
        per_cell = 24 if n_terms <= 1 else 24 + 8 * size  # a clip, or corner sums
        closed = max(closed, 48 * rows * n_in + rows * n_bins * n_levels * per_cell)
    return max(fourier, n_fourier * table + n_in * table + closed)


def _level_cdf(levels, shifts, bin_widths, background_widths, plan: _CdfPlan) -> np.ndarray:
    """``P(T_i + shifts_ia < levels_k)`` for every input ``i`` of one output unit.

    ``T_i`` is as in :func:`_cdf_plan`, which chose how to compute each input. Differences
    along the last axis are the probabilities of the output bins given the input bin:
    this is the one routine behind sensitivity, EI_parts and the single edge.

    Shapes: ``levels (L,)``, ``shifts (n_in, B_in)``, ``bin_widths (n_in,)``,
    ``background_widths (n_in,)``; returns ``(n_in, B_in, L)``.
    """
    n_in = shifts.shape[0]
    fourier_rows = np.flatnonzero(~plan.closed_form)
    if fourier_rows.size:
        fourier = _fourier_cdf(levels, shifts, bin_widths, background_widths, fourier_rows,
                               plan.harmonics)
        if fourier_rows.size == n_in:
            return fourier
    cdf = np.empty(shifts.shape + levels.shape)
    if fourier_rows.size:
        cdf[fourier_rows] = fourier
    for n_terms in np.unique(plan.n_significant[plan.closed_form]):
        rows = np.flatnonzero(plan.closed_form & (plan.n_significant == n_terms))
        components = np.tile(background_widths, (rows.size, 1))
        components[np.arange(rows.size), rows] = bin_widths[rows]
        significant = components > plan.threshold[rows, None]
        widths = -np.sort(-np.where(significant, components, 0.0), axis=1)
        y = levels - shifts[rows][:, :, None]
        cdf[rows] = _closed_form_cdf(y, widths[:, :n_terms])
    return cdf


# --------------------------------------------------------------------------------------
# Public (private-module) estimators
# --------------------------------------------------------------------------------------

def _pairwise_matrix(layer, in_range, out_range, in_bins, out_bins, overflow, baseline,
                     max_memory):
    """Per-edge bits; ``baseline=None`` means the joint intervention (EI_parts)."""
    weights = np.asarray(layer.weights, dtype=np.float64)
    n_out, n_in = weights.shape
    bias = np.zeros(n_out) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64)
    lo, hi = (float(v) for v in in_range)
    check_finite_preactivations(weights, bias, in_range, f"the {n_in} -> {n_out} layer")
    levels = _preactivation_levels(layer.activation, out_range, out_bins, overflow)
    bin_width = (hi - lo) / in_bins
    midpoints = _bin_midpoints(in_range, in_bins)
    what = (f"exact {'EI_parts' if baseline is None else 'sensitivity'} of a {n_in} -> "
            f"{n_out} layer at {_bins_label(in_bins, out_bins)}")
    # the result, the background widths and the plans stay; one unit is planned or computed
    kept = 48 * n_in * n_out
    check_budget(kept + _plan_bytes(n_in), max_memory, what, "fewer bins")
    background = (np.abs(weights) * (hi - lo) if baseline is None
                  else np.zeros((n_out, n_in)))
    plans = [_cdf_plan(np.abs(w) * bin_width, b) for w, b in zip(weights, background, strict=True)]
    check_budget(kept + 16 * n_in * in_bins + max(_cdf_bytes(plan, in_bins, levels.size)
                                                  for plan in plans),
                 max_memory, what, "fewer bins")
    result = np.empty((n_in, n_out))
    for j, plan in enumerate(plans):
        w = weights[j]
        if baseline is None:
            # Others uniform: centre of z is b + mid * sum(w); input i moves it by w_i (x - mid).
            reference = bias[j] + (lo + hi) / 2 * w.sum()
            shifts = np.outer(w, midpoints - (lo + hi) / 2)
        else:
            # Others held at the baseline: z = w_i x + b + baseline * sum_(k != i) w_k.
            reference = bias[j]
            shifts = np.outer(w, midpoints) + (baseline * (w.sum() - w))[:, None]
        result[:, j] = information_from_cdf(
            _level_cdf(levels - reference, shifts, np.abs(w) * bin_width, background[j], plan))
    return result


def _bins_label(in_bins, out_bins) -> str:
    return f"{in_bins} bins" if in_bins == out_bins else f"{in_bins} x {out_bins} bins"


def sensitivity_matrix_exact(layer, *, in_range, out_range, in_bins, out_bins, baseline=0.0,
                             overflow="clip", max_memory=None) -> np.ndarray:
    """Exact per-edge sensitivity ``I(X_i; Y_j)`` with only input ``i`` perturbed, in bits.

    Input ``i`` is uniform on ``in_range``; every other input is held at ``baseline``, so
    output ``j`` sees ``w_ji x + b_j + baseline * sum_(k != i) w_jk``.

    Parameters
    ----------
    layer : Dense
        Layer with a non-decreasing activation that has an ``inverse``.
    in_range, out_range : tuple of float
        Ranges of the intervention and of the output binning.
    in_bins, out_bins : int
        Bin counts.
    baseline : float, default 0.0
        Value at which the unperturbed inputs are held.
    overflow : {"clip", "drop"}, default "clip"
        Out-of-range outputs go to the edge bins, or are discarded (conditioning on ``y_j``).
    max_memory : int or None, default None
        Byte budget for the tables; ``None``: none.

    Returns
    -------
    ndarray, shape (n_in, n_out)
        Bits per edge; the sensitivity is the sum.

    Raises
    ------
    ValueError
        If the activation has no inverse, or a pre-activation can overflow float64.
    MemoryError
        Before allocating, if the tables need more than ``max_memory``.
    """
    return _pairwise_matrix(layer, in_range, out_range, in_bins, out_bins, overflow,
                            float(baseline), max_memory)


def ei_parts_matrix_exact(layer, *, in_range, out_range, in_bins, out_bins,
                          overflow="clip", max_memory=None) -> np.ndarray:
    """Exact EI_parts terms ``I(X_i; Y_j)`` under the joint intervention, in bits.

    All inputs are independent and uniform on ``in_range``. Given the bin of ``x_i``, the
    pre-activation of ``y_j`` is a sum of independent uniforms (``x_i`` within its bin and
    the other inputs' contributions); its CDF at the output bins' thresholds is computed in
    closed form (inclusion-exclusion, up to a few terms) or by a Fourier series whose
    truncation error is below 1e-13.

    Parameters
    ----------
    layer : Dense
        Layer with a non-decreasing activation that has an ``inverse``.
    in_range, out_range : tuple of float
        Ranges of the intervention and of the output binning.
    in_bins, out_bins : int
        Bin counts.
    overflow : {"clip", "drop"}, default "clip"
        Out-of-range outputs go to the edge bins, or are discarded (conditioning on ``y_j``).
    max_memory : int or None, default None
        Byte budget for the tables (the series of a wide layer); ``None``: none.

    Returns
    -------
    ndarray, shape (n_in, n_out)
        Bits per edge; EI_parts is the sum.

    Raises
    ------
    ValueError
        If the activation has no inverse, or a pre-activation can overflow float64.
    MemoryError
        Before allocating, if the tables need more than ``max_memory``.
    """
    return _pairwise_matrix(layer, in_range, out_range, in_bins, out_bins, overflow, None,
                            max_memory)


def edge_ei_exact(weight, activation, *, in_range, out_range, in_bins, out_bins, bias=0.0,
                  overflow="clip") -> float:
    """Exact EI in bits of a single edge ``y = f(weight * x + bias)``, ``x ~ U(in_range)``.

    The one-by-one case of :func:`sensitivity_matrix_exact` (the paper's Fig. 1 curves).

    Raises
    ------
    ValueError
        If the activation has no inverse.
    """
    from .network import Dense

    layer = Dense(np.array([[float(weight)]]), np.array([float(bias)]), activation)
    return float(sensitivity_matrix_exact(
        layer, in_range=in_range, out_range=out_range, in_bins=in_bins, out_bins=out_bins,
        overflow=overflow)[0, 0])


# --------------------------------------------------------------------------------------
# Joint EI of a layer with one or two inputs: exact areas in the input plane
# --------------------------------------------------------------------------------------

def _x1_breakpoints(lines, value_range) -> np.ndarray:
    """Sorted ``x1`` where two lines ``a x1 + b x2 = c`` cross in ``value_range``, plus its ends."""
    a, b, c = lines.T
    determinant = a[:, None] * b[None, :] - a[None, :] * b[:, None]
    numerator = c[:, None] * b[None, :] - c[None, :] * b[:, None]
    crossing = np.triu(determinant != 0, 1)
    x1 = numerator[crossing] / determinant[crossing]
    lo, hi = value_range
    return np.unique(np.concatenate([[lo, hi], x1[(x1 > lo) & (x1 < hi)]]))


def _segment_bound(lines, slab_mid, n_edges, value_range) -> int:
    """Upper bound on the segments of positive length the slabs are cut into.

    In a slab the segments lie between the points where lines ``a x1 + b x2 = c`` (rows
    of ``lines``, ``b != 0``) cross the slab's midpoint inside ``value_range``, and the
    ``n_edges`` bin edges of ``x2``; a line's crossing is inside for ``x1`` in an
    interval, whose slabs are counted by bisection.
    """
    lo, hi = value_range
    a, b, c = lines.T
    flat = a == 0
    level = c[flat] / b[flat]
    crossings = np.count_nonzero((level >= lo) & (level <= hi)) * slab_mid.size
    a, b, c = a[~flat], b[~flat], c[~flat]
    ends = np.sort(np.column_stack([(c - b * lo) / a, (c - b * hi) / a]), axis=1)
    crossings += int((np.searchsorted(slab_mid, ends[:, 1], side="right")
                      - np.searchsorted(slab_mid, ends[:, 0], side="left")).sum())
    return crossings + slab_mid.size * (n_edges - 1)


def ei_exact(layer, *, in_range, out_range, in_bins, out_bins, overflow="clip",
             max_memory=None) -> float:
    """Exact joint EI ``I(X; Y)`` in bits of a single layer with one or two inputs.

    Every output bin boundary is a line in the input plane (a point for one input), so the
    probability of each (input cell, joint output bins) pair is a polygon area. The plane is
    cut into vertical slabs at every crossing of two lines (bin edges included); within a
    slab the order of the lines is fixed, every segment length is linear in ``x1`` and the
    slab's midpoint gives its area exactly. The result is exact up to rounding. Any number
    of outputs works; the cost grows with the square of ``n_out * out_bins``.

    Parameters
    ----------
    layer : Dense
        Layer with one or two inputs and a non-decreasing activation with an ``inverse``.
    in_range, out_range : tuple of float
        Ranges of the intervention and of the output binning.
    in_bins, out_bins : int
        Bin counts.
    overflow : {"clip", "drop"}, default "clip"
        Out-of-range outputs go to the edge bins, or samples with any output out of range
        are discarded.
    max_memory : int or None, default None
        Byte budget for the line crossings and the segments; ``None``: none. A tight
        budget also makes the slabs go through in smaller batches (same result).

    Returns
    -------
    float
        EI in bits.

    Raises
    ------
    ValueError
        If the layer has more than two inputs, the activation has no inverse, or a
        pre-activation can overflow float64.
    MemoryError
        Before allocating, if the crossings or the segments need more than ``max_memory``.
    """
    weights = np.asarray(layer.weights, dtype=np.float64)
    n_out, n_in = weights.shape
    if n_in > 2:
        raise ValueError(
            f"ei_exact handles layers with 1 or 2 inputs, got {n_in}; "
            "use a sampled or stratified estimator for wider layers"
        )
    bias = np.zeros(n_out) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64)
    check_finite_preactivations(weights, bias, in_range, f"the {n_in} -> {n_out} layer")
    levels = _preactivation_levels(layer.activation, out_range, out_bins, overflow)
    plane = np.zeros((n_out, 2))
    plane[:, :n_in] = weights
    second_bins = in_bins if n_in == 2 else 1
    lo, hi = (float(v) for v in in_range)
    edges1 = lo + (hi - lo) * np.arange(in_bins + 1) / in_bins
    edges2 = lo + (hi - lo) * np.arange(second_bins + 1) / second_bins

    finite_levels = levels[np.isfinite(levels)]
    moving = np.any(plane != 0, axis=1)
    output_lines = np.column_stack([
        np.repeat(plane[moving], finite_levels.size, axis=0),
        (finite_levels[None, :] - bias[moving, None]).ravel(),
    ])
    input_lines = np.concatenate([
        np.column_stack([np.ones_like(edges1), np.zeros_like(edges1), edges1]),
        np.column_stack([np.zeros_like(edges2), np.ones_like(edges2), edges2]),
    ])
    what = f"exact EI of a {n_in} -> {n_out} layer at {_bins_label(in_bins, out_bins)}"
    n_lines = output_lines.shape[0] + input_lines.shape[0]
    check_budget(36 * n_lines**2, max_memory, what, "fewer bins")  # every pair of lines
    breaks = _x1_breakpoints(np.concatenate([output_lines, input_lines]), (lo, hi))
    slab_mid = (breaks[:-1] + breaks[1:]) / 2
    slab_width = np.diff(breaks)

    sloped = plane[:, 1] != 0
    crossing_rows = np.flatnonzero(sloped)
    points_per_slab = crossing_rows.size * finite_levels.size + edges2.size
    # Segments are kept with their bins and weights, then merged into states; a batch of
    # slabs also holds its points and the outputs of its segments.
    segments = _segment_bound(output_lines[output_lines[:, 1] != 0], slab_mid, edges2.size,
                              (lo, hi))
    kept = 16 * breaks.size + segments * (112 + 16 * n_out)
    n_points = slab_mid.size * points_per_slab
    point_bytes = 48 + (32 + 16 * n_out) * segments / max(n_points, 1)
    batch_points = batch_size(max_memory, kept, point_bytes, min(_SLAB_POINTS, n_points),
                              points_per_slab)
    check_budget(kept + point_bytes * batch_points, max_memory, what, "fewer bins")
    chunk = max(1, batch_points // points_per_slab)
    x_parts, y_parts, weight_parts = [], [], []
    for start in range(0, slab_mid.size, chunk):
        x1 = slab_mid[start:start + chunk]
        with np.errstate(divide="ignore"):
            crossings = (finite_levels[None, None, :] - bias[crossing_rows, None]
                         - plane[crossing_rows, 0, None] * x1[:, None, None])
            crossings = crossings / plane[crossing_rows, 1, None]
        points = np.concatenate([
            np.clip(crossings.reshape(x1.size, -1), lo, hi),
            np.broadcast_to(edges2, (x1.size, edges2.size)),
        ], axis=1)
        points.sort(axis=1)
        length = np.diff(points, axis=1)
        x2 = (points[:, :-1] + points[:, 1:]) / 2
        slab, segment = np.nonzero(length > 0)
        x1_seg, x2_seg = x1[slab], x2[slab, segment]
        z = np.outer(x1_seg, plane[:, 0]) + np.outer(x2_seg, plane[:, 1]) + bias
        out_bin = np.searchsorted(levels, z, side="right") - 1
        kept = np.all((out_bin >= 0) & (out_bin < out_bins), axis=1)
        x_parts.append(np.column_stack([_bin_index(x1_seg, in_range, in_bins),
                                        _bin_index(x2_seg, in_range, second_bins)])[kept])
        y_parts.append(out_bin[kept])
        weight_parts.append((slab_width[start:start + chunk][slab] * length[slab, segment])[kept])
    x_codes = _state_codes(np.concatenate(x_parts), in_bins)
    y_codes = _state_codes(np.concatenate(y_parts), out_bins)
    return _mutual_information_from_weights(x_codes, y_codes, np.concatenate(weight_parts))


def two_input_ei_exact(weights, activation, *, in_range, out_range, in_bins, out_bins,
                       overflow="clip") -> np.ndarray:
    """Exact EI in bits of each 2 -> 1 layer ``y = f(w_p1 x1 + w_p2 x2)`` (no bias).

    :func:`ei_exact` of each layer in one call, for grids of weights: with a single
    output, the probability of an output bin given an input cell is a difference of the
    CDF of a sum of two uniforms (a trapezoid) at the bin's thresholds, so no areas need
    cutting. The two agree to rounding (about 1e-12 bits).

    Parameters
    ----------
    weights : array_like, shape (n, 2)
        One layer per row.
    activation : str or Activation
        A non-decreasing activation with an ``inverse``.
    in_range, out_range : tuple of float
        Ranges of the intervention and of the output binning.
    in_bins, out_bins : int
        Bin counts.
    overflow : {"clip", "drop"}, default "clip"

    Returns
    -------
    ndarray, shape (n,)
        EI in bits per row.

    Raises
    ------
    ValueError
        If ``weights`` is not ``(n, 2)``, the activation has no inverse, or a
        pre-activation can overflow float64.
    """
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != 2:
        raise ValueError(f"weights must have shape (n, 2), one 2 -> 1 layer per row; "
                         f"got shape {weights.shape}")
    check_finite_preactivations(weights, np.zeros(weights.shape[0]), in_range,
                                "the 2 -> 1 layers, one per row of weights")
    levels = _preactivation_levels(get_activation(activation), out_range, out_bins, overflow)
    lo, hi = (float(v) for v in in_range)
    bits = np.empty(weights.shape[0])
    two_input_information(weights, levels, _bin_midpoints(in_range, in_bins),
                          (hi - lo) / in_bins, bits)
    return bits
