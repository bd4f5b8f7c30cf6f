"""Input checks shared by the public functions; each raises a one-line error that names
the parameter, the value received and how to fix it."""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

_MEMORY_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                 "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def check_finite_array(value, name: str, ndim: int) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array of ``ndim`` dimensions, all finite."""
    raw = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if raw.dtype.kind not in "iuf":
        what = {"c": "complex", "b": "boolean"}.get(raw.dtype.kind, f"non-numeric ({raw.dtype})")
        raise TypeError(
            f"{name} must be a real numeric array, got a {what} array; "
            "give real int or float values"
        )
    array = np.ascontiguousarray(raw, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D, got shape {array.shape}"
            + ("; weights are (n_out, n_in) matrices" if ndim == 2 else "")
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); give at least one entry")
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(
            f"{name} contains a non-finite value ({array[bad]} at index {bad}); "
            "replace NaN/inf entries before estimating"
        )
    return array


def check_int(value, name: str, minimum: int) -> int:
    """Return ``value`` as an int no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_bins(value, name: str) -> int:
    """Return a bin count (an int of at least 2)."""
    return check_int(value, name, 2)


def check_range(value, name: str) -> tuple[float, float]:
    """Return ``(lo, hi)`` as finite floats with ``lo < hi`` and a finite width."""
    try:
        lo, hi = (_real(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (lo, hi) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got ({lo}, {hi}); give explicit finite bounds")
    if not lo < hi:
        raise ValueError(f"{name} must satisfy lo < hi, got ({lo}, {hi})")
    if not math.isfinite(hi - lo):
        raise ValueError(
            f"{name} = ({lo}, {hi}) is too wide: hi - lo overflows float64; give a narrower range"
        )
    return lo, hi


def _real(value) -> float:
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Real):
        raise TypeError(value)
    return float(value)


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_span(span, n_layers: int | None = None) -> tuple[int, int]:
    """Return a span ``(start, end)`` of layer indices with ``0 <= start <= end < n_layers``.

    An int ``k`` means the single layer ``(k, k)``; negative indices count from the end.
    With ``n_layers=None`` only the form is checked and the indices are returned as given.
    """
    pair = (span, span) if _is_index(span) else span
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2 \
            or not all(_is_index(v) for v in pair):
        raise TypeError(
            f"span must be a layer index or a pair (start, end) of integer indices, got {span!r}"
        )
    start, end = (int(v) for v in pair)
    if n_layers is None:
        return start, end
    start = start + n_layers if start < 0 else start
    end = end + n_layers if end < 0 else end
    if not 0 <= start <= end < n_layers:
        raise ValueError(
            f"span {tuple(int(v) for v in pair)} is not a valid (start, end) for a network of "
            f"{n_layers} layers; use 0 <= start <= end <= {n_layers - 1}"
        )
    return start, end


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_subset(value, name: str, size: int) -> np.ndarray:
    """Return node indices as a sorted, duplicate-free int64 array within ``range(size)``."""
    if value is None:
        return np.arange(size, dtype=np.int64)
    indices = np.asarray(value)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"{name} must be a non-empty list of node indices, got {value!r}")
    if indices.min() < 0 or indices.max() >= size or np.unique(indices).size != indices.size:
        raise ValueError(
            f"{name} = {indices.tolist()} must hold distinct indices in 0..{size - 1}"
        )
    return np.sort(indices).astype(np.int64)


def check_memory(value) -> int:
    """Return a memory budget in bytes from an int or a string such as ``"512MB"``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _MEMORY_UNITS:
            raise ValueError(
                f"max_memory {value!r} is not understood; use bytes or a size like '512MB' or '2GiB'"
            )
        value = float(match.group(1)) * _MEMORY_UNITS[unit]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"max_memory must be a number of bytes or a size string, got {value!r}")
    if value < 2**20:
        raise ValueError(f"max_memory must be at least 1 MiB, got {int(value)} bytes")
    return int(value)
