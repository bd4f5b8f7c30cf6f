"""Effective information and its parts for a span of layers (sampled plug-in estimators).

Every estimator takes the network first, then keyword-only options with the same names
everywhere. Values are in bits. The intervention sets every input node of the span,
independently, to a value drawn uniformly from ``in_range``; inputs and outputs are
binned into equal-width bins (see the SPEC conventions in the README).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _exact, _rng
from ._sampling import JointCounter, PreparedLayer, Span, pair_information, sensitivity_counts
from ._stratified import StratifiedEstimate, stratified_ei
from ._validation import (
    check_bins,
    check_choice,
    check_int,
    check_memory,
    check_range,
    check_span,
    check_subset,
)
from .network import as_network

__all__ = [
    "Measures",
    "StratifiedEstimate",
    "ei_stratified",
    "degeneracy",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "group_ei",
    "measure",
    "phi_feedforward",
    "sensitivity",
    "sensitivity_matrix",
    "warmup",
]

MAX_BINS = 2**15 - 1
_PROGRESS_THRESHOLD = 20_000_000

_COMMON_PARAMETERS = """network : Network, Dense, array_like or list of array_like
        The network; plain weight matrices ``(n_out, n_in)`` mean sigmoid layers
        without bias.
    span : int or (int, int), default 0
        Layer index, or ``(start, end)`` for the map from layer ``start``'s inputs to
        layer ``end``'s outputs.
    in_bins, out_bins : int, default 8
        Bins per input node and per output node (at least 2).
    in_range, out_range : (float, float), optional
        Intervention range of the inputs and binning range of the outputs. Defaults:
        the previous layer's activation range ((0, 1) for layer 0), and the last
        layer's activation range ((0, 1) for relu). Unbounded activations need one.
    seed : None, int, SeedSequence or Generator, default 0
        Noise seed; the same seed gives the same bits with any thread count.
    overflow : {"clip", "drop"}, default "clip"
        Outputs outside ``out_range`` go to the edge bin ("clip"), or the sample is
        discarded ("drop", the paper's relu convention; for a pairwise term only the
        output of that pair counts).
    progress : bool or None, default None
        Show a progress bar; ``None`` shows one for long runs on a terminal."""

_SAMPLES_RULES = """``"auto"`` doubles the samples from 100,000 until another doubling is
        expected to move the value by less than 5 %; ``"extrapolate"`` fits
        ``A / s**alpha + C`` to 100K..2M samples and reads it at 10**15 (paper SI;
        :mod:`fastei.convergence` gives the traces)."""

_MEMORY_PARAMETER = """max_memory : int or str, default "1GiB"
        Budget for the state tables and buffers. When the distinct states would not
        fit, the key space is split and the noise stream is regenerated once per part;
        the result is the same."""


def _document(function):
    function.__doc__ = function.__doc__.format(
        common=_COMMON_PARAMETERS, memory=_MEMORY_PARAMETER, rules=_SAMPLES_RULES)
    return function


class Measures(NamedTuple):
    """Every measure of one span, from one joint noise stream (see :func:`measure`)."""

    ei: float
    ei_parts: float
    sensitivity: float
    degeneracy: float
    phi_feedforward: float
    ei_parts_matrix: np.ndarray
    sensitivity_matrix: np.ndarray
    group_ei: dict
    samples: int
    sensitivity_samples: int
    valid_samples: int
    out_of_range: int
    sensitivity_out_of_range: int
    passes: int


def _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow) -> Span:
    """Validate the common options and prepare the span for the kernels."""
    network = as_network(network)
    start, end = check_span(span, len(network))
    in_bins = check_bins(in_bins, "in_bins")
    out_bins = check_bins(out_bins, "out_bins")
    for name, value in (("in_bins", in_bins), ("out_bins", out_bins)):
        if value > MAX_BINS:
            raise ValueError(f"{name} must be <= {MAX_BINS}, got {value}")
    check_choice(overflow, "overflow", ("clip", "drop"))
    if in_range is None:
        in_range = (0.0, 1.0) if start == 0 else _default_range(network, start - 1, "in_range")
    if out_range is None:
        out_range = _default_range(network, end, "out_range")
    layers = tuple(
        PreparedLayer(
            layer.weights,
            np.zeros(layer.n_out) if layer.bias is None else layer.bias,
            layer.activation.code,
            layer.activation.func,
        )
        for layer in network.layers[start:end + 1]
    )
    return Span(layers, network.layers[start].n_in, network.layers[end].n_out,
                check_range(in_range, "in_range"), check_range(out_range, "out_range"),
                in_bins, out_bins, overflow == "drop")


def _default_range(network, layer_index, name):
    activation = network.layers[layer_index].activation
    if activation.default_range is None:
        raise ValueError(
            f"{name} has no default: layer {layer_index} uses the unbounded activation "
            f"{activation.name!r}; pass {name}=(lo, hi)"
        )
    return activation.default_range


def _by_sample_rule(samples, estimate):
    """``estimate(samples)``, or the value the paper's convergence rules settle on."""
    from .convergence import converge_by_doubling, extrapolate

    if samples == "auto":
        return converge_by_doubling(estimate).value
    if samples == "extrapolate":
        return extrapolate(estimate).value
    if isinstance(samples, str):
        raise ValueError(
            f"samples must be a number or one of 'auto', 'extrapolate'; got {samples!r}")
    return estimate(samples)


