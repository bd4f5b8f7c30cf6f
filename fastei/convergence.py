"""Convergence helpers from the paper's supplementary information (Section 7.1).

Sampled (plug-in) estimates of EI_parts fall as the number of noise samples grows. The
paper used two ways to reach the infinite-sample value: doubling the samples until another
doubling is expected to change little, and fitting ``A / s**alpha + C`` to estimates at
100K, 200K, ..., 2M samples and reading the fit at ``10**15``. Both work with any callable
``estimate(samples) -> float``. Where an exact estimator exists (``method="exact"``), it
gives the limit directly and these helpers are only needed for checks.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["ConvergenceResult", "ExtrapolationResult", "converge_by_doubling", "converged_value",
           "extrapolate"]

_CONVERGED_QUANTITIES = ("ei", "ei_parts", "sensitivity")

DEFAULT_EXTRAPOLATION_SAMPLES = tuple(range(100_000, 2_000_001, 100_000))


class ConvergenceResult(NamedTuple):
    """Outcome of :func:`converge_by_doubling`.

    Attributes
    ----------
    value : float
        The estimate at the largest sample count evaluated.
    samples : int
        That sample count.
    trace_samples, trace_values : tuple
        Every sample count evaluated and its estimate, in order.
    converged : bool
        Whether the stopping rule was met before ``max_samples``.
    """

    value: float
    samples: int
    trace_samples: tuple
    trace_values: tuple
    converged: bool


class ExtrapolationResult(NamedTuple):
    """Outcome of :func:`extrapolate`: the fit ``A / s**alpha + C`` evaluated at ``at``.

    Attributes
    ----------
    value : float
        The fitted curve at ``at`` samples.
    A, alpha, C : float
        Fitted parameters (``alpha > 0``; ``C`` is the limit at infinitely many samples).
    trace_samples, trace_values : tuple
        The sample counts and estimates the fit used.
    """

    value: float
    A: float
    alpha: float
    C: float
    trace_samples: tuple
    trace_values: tuple


def _check_sample_count(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def converge_by_doubling(estimate: Callable[[int], float], *, start: int = 100_000,
                         threshold: float = 0.05, max_samples: int = 10**9) -> ConvergenceResult:
    """Double the samples until another doubling is expected to change the estimate little.

    Parameters
    ----------
    estimate : callable
        ``estimate(samples) -> float``, e.g. a sampled EI_parts with a fixed seed.
    start : int, default 100_000
        First sample count.
    threshold : float, default 0.05
        Relative tolerance on the expected change of one more doubling.
    max_samples : int, default 10**9
        Largest sample count to evaluate; the search stops unconverged beyond it.

    Returns
    -------
    ConvergenceResult
        The last estimate, its sample count, the trace, and whether it converged.

    Raises
    ------
    ValueError
        If ``threshold <= 0``, ``start`` is not a positive integer, or
        ``max_samples < start``.

    Notes
    -----
    With estimates ``v_(n-1)`` at ``s / 2`` and ``v_n`` at ``s`` samples, the secant through
    the last two points in ``log2(samples)`` predicts that the next doubling changes the
    estimate by ``v_n - v_(n-1)`` again. The search stops when
    ``|v_n - v_(n-1)| < threshold * |v_n|``; when ``v_n = 0`` it stops only if the change is
    exactly 0 (two zero estimates in a row).

    Examples
    --------
    >>> result = converge_by_doubling(lambda s: 1.0 + 1e4 / s, start=1000, threshold=0.05)
    >>> result.samples, result.converged
    (256000, True)
    """
    if not threshold > 0:
        raise ValueError(
            f"threshold must be > 0 (a relative change such as 0.05), got {threshold!r}")
    start = _check_sample_count(start, "start")
    max_samples = _check_sample_count(max_samples, "max_samples")
    if max_samples < start:
        raise ValueError(f"max_samples ({max_samples}) must be at least start ({start})")
    samples = [start]
    values = [float(estimate(start))]
    converged = False
    while samples[-1] * 2 <= max_samples:
        samples.append(samples[-1] * 2)
        values.append(float(estimate(samples[-1])))
        change = abs(values[-1] - values[-2])
        if change < threshold * abs(values[-1]) or change == 0:
            converged = True
            break
    return ConvergenceResult(values[-1], samples[-1], tuple(samples), tuple(values), converged)


def _power_law(samples, amplitude, alpha, limit):
    return amplitude * samples ** -alpha + limit


def extrapolate(estimate: Callable[[int], float], *, samples=DEFAULT_EXTRAPOLATION_SAMPLES,
                at: float = 1e15) -> ExtrapolationResult:
    """Fit ``A / s**alpha + C`` to estimates at several sample counts and evaluate it at ``at``.

    Parameters
    ----------
    estimate : callable
        ``estimate(samples) -> float``.
    samples : sequence of int, default 100K, 200K, ..., 2M (20 points)
        Sample counts to evaluate; at least 3 distinct positive values.
    at : float, default 1e15
        Sample count at which the fit is read.

    Returns
    -------
    ExtrapolationResult
        The extrapolated value, the fitted ``A``, ``alpha``, ``C`` and the trace.

    Raises
    ------
    ValueError
        If fewer than 3 distinct sample counts are given, any is not a positive integer,
        or ``at`` is not positive.

    Notes
    -----
    The fit uses ``scipy.optimize.curve_fit`` on ``(s / s_max)`` so the parameters are of
    order one, starting from ``alpha = 1`` and ``C`` = the last estimate, with
    ``alpha`` bounded to ``(0, 10]``. Paper SI Section 7.1.

    Examples
    --------
    >>> result = extrapolate(lambda s: 2.0 + 50.0 / s**0.5)
    >>> round(result.C, 6), round(result.alpha, 3)
    (2.0, 0.5)
    """
    counts = [_check_sample_count(s, "each entry of samples") for s in samples]
    counts = sorted(set(counts))
    if len(counts) < 3:
        raise ValueError(
            f"samples must hold at least 3 distinct sample counts to fit A / s**alpha + C, "
            f"got {len(counts)}"
        )
    if not (isinstance(at, numbers.Real) and math.isfinite(at) and at > 0):
        raise ValueError(f"at must be a positive sample count, got {at!r}")
    from scipy.optimize import OptimizeWarning, curve_fit

    values = np.array([float(estimate(s)) for s in counts])
    scale = float(counts[-1])
    scaled = np.array(counts, dtype=np.float64) / scale
    start = (values[0] - values[-1]) / (scaled[0] ** -1.0 - 1.0), 1.0, values[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # exact fits have no covariance
        (amplitude, alpha, limit), _ = curve_fit(
            _power_law, scaled, values, p0=start,
            bounds=([-np.inf, 1e-9, -np.inf], [np.inf, 10.0, np.inf]), maxfev=20_000)
    value = float(_power_law(at / scale, amplitude, alpha, limit))
    return ExtrapolationResult(value, float(amplitude * scale**alpha), float(alpha),
                               float(limit), tuple(counts), tuple(values.tolist()))


def converged_value(network, quantity="ei", *, span=0, in_bins=8, out_bins=8, in_range=None,
                    out_range=None, overflow="clip", seed=0, cells=4000,
                    points_per_cell=2048, max_memory="1GiB") -> tuple[float, float]:
    """The infinite-sample value of a measure of one layer and its standard error.

    EI: exact for one or two inputs (standard error 0), else stratified
    (:func:`fastei.ei_stratified`, which needs ``overflow="clip"``); EI_parts and
    sensitivity: exact (standard error 0).

    Parameters
    ----------
    network : Network or weights
    quantity : {"ei", "ei_parts", "sensitivity"}, default "ei"
    span : int, default 0
        The layer.
    in_bins, out_bins, in_range, out_range, overflow, seed, cells, points_per_cell, max_memory
        As in :func:`fastei.measure`.

    Returns
    -------
    (float, float)
        Value and standard error, in bits.
    """
    from . import estimators
    from .network import as_network

    if quantity not in _CONVERGED_QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(map(repr, _CONVERGED_QUANTITIES))}; "
                         f"got {quantity!r}")
    binning = dict(span=span, in_bins=in_bins, out_bins=out_bins, in_range=in_range,
                   out_range=out_range, max_memory=max_memory)
    if quantity == "ei" and as_network(network).layers[span].n_in > 2:
        if overflow != "clip":
            raise ValueError(f"the converged EI of a layer with more than two inputs clips "
                             f"out-of-range outputs; overflow={overflow!r} has no converged "
                             "value, use overflow='clip'")
        estimate = estimators.ei_stratified(network, seed=seed, cells=cells,
                                            points_per_cell=points_per_cell, **binning)
        return estimate.value, estimate.standard_error
    function = getattr(estimators, quantity)
    return function(network, method="exact", overflow=overflow, **binning), 0.0
