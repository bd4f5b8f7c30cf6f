"""The streaming layer of fastei._sampling: memory plans, chunking and the checks on
what flows through a span (NaN outputs, user activations)."""

import numpy as np
import pytest

import fastei
from fastei._sampling import PreparedLayer, Span, check_preactivation_bounds


def _span(weights, code=1, func=None, in_range=(0.0, 1.0), out_range=(0.0, 1.0), bins=8,
          first_layer=0):
    """A one-layer span built directly (sigmoid unless ``code`` says otherwise)."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    layer = PreparedLayer(weights, np.zeros(weights.shape[0]), code, func)
    return Span((layer,), weights.shape[1], weights.shape[0], in_range, out_range, bins, bins,
                False, first_layer)


# --- NaN ------------------------------------------------------------------------------

def test_nan_outputs_are_reported_not_binned():
    # Terms beyond float64 on both sides: inf - inf = NaN before the sigmoid.
    weights = np.array([[1e308, -1e308]])
    for call in (lambda: fastei.ei(weights, in_range=(0, 4), samples=1000),
                 lambda: fastei.ei_stratified(weights, in_range=(0, 4), cells=10,
                                              points_per_cell=100)):
        with pytest.raises(ValueError, match=r"^layer 0 gave \d+ NaN outputs: a "
                           r"pre-activation overflowed float64 \(inf - inf\)") as info:
            call()
        assert "\n" not in str(info.value)


def test_nan_message_names_the_span():
    span = _span(np.ones((1, 1)), first_layer=2)
    with pytest.raises(ValueError, match="^layer 2 gave 1 NaN outputs"):
        span.bin_outputs(np.array([[0.5, np.nan]]))
    two = Span(span.layers * 2, 1, 1, (0.0, 1.0), (0.0, 1.0), 8, 8, False, 1)
    with pytest.raises(ValueError, match="^layers 1 to 2 gave 2 NaN outputs"):
        two.bin_outputs(np.full((1, 2), np.nan))


def test_preactivation_bounds():
    check_preactivation_bounds(_span([[1e307, -1e307], [1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"^layer 3: the pre-activation of output 1 can "
                       r"overflow float64 \(sum \|w\| \* 1 \+ \|b\| is not finite\)"):
        check_preactivation_bounds(_span([[1.0, 2.0], [1e308, 1e308]], first_layer=3))
    with pytest.raises(ValueError, match=r"output 0 can overflow float64 \(sum \|w\| \* 4 "):
        check_preactivation_bounds(_span([[1e308]], in_range=(-4.0, 1.0)))