def _single_layer(network, span, method):
    """The one layer of a span, for the exact methods."""
    network = as_network(network)
    start, end = check_span(span, len(network))
    if start != end:
        raise ValueError(
            f"method={method!r} works on one layer; span ({start}, {end}) has "
            f"{end - start + 1}; use method='sampled' or measure the layers one by one")
    return network.layers[start]


def _exact_matrix(function, network, setup, span, **extra):
    return function(_single_layer(network, span, "exact"), in_range=setup.in_range,
                    out_range=setup.out_range, in_bins=setup.in_bins,
                    out_bins=setup.out_bins, overflow="drop" if setup.drop else "clip",
                    **extra)


def _progress_bar(progress, work, description):
    if progress is False or (progress is None and work < _PROGRESS_THRESHOLD):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=work, desc=description, unit="sample", unit_scale=True,
                disable=None if progress is None else False, leave=False)


def _joint(setup, samples, seed, max_memory, progress, inputs, outputs, pairs, label):
    samples = check_int(samples, "samples", 1)
    key = _rng.stream_key(seed, _rng.JOINT_STREAM)
    bar = _progress_bar(progress, samples, label)
    try:
        return JointCounter(setup, key, samples, inputs, outputs, pairs,
                            check_memory(max_memory), bar).run()
    finally:
        if bar is not None:
            bar.close()


def _check_baseline(baseline) -> float:
    baseline = float(baseline)
    if not math.isfinite(baseline):
        raise ValueError(f"baseline must be finite, got {baseline}")
    return baseline


def _sensitivity(setup, samples, seed, baseline, progress):
    samples = check_int(samples, "samples", 1)
    baseline = _check_baseline(baseline)
    key = _rng.stream_key(seed, _rng.SENSITIVITY_STREAM)
    bar = _progress_bar(progress, samples * setup.n_in, "sensitivity")
    try:
        return sensitivity_counts(setup, key, samples, baseline, progress=bar)
    finally:
        if bar is not None:
            bar.close()


