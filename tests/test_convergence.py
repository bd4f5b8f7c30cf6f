"""Convergence helpers: stopping rule, power-law fit, and input errors."""

import pytest

from fastei.convergence import converge_by_doubling, extrapolate


def test_doubling_stops_when_the_last_change_is_below_the_threshold():
    result = converge_by_doubling(lambda s: 1.0 + 1e4 / s, start=1000, threshold=0.05)
    assert result.converged
    values = result.trace_values
    assert abs(values[-1] - values[-2]) < 0.05 * values[-1]
    assert abs(values[-2] - values[-3]) >= 0.05 * values[-2]
    assert result.trace_samples == tuple(1000 * 2**k for k in range(len(values)))
    assert result.value == values[-1] and result.samples == result.trace_samples[-1]


def test_doubling_reports_no_convergence_at_max_samples():
    result = converge_by_doubling(lambda s: float(s), start=10, max_samples=100)
    assert not result.converged
    assert result.trace_samples == (10, 20, 40, 80)


def test_doubling_handles_a_zero_value():
    result = converge_by_doubling(lambda s: 0.0, start=10)
    assert result.converged and result.value == 0.0 and result.samples == 20


def test_extrapolation_recovers_the_power_law():
    result = extrapolate(lambda s: 2.0 + 50.0 / s**0.5)
    assert result.C == pytest.approx(2.0, abs=1e-8)
    assert result.alpha == pytest.approx(0.5, rel=1e-6)
    assert result.A == pytest.approx(50.0, rel=1e-5)
    assert result.value == pytest.approx(2.0 + 50.0 / 1e15**0.5, abs=1e-8)
    assert len(result.trace_samples) == 20 and result.trace_samples[-1] == 2_000_000


def test_extrapolation_of_a_constant():
    result = extrapolate(lambda s: 3.0, samples=[10, 20, 40])
    assert result.value == pytest.approx(3.0) and result.A == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kwargs, message", [
    (dict(threshold=0.0), "threshold must be > 0"),
    (dict(start=0), "start must be a positive integer"),
    (dict(start=1.5), "start must be a positive integer"),
    (dict(start=100, max_samples=50), r"max_samples \(50\) must be at least start \(100\)"),
])
def test_doubling_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        converge_by_doubling(lambda s: 1.0, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(samples=[10, 20]), "at least 3 distinct sample counts"),
    (dict(samples=[10, 10, 20]), "at least 3 distinct sample counts"),
    (dict(samples=[10, 0, 20]), "each entry of samples must be a positive integer"),
    (dict(samples=[10, 20, 40], at=0), "at must be a positive sample count"),
])
def test_extrapolation_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        extrapolate(lambda s: 1.0, **kwargs)
