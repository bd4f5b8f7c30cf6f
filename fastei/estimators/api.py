"""The public measures of a span: thin functions that plan, run the counts and convert.

Values are in bits. The intervention sets every input node of the span, independently, to
a value drawn uniformly from ``in_range``; inputs and outputs are binned into equal-width
bins. Per-edge matrices are oriented like the weights: ``(n_out, n_in)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import _exact, _rng
from .._sampling import count_joint, pair_information, plan_joint, sensitivity_counts
from .._stratified import StratifiedEstimate, stratified_ei
from .._version import __version__
from ._signatures import estimator

__all__ = [
    "Measures",
    "StratifiedEstimate",
    "degeneracy",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "ei_stratified",
    "group_ei",
    "measure",
    "phi_feedforward",
    "sensitivity",
    "sensitivity_matrix",
]

_PROGRESS_THRESHOLD = 20_000_000
# The doubling and extrapolation rules assume the plug-in falls as samples grow. Plug-in
# joint EI does so only once every input cell is seen many times (at the rules' first
# 100,000 samples, at least 10 per cell); before that it rises, then falls (paper SI).
_RULES_MAX_CELLS = 10_000
_BINNING = ("span", "in_bins", "out_bins", "in_range", "out_range")
_PARTS = ("blocks", "executor")
_SAMPLED = _BINNING + ("samples", "seed", "overflow", "max_memory", *_PARTS, "progress")
# rows per block of the pairwise counts sent to an executor (a fixed size, so the split
# never depends on the workers)
_EXECUTOR_BLOCK = 1 << 24
_STRATIFIED = ("cells", "points_per_cell")


@dataclass(frozen=True, repr=False)
class Measures:
    """Every measure of one span (see :func:`measure`), in bits.

    Attributes
    ----------
    ei, ei_parts, sensitivity, degeneracy, phi_feedforward : float
    ei_parts_matrix, sensitivity_matrix : ndarray, shape (n_out, n_in)
        Per-edge terms, oriented like the weights.
    group_ei : dict
        ``{(inputs, outputs): bits}`` for the requested groups.
    samples, sensitivity_samples, valid_samples : int
        Noise samples drawn and, of the joint ones, kept (all unless ``overflow="drop"``).
    out_of_range, sensitivity_out_of_range : int
        Output values outside ``out_range`` (clipped or dropped).
    passes : int
        Passes over the regenerated noise stream made to stay within ``max_memory``.
    settings : dict
        Every option the values depend on (JSON types).
    """

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
    settings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        n_out, n_in = self.ei_parts_matrix.shape
        return (f"Measures(ei={self.ei:.4f}, ei_parts={self.ei_parts:.4f}, "
                f"sensitivity={self.sensitivity:.4f}, degeneracy={self.degeneracy:.4f}, "
                f"phi_feedforward={self.phi_feedforward:.4f}, edges={n_out}x{n_in}, "
                f"samples={self.samples}, method={self.settings.get('method')!r})")

    def to_dict(self) -> dict:
        """The measures and their settings as JSON types (matrices as nested lists)."""
        values = asdict(self)
        values["ei_parts_matrix"] = self.ei_parts_matrix.tolist()
        values["sensitivity_matrix"] = self.sensitivity_matrix.tolist()
        values["group_ei"] = [{"inputs": list(a), "outputs": list(b), "ei": value}
                              for (a, b), value in self.group_ei.items()]
        return values


def _progress_bar(progress, work, description):
    if progress is False or (progress is None and work < _PROGRESS_THRESHOLD):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=work, desc=description, unit="sample", unit_scale=True,
                disable=None if progress is None else False, leave=False)


def _blocks(options, samples, joint):
    """Least number of parts of a count: as asked, else one per ``_EXECUTOR_BLOCK`` rows of
    pairwise counts sent to an executor (joint counts: what the budget needs)."""
    if options.blocks is not None:
        return options.blocks
    if options.executor is None or joint:
        return 1
    return -(-samples // _EXECUTOR_BLOCK)


def _joint(setup, options, samples, inputs, outputs, pairs, label):
    """Joint counts of ``samples`` rows of the seed's joint stream."""
    bar = _progress_bar(options.progress, samples, label)
    try:
        plan = plan_joint(setup, options.key(_rng.JOINT_STREAM), samples, inputs, outputs,
                          pairs, options.max_memory,
                          least_passes=_blocks(options, samples, inputs is not None))
        return count_joint(plan, options.executor, bar)
    finally:
        if bar is not None:
            bar.close()