@_document
def ei(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
       samples=10**7, seed=0, overflow="clip", max_memory="1GiB", progress=None,
       method="sampled") -> float:
    """Effective information ``I(X; Y)`` of a span under ``do(inputs = uniform noise)``.

    ``method="sampled"`` (the paper's plug-in): joint binned input and output states of
    ``samples`` noise samples are counted in hash tables, ``EI = H(X) + H(Y) - H(X, Y)``.
    It is biased upward at small ``samples`` and, for wide inputs (where no input cell
    is seen twice), it tends to ``H(Y)`` at any feasible sample count: use it to
    reproduce the paper, or for narrow spans. ``method="stratified"`` converges for any
    width (see :func:`ei_stratified`); ``method="exact"`` integrates exactly, for one
    layer with one or two inputs.

    Parameters
    ----------
    {common}
    samples : int, "auto" or "extrapolate", default 10**7
        Noise samples (the paper used 10**7). {rules}
    {memory}
    method : {{"sampled", "stratified", "exact"}}, default "sampled"
        Estimator (``samples`` and ``max_memory`` apply to "sampled" only).

    Returns
    -------
    float
        EI in bits.

    Raises
    ------
    ValueError, TypeError
        For invalid options (the message names the parameter and the fix).

    See Also
    --------
    measure : every measure of a span from one noise stream.

    Notes
    -----
    Paper eq. (1). Joint states are keyed without loss up to 128 bits (42 inputs at 8
    bins); wider states use a 128-bit hash, so two of ``K`` distinct states collide
    with probability below ``K**2 / 2**129`` (under 1e-22 for ``K = 10**8``).

    Examples
    --------
    >>> import numpy as np
    >>> round(ei(np.eye(2) * 4.0, samples=20_000, seed=1), 2)
    3.17
    """
    check_choice(method, "method", ("sampled", "stratified", "exact"))
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    if method == "exact":
        return _exact_matrix(_exact.ei_exact, network, setup, span)
    if method == "stratified":
        return ei_stratified(network, span=span, in_bins=in_bins, out_bins=out_bins,
                             in_range=in_range, out_range=out_range, seed=seed).value
    return _by_sample_rule(samples, lambda n: _joint(
        setup, n, seed, max_memory, progress, np.arange(setup.n_in), np.arange(setup.n_out),
        False, "EI").information())


@_document
def ei_stratified(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
                  cells=4000, points_per_cell=2048, seed=0) -> StratifiedEstimate:
    """Converged joint EI by stratified sampling, with its standard error.

    Because the intervention makes every input cell equally likely,
    ``EI = H(Y) - E_x[H(Y | X = x)]``: ``cells`` cells are drawn uniformly and
    ``points_per_cell`` points inside each; ``H(Y)`` comes from as many independent
    uniform points. Use it for joint EI of wide spans, where the plug-in never converges
    (25 inputs at 8 bins have 4e22 cells).

    Parameters
    ----------
    {common}
    cells : int, default 4000
        Input cells drawn.
    points_per_cell : int, default 2048
        Points drawn inside each cell.

    Returns
    -------
    StratifiedEstimate
        ``value`` and ``standard_error`` (bits), ``entropy_outputs`` ``H(Y)``,
        ``conditional_entropy`` ``H(Y | X)`` and the budget (``cells``,
        ``points_per_cell``, ``samples``).

    Notes
    -----
    Within-cell entropies are Miller-Madow corrected (plug-in plus ``(k - 1) / (2 m ln
    2)`` for ``k`` states seen among ``m`` points); ``H(Y)`` is Chao-Shen corrected. The
    standard error adds the variance over cells of the within-cell entropy and the
    delta-method variance of ``H(Y)``. Output states wider than 64 bits are compared
    by a 64-bit hash (collision chance below ``N**2 / 2**65`` for ``N`` points).
    ``overflow="drop"`` is not supported here.

    Examples
    --------
    >>> import numpy as np
    >>> est = ei_stratified(np.eye(2) * 4.0, cells=500, points_per_cell=256)
    >>> abs(est.value - 3.12) < 4 * est.standard_error + 0.02
    True
    """
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, "clip")
    cells = check_int(cells, "cells", 2)
    points_per_cell = check_int(points_per_cell, "points_per_cell", 2)
    keys = [_rng.stream_key(seed, stream) for stream in _rng.STRATIFIED_STREAMS]
    return stratified_ei(setup, keys, cells, points_per_cell)


