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

from . import _rng
from ._sampling import JointCounter, PreparedLayer, Span, pair_information, sensitivity_counts
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

_MEMORY_PARAMETER = """max_memory : int or str, default "1GiB"
        Budget for the state tables and buffers. When the distinct states would not
        fit, the key space is split and the noise stream is regenerated once per part;
        the result is the same."""


def _document(function):
    function.__doc__ = function.__doc__.format(
        common=_COMMON_PARAMETERS, memory=_MEMORY_PARAMETER)
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


def _sensitivity(setup, samples, seed, baseline, progress):
    samples = check_int(samples, "samples", 1)
    baseline = float(baseline)
    if not math.isfinite(baseline):
        raise ValueError(f"baseline must be finite, got {baseline}")
    key = _rng.stream_key(seed, _rng.SENSITIVITY_STREAM)
    bar = _progress_bar(progress, samples * setup.n_in, "sensitivity")
    try:
        return sensitivity_counts(setup, key, samples, baseline, progress=bar)
    finally:
        if bar is not None:
            bar.close()


@_document
def ei(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
       samples=10**7, seed=0, overflow="clip", max_memory="1GiB", progress=None) -> float:
    """Effective information ``I(X; Y)`` of a span under ``do(inputs = uniform noise)``.

    The plug-in estimate from ``samples`` noise samples: joint binned input and output
    states are counted in hash tables, ``EI = H(X) + H(Y) - H(X, Y)``. It is biased
    upward at small ``samples`` and, for wide inputs (where no input cell is seen
    twice), it tends to ``H(Y)`` at any feasible sample count.

    Parameters
    ----------
    {common}
    samples : int, default 10**7
        Noise samples (the paper used 10**7).
    {memory}

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
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    return _joint(setup, samples, seed, max_memory, progress, np.arange(setup.n_in),
                  np.arange(setup.n_out), False, "EI").information()


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
                    progress=None) -> np.ndarray:
    """Per-edge terms ``I(X_i; Y_j)`` of EI_parts, under the joint intervention.

    Parameters
    ----------
    {common}
    samples : int, default 10**7
        Noise samples.

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
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    counts = _joint(setup, samples, seed, 2**62, progress, None, None, True, "EI_parts")
    return pair_information(counts.pairs)


@_document
def ei_parts(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
             samples=10**7, seed=0, overflow="clip", progress=None) -> float:
    """EI_parts: the sum over (input, output) pairs of ``I(X_i; Y_j)`` (paper eq. 3).

    Parameters
    ----------
    {common}
    samples : int, default 10**7
        Noise samples.

    Returns
    -------
    float
        EI_parts in bits.

    See Also
    --------
    ei_parts_matrix : the per-edge terms.
    """
    return float(ei_parts_matrix(
        network, span=span, in_bins=in_bins, out_bins=out_bins, in_range=in_range,
        out_range=out_range, samples=samples, seed=seed, overflow=overflow,
        progress=progress).sum())


@_document
def sensitivity_matrix(network, *, span=0, in_bins=8, out_bins=8, in_range=None,
                       out_range=None, samples=5000, seed=0, baseline=0.0,
                       overflow="clip", progress=None) -> np.ndarray:
    """Per-edge sensitivity: ``I(X_i; Y_j)`` when input ``i`` alone is perturbed.

    Parameters
    ----------
    {common}
    samples : int, default 5000
        Noise samples per input node (the paper used 5000).
    baseline : float, default 0.0
        Value at which the other inputs are held.

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
    setup = _span_setup(network, span, in_bins, out_bins, in_range, out_range, overflow)
    counts, _ = _sensitivity(setup, samples, seed, baseline, progress)
    return pair_information(counts)


@_document
def sensitivity(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
                samples=5000, seed=0, baseline=0.0, overflow="clip", progress=None) -> float:
    """Sensitivity of a span: the sum of its per-edge sensitivities (paper eq. 2).

    Parameters
    ----------
    {common}
    samples : int, default 5000
        Noise samples per input node.
    baseline : float, default 0.0
        Value at which the other inputs are held.

    Returns
    -------
    float
        Sensitivity in bits.
    """
    return float(sensitivity_matrix(
        network, span=span, in_bins=in_bins, out_bins=out_bins, in_range=in_range,
        out_range=out_range, samples=samples, seed=seed, baseline=baseline,
        overflow=overflow, progress=progress).sum())


@_document
def measure(network, *, span=0, in_bins=8, out_bins=8, in_range=None, out_range=None,
            samples=10**7, sensitivity_samples=5000, seed=0, baseline=0.0, groups=(),
            overflow="clip", max_memory="1GiB", progress=None) -> Measures:
    """Every measure of a span from one joint noise stream, as the paper's runs did.

    EI, EI_parts and the group EIs use the same joint noise (sample ``s`` of input
    ``i`` is one value); sensitivity perturbs each input with that input's noise.

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
        Node subsets for group EI, keyed by ``(tuple(inputs), tuple(outputs))``.
    {memory}

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
    network = as_network([np.full((2, 3), 0.5)])
    measure(network, samples=500, sensitivity_samples=50, groups=[([0], [1])])
    setup = _span_setup(network, 0, 8, 8, None, None, "drop")
    key = _rng.stream_key(0, _rng.JOINT_STREAM)
    everything = np.arange(3), np.arange(2)
    for budget in (25_000, 13_000):  # several passes over inputs, then over outputs too
        JointCounter(setup, key, 2000, *everything, False, budget, chunk_rows=100).run()
