"""One frozen, validated set of estimator options, built once from the keywords.

Every public estimator declares which of the options in :data:`OPTIONS` it takes; the
keywords are checked here, once, before any kernel runs, and :meth:`Options.span_setup`
turns them and a network into the :class:`~fastei._sampling.Span` the kernels take.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import numbers
from dataclasses import dataclass, fields

import numpy as np

from .. import _rng
from .._sampling import Span, check_preactivation_bounds
from .._validation import (
    check_bins,
    check_choice,
    check_int,
    check_memory,
    check_range,
    check_span,
    check_subset,
)
from ..network import as_network

__all__ = ["MAX_BINS", "OPTIONS", "Option", "Options", "make_options"]

MAX_BINS = 2**15 - 1
SAMPLE_RULES = ("auto", "extrapolate")


@dataclass(frozen=True)
class Option:
    """A keyword option: its default, the type line and the text of its documentation."""

    default: object
    kind: str
    doc: str


OPTIONS = {
    "span": Option(0, "int or (int, int), default 0",
                   "Layer index, or ``(start, end)`` for the map from layer ``start``'s inputs "
                   "to layer ``end``'s outputs; negative indices count from the end."),
    "inputs": Option(None, "sequence of int, optional",
                     "Input nodes ``A`` of the span whose joint state is counted; default all."),
    "outputs": Option(None, "sequence of int, optional",
                      "Output nodes ``B`` of the span whose joint state is counted; default all."),
    "in_bins": Option(8, "int, default 8", "Bins per input node (2 to 32767)."),
    "out_bins": Option(8, "int, default 8", "Bins per output node (2 to 32767)."),
    "in_range": Option(None, "(float, float), optional",
                       "Intervention range of the inputs; default the previous layer's "
                       "activation range, (0, 1) for layer 0."),
    "out_range": Option(None, "(float, float), optional",
                        "Binning range of the outputs; default the last layer's activation "
                        "range ((0, 1) for relu). Unbounded activations need one."),
    "samples": Option(10**7, "int, default 10**7", "Joint noise samples."),
    "sensitivity_samples": Option(5000, "int, default 5000",
                                  "Noise samples per input node for sensitivity."),
    "seed": Option(0, "None, int, SeedSequence or Generator, default 0",
                   "Noise seed; the same seed gives the same bits with any thread count. "
                   "``None`` draws a fresh seed, recorded in the settings."),
    "baseline": Option(0.0, "float, default 0.0",
                       "Value at which the unperturbed inputs are held for sensitivity."),
    "groups": Option((), "sequence of (inputs, outputs), default ()",
                     "Node subsets for group EI, keyed by ``(tuple(inputs), tuple(outputs))``."),
    "overflow": Option("clip", '{"clip", "drop"}, default "clip"',
                       'Outputs outside ``out_range`` go to the edge bin ("clip"), or the '
                       'sample is discarded ("drop", the paper\'s relu convention; for a '
                       "pairwise term only the output of that pair counts)."),
    "cells": Option(4000, "int, default 4000", 'Input cells drawn by the stratified estimator.'),
    "points_per_cell": Option(2048, "int, default 2048",
                              "Points drawn inside each cell by the stratified estimator."),
    "max_memory": Option("1GiB", 'int or str, default "1GiB"',
                         "Budget in bytes (or a size such as ``\"512MB\"``) for tables and "
                         "buffers. Sampled counts that would not fit are made in several passes "
                         "over the regenerated noise, with the same result; other estimators "
                         "refuse to start when their tables would not fit."),
    "blocks": Option(None, "int, optional",
                     "Least number of parts each sampled count is split into: passes over the "
                     "input cells for joint states, blocks of samples otherwise (more when "
                     "``max_memory`` asks for them). Any split gives the same counts, so the "
                     "same value bit for bit. Default: what the budget needs, and with an "
                     "``executor`` one block per 2**24 samples of the pairwise counts."),
    "executor": Option(None, "concurrent.futures.Executor, optional",
                       "Counts the parts as tasks, for example on a Dask cluster through "
                       "``distributed.Client(...).get_executor()``; each task returns its "
                       "tallies (never samples) and this process merges them in part order. "
                       "Default: counted here, one part after the other."),
    "progress": Option(None, "bool or None, default None",
                       "Show a progress bar; ``None`` shows one for long runs on a terminal."),
    "method": Option("sampled", "str", "Estimator."),
}


@dataclass(frozen=True)
class Options:
    """Validated estimator options (see :data:`OPTIONS` for their meaning).

    Build it with :func:`make_options`; fields that need the network (span, default
    ranges) are resolved by :meth:`span_setup`, node subsets by :meth:`node_subsets`.
    """

    span: int | tuple[int, int] = 0
    inputs: tuple[int, ...] | None = None
    outputs: tuple[int, ...] | None = None
    in_bins: int = 8
    out_bins: int = 8
    in_range: tuple[float, float] | None = None
    out_range: tuple[float, float] | None = None
    samples: int | str = 10**7
    sensitivity_samples: int = 5000
    seed: object = 0
    baseline: float = 0.0
    groups: tuple = ()
    overflow: str = "clip"
    cells: int = 4000
    points_per_cell: int = 2048
    max_memory: int = 2**30
    blocks: int | None = None
    executor: object = None
    progress: bool | None = None
    method: str = "sampled"

    @property
    def drop(self) -> bool:
        """Whether out-of-range samples are discarded."""
        return self.overflow == "drop"

    def key(self, stream: int) -> np.uint64:
        """The uint64 key of one noise stream of this seed."""
        return _rng.stream_key(self.seed, stream)

    def span_setup(self, network) -> Span:
        """Resolve the span and its default ranges against ``network`` for the kernels."""
        network = as_network(network)
        start, end = check_span(self.span, len(network))
        in_range = self.in_range
        if in_range is None:
            in_range = (0.0, 1.0) if start == 0 else _default_range(network, start - 1,
                                                                      "in_range")
        out_range = self.out_range
        if out_range is None:
            out_range = _default_range(network, end, "out_range")
        layers = tuple(layer.prepared() for layer in network.layers[start:end + 1])
        span = Span(layers, network.layers[start].n_in, network.layers[end].n_out,
                    check_range(in_range, "in_range"), check_range(out_range, "out_range"),
                    self.in_bins, self.out_bins, self.drop, start)
        check_preactivation_bounds(span)
        return span

    def node_subsets(self, setup: Span):
        """``inputs``, ``outputs`` and each group's pair as sorted index arrays within the span
        (``None``: every node)."""
        def nodes(value, name, size):
            return check_subset(value, name, size)

        return (nodes(self.inputs, "inputs", setup.n_in),
                nodes(self.outputs, "outputs", setup.n_out),
                [(nodes(a, "groups inputs", setup.n_in), nodes(b, "groups outputs", setup.n_out))
                 for a, b in self.groups])

    def single_layer(self, network):
        """The one layer of the span, for the estimators that work on a single layer."""
        network = as_network(network)
        start, end = check_span(self.span, len(network))
        if start != end:
            raise ValueError(
                f"method={self.method!r} works on one layer; span ({start}, {end}) has "
                f"{end - start + 1}; use method='sampled' or measure the layers one by one")
        return network.layers[start].to_dense(self.max_memory)

    def settings(self) -> dict:
        """The options as JSON types, for records beside the values (the executor left out)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "executor"}
        values["seed"] = self.seed if isinstance(self.seed, int) else repr(self.seed)
        values["groups"] = [[None if nodes is None else list(nodes) for nodes in group]
                            for group in self.groups]
        for name, value in values.items():
            if isinstance(value, tuple):
                values[name] = list(value)
        return values