@_document
def group_ei(network, inputs, outputs, *, span=0, in_bins=8, out_bins=8, in_range=None,
             out_range=None, samples=10**7, seed=0, overflow="clip", max_memory="1GiB",
             progress=None) -> float:
    """Group EI ``I(X_A; Y_B)`` between chosen inputs and outputs of a span.

    Every input of the span is perturbed (the same noise as :func:`ei` with the same
    seed); only the states of the chosen nodes are counted.

    Parameters
    ----------
    inputs, outputs : sequence of int or None
        Input nodes ``A`` and output nodes ``B`` of the span; ``None`` means all.
    {common}
    samples : int, default 10**7
        Noise samples.
    {memory}

    Returns
    -------
    float
        Group EI in bits.

    Examples
    --------
    >>> import numpy as np
    >>> round(group_ei(np.eye(2) * 4.0, [0], [1], samples=20_000), 3)  # plug-in bias only
    0.001
    """
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    a = check_subset(inputs, "inputs", setup.n_in)
    b = check_subset(outputs, "outputs", setup.n_out)
    return _joint(setup, samples, seed, max_memory, progress, a, b, False,
                  "group EI").information()


@_document
def ei_parts_matrix(network, *, span=0, in_bins=8, out_bins=8, in_range=None,
                    out_range=None, samples=10**7, seed=0, overflow="clip",
                    progress=None, method="sampled") -> np.ndarray:
    """Per-edge terms ``I(X_i; Y_j)`` of EI_parts, under the joint intervention.

    ``method="exact"`` integrates each term (no noise, no plug-in bias) for one layer
    with monotone activations, and is much faster; use ``"sampled"`` to reproduce the
    paper's plug-in numbers, for spans of several layers, or for activations without
    an inverse.

    Parameters
    ----------
    {common}
    samples : int, default 10**7
        Noise samples ("sampled" only).
    method : {{"sampled", "exact"}}, default "sampled"
        Estimator.

    Returns
    -------
    ndarray, shape (n_in, n_out)
        Mutual information of each (input, output) pair, in bits.

    Examples
    --------
    >>> import numpy as np
    >>> ei_parts_matrix(np.eye(2) * 4.0, samples=20_000).round(2)
    array([[1.57, 0.  ],
           [0.  , 1.58]])
    """
    check_choice(method, "method", ("sampled", "exact"))
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    if method == "exact":
        return _exact_matrix(_exact.ei_parts_matrix_exact, network, setup, span)
    counts = _joint(setup, samples, seed, 2**62, progress, None, None, True, "EI_parts")
    return pair_information(counts.pairs)


@_document
def ei_parts(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
             samples=10**7, seed=0, overflow="clip", progress=None,
             method="sampled") -> float:
    """EI_parts: the sum over (input, output) pairs of ``I(X_i; Y_j)`` (paper eq. 3).

    Parameters
    ----------
    {common}
    samples : int, "auto" or "extrapolate", default 10**7
        Noise samples ("sampled" only). {rules}
    method : {{"sampled", "exact"}}, default "sampled"
        See :func:`ei_parts_matrix`.

    Returns
    -------
    float
        EI_parts in bits.

    See Also
    --------
    ei_parts_matrix : the per-edge terms.
    """
    return _by_sample_rule(samples, lambda n: float(ei_parts_matrix(
        network, span=span, in_bins=in_bins, out_bins=out_bins, in_range=in_range,
        out_range=out_range, samples=n, seed=seed, overflow=overflow, progress=progress,
        method=method).sum()))


@_document
def sensitivity_matrix(network, *, span=0, in_bins=8, out_bins=8, in_range=None,
                       out_range=None, samples=5000, seed=0, baseline=0.0,
                       overflow="clip", progress=None, method="sampled") -> np.ndarray:
    """Per-edge sensitivity: ``I(X_i; Y_j)`` when input ``i`` alone is perturbed.

    ``method="exact"`` integrates each edge's transfer (no noise, no plug-in bias) for
    one layer with monotone activations; ``"sampled"`` reproduces the paper's 5000-sample
    plug-in and works for spans and any activation.

    Parameters
    ----------
    {common}
    samples : int, default 5000
        Noise samples per input node (the paper used 5000; "sampled" only).
    baseline : float, default 0.0
        Value at which the other inputs are held.
    method : {{"sampled", "exact"}}, default "sampled"
        Estimator.

    Returns
    -------
    ndarray, shape (n_in, n_out)
        Sensitivity of each edge, in bits.

    Examples
    --------
    >>> import numpy as np
    >>> sensitivity_matrix(np.eye(2) * 4.0, samples=20_000).round(2)
    array([[1.57, 0.  ],
           [0.  , 1.58]])
    """
    check_choice(method, "method", ("sampled", "exact"))
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    if method == "exact":
        return _exact_matrix(_exact.sensitivity_matrix_exact, network, setup, span,
                             baseline=_check_baseline(baseline))
    counts, _ = _sensitivity(setup, samples, seed, baseline, progress)
    return pair_information(counts)


