"""Compile every kernel up front, so that later calls pay no compile time."""

from __future__ import annotations

import numpy as np

from .. import _exact, _rng
from .._sampling import _Table, count_joint, plan_joint
from ..conv import Conv2d
from . import api
from .options import make_options


def warmup() -> None:
    """Compile every kernel on tiny inputs, so later calls pay no compile time.

    Compiled code is cached on disk, so this is needed once per installation (and once
    more after an upgrade). ``fastei warmup`` does the same from the command line.
    """
    weights = np.full((2, 3), 0.5)
    api.measure(weights, samples=500, sensitivity_samples=50, groups=[([0], [1])])
    api.measure(weights[:, :2], method="converged")
    _exact.two_input_ei_exact(weights[:, :2], "sigmoid", in_range=(0.0, 1.0),
                              out_range=(0.0, 1.0), in_bins=2, out_bins=2)  # grids of layers
    api.measure(weights, method="converged", cells=4, points_per_cell=4)
    api.measure(Conv2d(np.full((2, 1, 2, 2), 0.5), input_shape=(1, 2, 3)), samples=500,
                sensitivity_samples=50)  # the convolution's own kernel
    # Budgets that force several passes: over input cells (outputs counted densely), then
    # over input cells and output states (8 outputs: output keys go to a table); joint
    # states counted in tables and sorted.
    options = make_options({"overflow": "drop"}, methods=("sampled",), sample_rules=False)
    for n_out, budget in ((2, 25_000), (8, 65_000)):
        setup = options.span_setup(np.full((n_out, 3), 0.5))
        for sort_rows in (False, True):
            count_joint(plan_joint(setup, options.key(_rng.JOINT_STREAM), 2000, np.arange(3),
                                   np.arange(n_out), False, budget, chunk_rows=100,
                                   sort_rows=sort_rows))
    _Table.empty(1, 8, 3, 2, 1).grown()  # a table that outgrows its first size