def _default_range(network, layer_index, name):
    while network.layers[layer_index].keeps_range:  # a pooling layer: its inputs' range
        if layer_index == 0:
            return (0.0, 1.0)
        layer_index -= 1
    activation = network.layers[layer_index].activation
    if activation.default_range is None:
        raise ValueError(
            f"{name} has no default: layer {layer_index} uses the unbounded activation "
            f"{activation.name!r}; pass {name}=(lo, hi)")
    return activation.default_range


def _span(value):
    check_span(value)
    return int(value) if isinstance(value, numbers.Integral) else tuple(int(v) for v in value)


def _node_list(value, name):
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of node indices or None, got {value!r}")
    nodes = tuple(value)
    if not nodes or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                            for v in nodes):
        raise TypeError(f"{name} must be a non-empty list of integer node indices, got {value!r}")
    return tuple(int(v) for v in nodes)


def _samples(value, name, rules):
    if isinstance(value, str):
        if rules and value in SAMPLE_RULES:
            return value
        allowed = "a number" + (" or one of 'auto', 'extrapolate'" if rules else "")
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return check_int(value, name, 1)


def _bins(value, name):
    value = check_bins(value, name)
    if value > MAX_BINS:
        raise ValueError(f"{name} must be <= {MAX_BINS}, got {value}")
    return value