def _all_nodes(setup):
    return np.arange(setup.n_in), np.arange(setup.n_out)


def _sensitivity_counts(setup, options, samples):
    bar = _progress_bar(options.progress, samples * setup.n_in, "sensitivity")
    try:
        return sensitivity_counts(setup, options.key(_rng.SENSITIVITY_STREAM), samples,
                                  options.baseline, progress=bar, max_memory=options.max_memory,
                                  blocks=_blocks(options, samples, False),
                                  executor=options.executor)
    finally:
        if bar is not None:
            bar.close()


def _edges(pairwise: np.ndarray) -> np.ndarray:
    """Per-edge terms ``(n_in, n_out)`` of the counting code, oriented like the weights."""
    return np.ascontiguousarray(pairwise.T)


def _exact_layer(function, network, options, **extra):
    setup = options.span_setup(network)
    return function(options.single_layer(network), in_range=setup.in_range,
                    out_range=setup.out_range, in_bins=setup.in_bins,
                    out_bins=setup.out_bins, overflow=options.overflow,
                    max_memory=options.max_memory, **extra)


def _by_sample_rule(options, estimate, cells=None):
    """``estimate(options.samples)``, or the value the paper's convergence rules settle on."""
    from ..convergence import converge_by_doubling, extrapolate

    if not isinstance(options.samples, str):
        return estimate(options.samples)
    if cells is not None and cells > _RULES_MAX_CELLS:
        raise ValueError(
            f"samples={options.samples!r} cannot converge plug-in EI here: the span has "
            f"{cells:.3g} input cells, so the plug-in first rises, then falls, and the rules "
            "stop early; use method='stratified' for a converged value")
    rule = converge_by_doubling if options.samples == "auto" else extrapolate
    return rule(estimate).value


def _total(matrix, network, options) -> float:
    """The sum of a per-edge matrix, at ``samples`` or by the sample rules."""
    return _by_sample_rule(options, lambda n: float(
        matrix(network, replace(options, samples=n)).sum()))


@estimator(*_SAMPLED, *_STRATIFIED, methods=("sampled", "stratified", "exact"),
           sample_rules=True)
