"""Activation functions known to fastei, and how to add one.

Each activation is an :class:`Activation`: a vectorised NumPy function, its natural
range, the range used by default for binning and for perturbing the next layer, and
optionally its generalised inverse (used by the exact estimators) and its derivative
(used by the trainer).

The four built-ins (``sigmoid``, ``tanh``, ``relu``, ``linear``) are also compiled
into the Numba kernels. A user-defined activation runs through the same estimators:
the kernels compute the pre-activations and the NumPy function is applied to them.

Examples
--------
>>> import numpy as np
>>> from fastei.activations import Activation, register_activation, get_activation
>>> softsign = Activation(
...     "softsign", lambda z: z / (1.0 + np.abs(z)), natural_range=(-1.0, 1.0),
...     inverse=lambda t: t / (1.0 - np.abs(t)))
>>> register_activation(softsign)
>>> get_activation("softsign").default_range
(-1.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Activation", "register_activation", "get_activation", "available_activations"]

# Codes understood by the kernels (fastei._kernels.activate). CUSTOM_CODE means
# "identity inside the kernel, the NumPy function is applied afterwards".
LINEAR_CODE, SIGMOID_CODE, TANH_CODE, RELU_CODE, CUSTOM_CODE = 0, 1, 2, 3, -1


@dataclass(frozen=True)
class Activation:
    """A scalar activation function applied element-wise.

    Parameters
    ----------
    name : str
        Name under which the activation is registered and stored in snapshots.
    func : callable
        Vectorised NumPy function ``z -> f(z)`` on float64 arrays.
    natural_range : tuple of float
        ``(lo, hi)`` of the function's image; ``inf`` where unbounded.
    default_range : tuple of float or None, default natural_range when finite
        Range used for binning outputs and for perturbing the next layer when the
        caller gives none. ``None`` means the caller must give a range.
    inverse : callable, optional
        Generalised inverse ``t -> inf{z : f(z) >= t}`` of a non-decreasing ``f``,
        vectorised; ``-inf``/``inf`` outside the image. Needed by ``method="exact"``.
    derivative : callable, optional
        ``z -> f'(z)``, vectorised. Needed by the trainer.
    code : int, default -1
        Kernel code of a built-in; user activations keep -1.
    """

    name: str
    func: Callable[[np.ndarray], np.ndarray]
    natural_range: tuple[float, float]
    default_range: tuple[float, float] | None = None
    inverse: Callable[[np.ndarray], np.ndarray] | None = None
    derivative: Callable[[np.ndarray], np.ndarray] | None = None
    code: int = CUSTOM_CODE

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"an activation's name must be a non-empty string, got {self.name!r}")
        lo, hi = (float(v) for v in self.natural_range)
        if not lo < hi:
            raise ValueError(
                f"natural_range of activation {self.name!r} is ({lo}, {hi}); "
                "it must satisfy lo < hi"
            )
        object.__setattr__(self, "natural_range", (lo, hi))
        if self.default_range is None and math.isfinite(lo) and math.isfinite(hi):
            object.__setattr__(self, "default_range", (lo, hi))
        elif self.default_range is not None:
            object.__setattr__(self, "default_range", tuple(float(v) for v in self.default_range))

    @property
    def builtin(self) -> bool:
        """Whether the kernels evaluate this activation themselves."""
        return self.code != CUSTOM_CODE

    def __call__(self, z):
        return self.func(np.asarray(z, dtype=np.float64))

    def __reduce_ex__(self, protocol):
        # built-ins are pickled by name (some functions are lambdas), e.g. for worker processes
        if self.builtin:
            return get_activation, (self.name,)
        return super().__reduce_ex__(protocol)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_inverse(t):
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore"):
        z = np.log(t) - np.log1p(-t)
    return np.where(t <= 0.0, -np.inf, np.where(t >= 1.0, np.inf, z))


def _tanh_inverse(t):
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore"):
        z = np.arctanh(np.clip(t, -1.0, 1.0))
    return np.where(t <= -1.0, -np.inf, np.where(t >= 1.0, np.inf, z))


def _relu_inverse(t):
    t = np.asarray(t, dtype=np.float64)
    return np.where(t <= 0.0, -np.inf, t)


def _sigmoid_derivative(z):
    s = _sigmoid(z)
    return s * (1.0 - s)


_REGISTRY: dict[str, Activation] = {}


def register_activation(activation: Activation, *, replace: bool = False) -> None:
    """Make ``activation`` available by name to networks, estimators and the CLI.

    Parameters
    ----------
    activation : Activation
        The activation to register.
    replace : bool, default False
        Allow replacing an activation of the same name (never a built-in).

    Raises
    ------
    TypeError
        If ``activation`` is not an :class:`Activation`.
    ValueError
        If the name (in any case) is taken and ``replace`` is False, or names a built-in.
    """
    if not isinstance(activation, Activation):
        raise TypeError(
            f"activation must be a fastei.activations.Activation, got {type(activation).__name__}"
        )
    existing = _REGISTRY.get(activation.name.lower())
    if existing is not None and (existing.builtin or not replace):
        same = "" if existing.name == activation.name else \
            f" as {existing.name!r} (names ignore case)"
        raise ValueError(
            f"activation {activation.name!r} is already registered{same}; choose another name"
            + ("" if existing.builtin else " or pass replace=True")
        )
    _REGISTRY[activation.name.lower()] = activation


def get_activation(activation: str | Activation) -> Activation:
    """Return the :class:`Activation` for a name in any case (or the object itself).

    Raises
    ------
    ValueError
        If the name is not registered.
    TypeError
        If ``activation`` is neither a string nor an :class:`Activation`.
    """
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(
            f"activation must be a name or an Activation, got {type(activation).__name__}"
        )
    try:
        return _REGISTRY[activation.lower()]
    except KeyError:
        raise ValueError(
            f"unknown activation {activation!r}; use one of {available_activations()} "
            "or register your own with fastei.register_activation"
        ) from None


def available_activations() -> list[str]:
    """Names of the registered activations."""
    return sorted((activation.name for activation in _REGISTRY.values()), key=str.lower)


def name_of(func) -> str:
    """Name of the registered activation whose function is ``func``, else the function's."""
    for activation in _REGISTRY.values():
        if activation.func is func:
            return activation.name
    return getattr(func, "__qualname__", repr(func))