def _seed(seed):
    """A seed drawn once: ``None`` and generators become a recorded integer."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    _rng.stream_key(seed, 0)  # raises for a seed of the wrong type or sign
    return int(seed) if isinstance(seed, numbers.Integral) else seed


def _baseline(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"baseline must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"baseline must be finite, got {value}")
    return float(value)


def _groups(value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"groups must be a list of (inputs, outputs) pairs, got {value!r}")
    groups = []
    for group in value:
        try:
            inputs, outputs = group
        except (TypeError, ValueError):
            raise TypeError(
                f"each group must be a pair (inputs, outputs) of node lists, got {group!r}"
            ) from None
        groups.append((_node_list(inputs, "groups inputs"),
                       _node_list(outputs, "groups outputs")))
    return tuple(groups)


def _progress(value):
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"progress must be True, False or None, got {value!r}")
    return value


def _executor(value):
    if value is not None and not callable(getattr(value, "submit", None)):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor (for example "
            f"distributed.Client(...).get_executor()), got {value!r}")
    context = getattr(value, "_mp_context", None)
    if isinstance(value, cf.ProcessPoolExecutor) and context.get_start_method() == "fork":
        raise ValueError(
            "executor is a ProcessPoolExecutor that forks, and a forked worker cannot run "
            "the kernels' OpenMP threads; pass "
            "mp_context=multiprocessing.get_context('spawn') to it")
    return value


def _range(value, name):
    return None if value is None else check_range(value, name)


_CHECKS = {
    "span": lambda v, n: _span(v),
    "inputs": _node_list,
    "outputs": _node_list,
    "in_bins": _bins,
    "out_bins": _bins,
    "in_range": _range,
    "out_range": _range,
    "sensitivity_samples": lambda v, n: _samples(v, n, False),
    "seed": lambda v, n: _seed(v),
    "baseline": lambda v, n: _baseline(v),
    "groups": lambda v, n: _groups(v),
    "overflow": lambda v, n: check_choice(v, n, ("clip", "drop")),
    "cells": lambda v, n: check_int(v, n, 2),
    "points_per_cell": lambda v, n: check_int(v, n, 2),
    "max_memory": lambda v, n: check_memory(v),
    "blocks": lambda v, n: None if v is None else check_int(v, n, 1),
    "executor": lambda v, n: _executor(v),
    "progress": lambda v, n: _progress(v),
}


def make_options(values: dict, *, methods: tuple[str, ...], sample_rules: bool) -> Options:
    """Validate the keywords of one estimator call into :class:`Options`.

    Parameters
    ----------
    values : dict
        Keyword arguments, each a name in :data:`OPTIONS`.
    methods : tuple of str
        The ``method`` values this estimator accepts.
    sample_rules : bool
        Whether ``samples`` may be ``"auto"`` or ``"extrapolate"``.

    Raises
    ------
    ValueError, TypeError
        For an invalid value; the message names the option and the fix.
    """
    checked = {}
    for name, value in values.items():
        if name == "samples":
            checked[name] = _samples(value, name, sample_rules)
        elif name == "method":
            checked[name] = check_choice(value, name, methods)
        else:
            checked[name] = _CHECKS[name](value, name)
    return Options(**checked)