def ei(network, options) -> float:
    """Effective information ``I(X; Y)`` of a span under ``do(inputs = uniform noise)``.

    ``method="sampled"`` (the paper's plug-in): joint binned input and output states of
    ``samples`` noise samples are counted in hash tables, ``EI = H(X) + H(Y) - H(X, Y)``.
    It is biased upward at small ``samples`` and, for wide inputs (where no input cell
    is seen twice), it tends to ``H(Y)`` at any feasible sample count: use it to
    reproduce the paper, or for narrow spans. ``method="stratified"`` converges for any
    width (see :func:`ei_stratified`); ``method="exact"`` integrates exactly, for one
    layer with one or two inputs. The sample rules apply to narrow spans only.

    Parameters
    ----------
    {parameters}

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
    if options.method == "exact":
        return _exact_layer(_exact.ei_exact, network, options)
    if options.method == "stratified":
        return _stratified(network, options).value
    setup = options.span_setup(network)
    inputs, outputs = _all_nodes(setup)
    return _by_sample_rule(
        options,
        lambda n: _joint(setup, options, n, inputs, outputs, False, "EI").information(),
        cells=float(setup.in_bins) ** setup.n_in)


def _stratified(network, options) -> StratifiedEstimate:
    if options.drop:
        raise ValueError(
            "overflow='drop' needs method='sampled': the stratified estimator keeps every "
            "input cell equally likely, which dropping samples would break; use "
            "overflow='clip', or method='sampled'")
    keys = [options.key(stream) for stream in _rng.STRATIFIED_STREAMS]
    return stratified_ei(options.span_setup(network), keys, options.cells,
                         options.points_per_cell, max_memory=options.max_memory)


@estimator(*_BINNING, "seed", "cells", "points_per_cell", "max_memory")
def ei_stratified(network, options) -> StratifiedEstimate:
    """Converged joint EI by stratified sampling, with its standard error.

    Because the intervention makes every input cell equally likely,
    ``EI = H(Y) - E_x[H(Y | X = x)]``: ``cells`` cells are drawn uniformly and
    ``points_per_cell`` points inside each; ``H(Y)`` comes from as many independent
    uniform points. Use it for joint EI of wide spans, where the plug-in never converges
    (25 inputs at 8 bins have 4e22 cells). Outputs outside ``out_range`` are clipped.

    Parameters
    ----------
    {parameters}

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

    Examples
    --------
    >>> import numpy as np
    >>> est = ei_stratified(np.eye(2) * 4.0, cells=500, points_per_cell=256)
    >>> abs(est.value - 3.12) < 4 * est.standard_error + 0.02
    True
    """
    return _stratified(network, options)


@estimator(*_SAMPLED, "inputs", "outputs")
def group_ei(network, options) -> float:
    """Group EI ``I(X_A; Y_B)`` between chosen inputs and outputs of a span.

    Every input of the span is perturbed (the same noise as :func:`ei` with the same
    seed); only the states of the chosen nodes are counted.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    float
        Group EI in bits.

    Examples
    --------
    >>> import numpy as np
    >>> round(group_ei(np.eye(2) * 4.0, inputs=[0], outputs=[1], samples=20_000), 3)
    0.001
    """
    setup = options.span_setup(network)
    inputs, outputs, _ = options.node_subsets(setup)
    return _joint(setup, options, options.samples, inputs, outputs, False,
                  "group EI").information()


@estimator(*_SAMPLED, methods=("sampled", "exact"))
def ei_parts_matrix(network, options) -> np.ndarray:
    """Per-edge terms ``I(X_i; Y_j)`` of EI_parts, under the joint intervention.

    ``method="exact"`` integrates each term (no noise, no plug-in bias) for one layer
    with monotone activations, and is much faster; use ``"sampled"`` to reproduce the
    paper's plug-in numbers, for spans of several layers, or for activations without
    an inverse.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    ndarray, shape (n_out, n_in)
        Mutual information of each edge in bits, oriented like the weights: entry
        ``[j, i]`` is the edge from input ``i`` to output ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> ei_parts_matrix(np.array([[4.0, 0.0], [3.0, 0.5]]), samples=20_000).round(2)
    array([[1.57, 0.  ],
           [1.35, 0.03]])
    """
    return _ei_parts_matrix(network, options)


def _ei_parts_matrix(network, options):
    if options.method == "exact":
        return _edges(_exact_layer(_exact.ei_parts_matrix_exact, network, options))
    setup = options.span_setup(network)
    return _edges(pair_information(
        _joint(setup, options, options.samples, None, None, True, "EI_parts").pairs))


@estimator(*_SAMPLED, methods=("sampled", "exact"), sample_rules=True)
def ei_parts(network, options) -> float:
    """EI_parts: the sum over (input, output) pairs of ``I(X_i; Y_j)`` (paper eq. 3).

    Parameters
    ----------
    {parameters}

    Returns
    -------
    float
        EI_parts in bits.

    See Also
    --------
    ei_parts_matrix : the per-edge terms.
    """
    return _total(_ei_parts_matrix, network, options)


_SENSITIVITY = _BINNING + ("samples", "seed", "baseline", "overflow", "max_memory", *_PARTS,
                           "progress")
_PER_NODE = "Noise samples per input node (the paper used 5000)."


@estimator(*_SENSITIVITY, methods=("sampled", "exact"), samples=5000, samples_doc=_PER_NODE)
def sensitivity_matrix(network, options) -> np.ndarray:
    """Per-edge sensitivity: ``I(X_i; Y_j)`` when input ``i`` alone is perturbed.

    ``method="exact"`` integrates each edge's transfer (no noise, no plug-in bias) for
    one layer with monotone activations; ``"sampled"`` reproduces the paper's 5000-sample
    plug-in and works for spans and any activation.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    ndarray, shape (n_out, n_in)
        Sensitivity of each edge in bits, oriented like the weights.

    Examples
    --------
    >>> import numpy as np
    >>> sensitivity_matrix(np.array([[4.0, 0.0], [3.0, 0.5]]), samples=20_000).round(2)
    array([[1.57, 0.  ],
           [1.68, 0.  ]])
    """
    return _sensitivity_matrix(network, options)


def _sensitivity_matrix(network, options):
    if options.method == "exact":
        return _edges(_exact_layer(_exact.sensitivity_matrix_exact, network, options,
                             baseline=options.baseline))
    setup = options.span_setup(network)
    counts, _ = _sensitivity_counts(setup, options, options.samples)
    return _edges(pair_information(counts))


@estimator(*_SENSITIVITY, methods=("sampled", "exact"), samples=5000, samples_doc=_PER_NODE,
           sample_rules=True)
def sensitivity(network, options) -> float:
    """Sensitivity of a span: the sum of its per-edge sensitivities (paper eq. 2).

    Parameters
    ----------
    {parameters}

    Returns
    -------
    float
        Sensitivity in bits.

    See Also
    --------
    sensitivity_matrix : the per-edge terms.
    """
    return _total(_sensitivity_matrix, network, options)


_ALL = _SAMPLED + ("sensitivity_samples", "baseline") + _STRATIFIED
_CONVERGED = ("sampled", "converged")


@estimator(*_ALL, "groups", methods=_CONVERGED)
def measure(network, options) -> Measures:
    """Every measure of a span from one joint noise stream, as the paper's runs did.

    EI, EI_parts and the group EIs use the same joint noise (sample ``s`` of input
    ``i`` is one value); sensitivity perturbs each input with that input's noise.
    ``method="converged"`` gives the infinite-sample values instead, for one layer:
    exact EI_parts and sensitivity, and exact (one or two inputs) or stratified EI.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    Measures
        ``ei``, ``ei_parts``, ``sensitivity``, ``degeneracy`` (sensitivity - EI),
        ``phi_feedforward`` (EI - EI_parts), both matrices, ``group_ei``, the sample
        counts, the counts of output values outside ``out_range``, the passes made and
        the settings.

    Examples
    --------
    >>> import numpy as np
    >>> m = measure(np.eye(2) * 4.0, samples=20_000, sensitivity_samples=20_000)
    >>> abs(m.degeneracy) < 0.01 and abs(m.phi_feedforward) < 0.01
    True
    """
    return _measure(network, options)


def _measure(network, options) -> Measures:
    if options.method == "converged":
        return _converged(network, options)
    setup = options.span_setup(network)
    inputs, outputs = _all_nodes(setup)
    _, _, groups = options.node_subsets(setup)
    joint = _joint(setup, options, options.samples, inputs, outputs, True, "EI")
    group_values = {
        (tuple(a.tolist()), tuple(b.tolist())): _joint(
            setup, options, options.samples, a, b, False, "group EI").information()
        for a, b in groups}
    sens_counts, sens_outside = _sensitivity_counts(setup, options, options.sensitivity_samples)
    return _measures(options, setup, joint.information(),
                     _edges(pair_information(joint.pairs)),
                     _edges(pair_information(sens_counts)), group_ei=group_values,
                     samples=options.samples, sensitivity_samples=options.sensitivity_samples,
                     valid_samples=joint.n_valid, out_of_range=joint.n_outside,
                     sensitivity_out_of_range=sens_outside, passes=joint.passes)


def _measures(options, setup, value, parts, sens, **counts) -> Measures:
    settings = {**options.settings(), "in_range": list(setup.in_range),
                "out_range": list(setup.out_range), "fastei_version": __version__}
    return Measures(ei=value, ei_parts=float(parts.sum()), sensitivity=float(sens.sum()),
                    degeneracy=float(sens.sum()) - value,
                    phi_feedforward=value - float(parts.sum()), ei_parts_matrix=parts,
                    sensitivity_matrix=sens, settings=settings, **counts)


def _converged(network, options) -> Measures:
    if options.groups:
        raise ValueError("groups need method='sampled'; group EI has no converged estimator yet")
    exact = replace(options, method="exact")
    parts = _ei_parts_matrix(network, exact)
    sens = _sensitivity_matrix(network, exact)
    if parts.shape[1] <= 2:
        value, samples = _exact_layer(_exact.ei_exact, network, exact), 0
    else:
        estimate = _stratified(network, options)
        value, samples = estimate.value, estimate.samples
    return _measures(options, options.span_setup(network), value, parts, sens, group_ei={},
                     samples=samples, sensitivity_samples=0, valid_samples=samples,
                     out_of_range=0, sensitivity_out_of_range=0, passes=1)


@estimator(*_ALL, methods=_CONVERGED)
def degeneracy(network, options) -> float:
    """Degeneracy = sensitivity - EI, from :func:`measure` with the same options.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    float
        Degeneracy in bits.
    """
    return _measure(network, options).degeneracy


@estimator(*_SAMPLED, *_STRATIFIED, methods=_CONVERGED)
def phi_feedforward(network, options) -> float:
    """phi_feedforward = EI - EI_parts from one joint noise stream (may be negative).

    Parameters
    ----------
    {parameters}

    Returns
    -------
    float
        phi_feedforward in bits.
    """
    if options.method == "converged":
        return _converged(network, options).phi_feedforward
    setup = options.span_setup(network)
    inputs, outputs = _all_nodes(setup)
    joint = _joint(setup, options, options.samples, inputs, outputs, True, "EI")
    return joint.information() - float(pair_information(joint.pairs).sum())