@_document
def sensitivity(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
                samples=5000, seed=0, baseline=0.0, overflow="clip", progress=None,
                method="sampled") -> float:
    """Sensitivity of a span: the sum of its per-edge sensitivities (paper eq. 2).

    Parameters
    ----------
    {common}
    samples : int, "auto" or "extrapolate", default 5000
        Noise samples per input node ("sampled" only). {rules}
    baseline : float, default 0.0
        Value at which the other inputs are held.
    method : {{"sampled", "exact"}}, default "sampled"
        See :func:`sensitivity_matrix`.

    Returns
    -------
    float
        Sensitivity in bits.
    """
    return _by_sample_rule(samples, lambda n: float(sensitivity_matrix(
        network, span=span, in_bins=in_bins, out_bins=out_bins, in_range=in_range,
        out_range=out_range, samples=n, seed=seed, baseline=baseline, overflow=overflow,
        progress=progress, method=method).sum()))


@_document
def measure(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
            samples=10**7, sensitivity_samples=5000, seed=0, baseline=0.0, groups=(),
            overflow="clip", max_memory="1GiB", progress=None, method="sampled") -> Measures:
    """Every measure of a span from one joint noise stream, as the paper's runs did.

    EI, EI_parts and the group EIs use the same joint noise (sample ``s`` of input
    ``i`` is one value); sensitivity perturbs each input with that input's noise.
    ``method="converged"`` gives the infinite-sample values instead, for one layer:
    exact EI_parts and sensitivity, and exact (one or two inputs) or stratified EI.

    Parameters
    ----------
    {common}
    samples : int, default 10**7
        Joint noise samples for EI, EI_parts and group EI.
    sensitivity_samples : int, default 5000
        Samples per input node for sensitivity.
    baseline : float, default 0.0
        Value of the unperturbed inputs for sensitivity.
    groups : sequence of (inputs, outputs), default ()
        Node subsets for group EI, keyed by ``(tuple(inputs), tuple(outputs))``
        ("sampled" only).
    {memory}
    method : {{"sampled", "converged"}}, default "sampled"
        Estimators to use.

    Returns
    -------
    Measures
        ``ei``, ``ei_parts``, ``sensitivity``, ``degeneracy`` (sensitivity - EI),
        ``phi_feedforward`` (EI - EI_parts), both matrices, ``group_ei``, the sample
        counts, the counts of output values outside ``out_range`` and the passes made.

    Examples
    --------
    >>> import numpy as np
    >>> m = measure(np.eye(2) * 4.0, samples=20_000, sensitivity_samples=20_000)
    >>> abs(m.degeneracy) < 0.01 and abs(m.phi_feedforward) < 0.01
    True
    """
    check_choice(method, "method", ("sampled", "converged"))
    if method == "converged":
        return _converged_measures(network, span=span, in_bins=in_bins, out_bins=out_bins,
                                   in_range=in_range, out_range=out_range, seed=seed,
                                   baseline=baseline, groups=groups, overflow=overflow)
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    all_in, all_out = np.arange(setup.n_in), np.arange(setup.n_out)
    subsets = [(check_subset(a, "groups inputs", setup.n_in),
                check_subset(b, "groups outputs", setup.n_out)) for a, b in groups]
    joint = _joint(setup, samples, seed, max_memory, progress, all_in, all_out, True, "EI")
    group_values = {
        (tuple(a.tolist()), tuple(b.tolist())): _joint(
            setup, samples, seed, max_memory, progress, a, b, False, "group EI").information()
        for a, b in subsets
    }
    sens_counts, sens_outside = _sensitivity(setup, sensitivity_samples, seed, baseline,
                                             progress)
    value = joint.information()
    parts = pair_information(joint.pairs)
    sens = pair_information(sens_counts)
    return Measures(
        ei=value, ei_parts=float(parts.sum()), sensitivity=float(sens.sum()),
        degeneracy=float(sens.sum()) - value, phi_feedforward=value - float(parts.sum()),
        ei_parts_matrix=parts, sensitivity_matrix=sens, group_ei=group_values,
        samples=int(samples), sensitivity_samples=int(sensitivity_samples),
        valid_samples=joint.n_valid, out_of_range=joint.n_outside,
        sensitivity_out_of_range=sens_outside, passes=joint.passes)