def apply_checked(func, z: np.ndarray, name: str, role: str = "activation") -> np.ndarray:
    """``func(z)`` as a C-contiguous float64 array, after checking what came back.

    A user function runs on arrays the kernels then read without checks, so its result
    must have the shape of ``z``, hold real numbers and be a number wherever ``z`` is
    finite (NaN at an infinite ``z`` is left to the NaN check of the binning).

    Parameters
    ----------
    func : callable
        Vectorised function (an activation or its inverse).
    z : ndarray of float64
        Its input.
    name, role : str
        For messages: ``"{role} {name!r} returned ..."``.

    Raises
    ------
    ValueError
        If the result has another shape, is not real, or is NaN at a finite input.
    """
    result = np.asarray(func(z))
    if result.shape != z.shape:
        raise ValueError(
            f"{role} {name!r} returned shape {result.shape} for input of shape {z.shape}; "
            "it must act element-wise and return an array of the input's shape"
        )
    if result.dtype.kind not in "biuf":
        raise ValueError(
            f"{role} {name!r} returned {result.dtype} values; it must return real numbers"
        )
    result = np.ascontiguousarray(result, dtype=np.float64)
    if np.isnan(result).any():
        wrong = np.isnan(result) & np.isfinite(z)
        if wrong.any():
            raise ValueError(
                f"{role} {name!r} returned NaN for the finite input {float(z[wrong][0])!r}; it "
                "must return a number for every finite input"
            )
    return result


for _builtin in (
    Activation("linear", lambda z: z, (-math.inf, math.inf), None, lambda t: np.asarray(t, float),
               lambda z: np.ones_like(z), LINEAR_CODE),
    Activation("sigmoid", _sigmoid, (0.0, 1.0), None, _sigmoid_inverse, _sigmoid_derivative,
               SIGMOID_CODE),
    Activation("tanh", np.tanh, (-1.0, 1.0), None, _tanh_inverse,
               lambda z: 1.0 - np.tanh(z) ** 2, TANH_CODE),
    # relu is unbounded above; the paper bins it over (0, 1), so that is its default range.
    Activation("relu", lambda z: np.maximum(z, 0.0), (0.0, math.inf), (0.0, 1.0), _relu_inverse,
               lambda z: (z > 0).astype(np.float64), RELU_CODE),
):
    _REGISTRY[_builtin.name] = _builtin
del _builtin