def _converged_measures(network, *, span, in_bins, out_bins, in_range, out_range, seed,
                        baseline, groups, overflow) -> Measures:
    if groups:
        raise ValueError("groups need method='sampled'; group EI has no converged estimator yet")
    options = dict(span=span, in_bins=in_bins, out_bins=out_bins, in_range=in_range,
                   out_range=out_range, overflow=overflow)
    parts = ei_parts_matrix(network, method="exact", **options)
    sens = sensitivity_matrix(network, method="exact", baseline=baseline, **options)
    if parts.shape[0] <= 2:
        value, samples = ei(network, method="exact", **options), 0
    else:
        if overflow != "clip":
            raise ValueError("overflow='drop' needs method='sampled' for layers of more "
                             "than 2 inputs (stratified EI clips)")
        options.pop("overflow")
        estimate = ei_stratified(network, seed=seed, **options)
        value, samples = estimate.value, estimate.samples
    return Measures(
        ei=value, ei_parts=float(parts.sum()), sensitivity=float(sens.sum()),
        degeneracy=float(sens.sum()) - value, phi_feedforward=value - float(parts.sum()),
        ei_parts_matrix=parts, sensitivity_matrix=sens, group_ei={}, samples=samples,
        sensitivity_samples=0, valid_samples=samples, out_of_range=0,
        sensitivity_out_of_range=0, passes=1)


@_document
def degeneracy(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
               samples=10**7, sensitivity_samples=5000, seed=0, baseline=0.0,
               overflow="clip", max_memory="1GiB", progress=None) -> float:
    """Degeneracy = sensitivity - EI (see :func:`measure` for the parameters).

    Parameters
    ----------
    {common}
    samples, sensitivity_samples, baseline, max_memory
        As in :func:`measure`.

    Returns
    -------
    float
        Degeneracy in bits.
    """
    return measure(network, span=span, in_bins=in_bins, out_bins=out_bins,
                   in_range=in_range, out_range=out_range, samples=samples,
                   sensitivity_samples=sensitivity_samples, seed=seed, baseline=baseline,
                   overflow=overflow, max_memory=max_memory, progress=progress).degeneracy


@_document
def phi_feedforward(network, *, span=0, in_bins=8, out_bins=8, in_range=None,
                    out_range=None, samples=10**7, seed=0, overflow="clip",
                    max_memory="1GiB", progress=None) -> float:
    """phi_feedforward = EI - EI_parts from one joint noise stream (may be negative).

    Parameters
    ----------
    {common}
    samples : int, default 10**7
        Joint noise samples.
    {memory}

    Returns
    -------
    float
        phi_feedforward in bits.
    """
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    joint = _joint(setup, samples, seed, max_memory, progress, np.arange(setup.n_in),
                   np.arange(setup.n_out), True, "EI")
    return joint.information() - float(pair_information(joint.pairs).sum())


def warmup() -> None:
    """Compile every kernel on tiny inputs, so later calls pay no compile time.

    Compiled code is cached on disk, so this is needed once per installation (and once
    more after an upgrade). ``fastei warmup`` does the same from the command line.
    """
    measure([np.full((2, 3), 0.5)], samples=500, sensitivity_samples=50, groups=[([0], [1])])
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    # Budgets that force several passes: over input cells (outputs counted densely), then
    # over input cells and output states (8 outputs: output keys go to a table).
    for n_out, budget in ((2, 25_000), (8, 65_000)):
        setup = _span_setup(as_network([np.full((n_out, 3), 0.5)]), 0, 8, 8, None, None, "drop")
        JointCounter(setup, key, 2000, np.arange(3), np.arange(n_out), False, budget,
                     chunk_rows=100).run()
