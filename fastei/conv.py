"""Convolutional and average-pooling layers, measured like dense layers.

A convolution is a linear map of its inputs, so every estimator treats it as the dense
layer of its unrolled matrix (same conventions, same options, same bits for a given
seed). The estimators never build that matrix: the sampled ones run the convolution's
own kernel, which touches only each output's receptive field. The exact ones, and
anyone who wants the matrix, call :meth:`Conv2d.to_dense`, checked against a memory
budget. To measure a part of a large layer (one receptive field and the channels it
drives, say), cut it out with :meth:`Conv2d.patch` or :meth:`Conv2d.receptive_field`.

Nodes are numbered in C order, as ``torch.flatten`` does: input ``(c, y, x)`` of an
input of shape ``(C, H, W)`` is node ``(c * H + y) * W + x``.

Examples
--------
>>> import numpy as np, fastei
>>> from fastei.conv import Conv2d, average_pool
>>> conv = Conv2d(np.full((2, 1, 3, 3), 0.5), input_shape=(1, 6, 6), activation="relu")
>>> conv.output_shape, conv.n_in, conv.n_out
((2, 4, 4), 36, 32)
>>> pool = average_pool(conv.output_shape, 2)
>>> fastei.Network([conv, pool]).widths
(36, 32, 8)
>>> conv.receptive_field(0, 0).to_dense().weights.shape
(2, 9)
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass

import numpy as np

from . import _conv_kernels
from ._sampling import BLOCK_ROWS, PreparedLayer, check_budget
from ._validation import check_finite_array, check_memory
from .activations import LINEAR_CODE, Activation, get_activation
from .network import Dense, Layer

__all__ = ["Conv2d", "average_pool"]


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum``, as a pair."""
    values = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                   and v >= minimum for v in values):
        raise ValueError(f"{name} must be an integer >= {minimum} or a pair of them, "
                         f"got {value!r}")
    return int(values[0]), int(values[1])


def _input_shape(value) -> tuple[int, int, int]:
    shape = tuple(value) if hasattr(value, "__iter__") else ()
    if len(shape) != 3 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  and v >= 1 for v in shape):
        raise ValueError(f"input_shape must be (channels, height, width) of positive "
                         f"integers, got {value!r}")
    return tuple(int(v) for v in shape)


@dataclass(frozen=True)
class Conv2d(Layer):
    """A 2-D convolution ``y = f(conv(x) + b)`` over inputs of one fixed shape.

    Parameters
    ----------
    kernel : array_like, shape (C_out, C_in // groups, kh, kw)
        Weights, PyTorch convention (cross-correlation, as ``torch.nn.Conv2d``).
    bias : array_like, shape (C_out,), optional
        One bias per output channel; ``None`` means no bias.
    input_shape : tuple of int
        ``(C_in, H, W)`` of the layer's input.
    stride, padding : int or (int, int), default 1 and 0
        As in ``torch.nn.Conv2d``; padding adds zeros, which are not nodes.
    groups : int, default 1
        Input and output channels split into this many groups, each convolved apart.
    activation : str or Activation, default "sigmoid"
        Registered activation name or object.
    keeps_range : bool, default False
        Whether every output is an average of its inputs (see :func:`average_pool`).

    Raises
    ------
    ValueError
        If the shapes do not fit together (the message says which).
    """

    kernel: np.ndarray
    bias: np.ndarray | None = None
    input_shape: tuple[int, int, int] = ()
    stride: tuple[int, int] = 1
    padding: tuple[int, int] = 0
    groups: int = 1
    activation: Activation | str = "sigmoid"
    keeps_range: bool = False

    def __post_init__(self):
        kernel = check_finite_array(self.kernel, "kernel", ndim=4)
        shape = _input_shape(self.input_shape)
        stride = _pair(self.stride, "stride", 1)
        padding = _pair(self.padding, "padding", 0)
        groups = self.groups
        c_out, c_group, kh, kw = kernel.shape
        if not isinstance(groups, numbers.Integral) or groups < 1 or c_out % groups:
            raise ValueError(f"groups must be a positive divisor of the {c_out} output "
                             f"channels, got {groups!r}")
        if c_group * groups != shape[0]:
            raise ValueError(
                f"kernel of shape {kernel.shape} with groups={groups} takes "
                f"{c_group * groups} input channels but input_shape {shape} has {shape[0]}; "
                "give a kernel of shape (C_out, C_in // groups, kh, kw)")
        for size, k, pad, axis in ((shape[1], kh, padding[0], "height"),
                                   (shape[2], kw, padding[1], "width")):
            if size + 2 * pad < k:
                raise ValueError(f"the kernel's {axis} {k} exceeds the padded input's "
                                 f"{size + 2 * pad}; give a larger input_shape or padding")
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "groups", int(groups))
        if self.bias is not None:
            bias = check_finite_array(self.bias, "bias", ndim=1)
            if bias.shape[0] != c_out:
                raise ValueError(f"bias has {bias.shape[0]} entries but the kernel has "
                                 f"{c_out} output channels; give a bias of shape ({c_out},)")
            object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "activation", get_activation(self.activation))
        object.__setattr__(self, "keeps_range", bool(self.keeps_range))

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """``(C_out, OH, OW)`` of the layer's output."""
        _, height, width = self.input_shape
        _, _, kh, kw = self.kernel.shape
        (sy, sx), (py, px) = self.stride, self.padding
        return (self.kernel.shape[0], (height + 2 * py - kh) // sy + 1,
                (width + 2 * px - kw) // sx + 1)

    @property
    def n_in(self) -> int:
        """Number of input nodes."""
        return int(np.prod(self.input_shape))

    @property
    def n_out(self) -> int:
        """Number of output nodes."""
        return int(np.prod(self.output_shape))

    def _channel_bias(self) -> np.ndarray:
        return np.zeros(self.kernel.shape[0]) if self.bias is None else self.bias

    def _forward_into(self, code: int, h: np.ndarray, out: np.ndarray) -> None:
        _conv_kernels.conv_forward(h, self.kernel, self._channel_bias(), self.input_shape,
                                   self.stride, self.padding, self.groups, code, BLOCK_ROWS,
                                   out)

    def forward(self, x) -> np.ndarray:
        """Apply the layer to inputs of shape ``(n_samples, n_in)`` (flattened in C order)."""
        h = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)
        z = np.empty((self.n_out, h.shape[1]))
        self._forward_into(LINEAR_CODE, h, z)
        return self.activation(z.T)

    def prepared(self) -> PreparedLayer:
        """The layer in the form the sampled estimators take: its own forward kernel, and
        per channel the kernel's row and bias, which bound the pre-activations."""
        code = self.activation.code
        return PreparedLayer(self.kernel.reshape(self.kernel.shape[0], -1),
                             self._channel_bias(), code, self.activation.func,
                             self.activation.name,
                             forward=functools.partial(self._forward_into, code),
                             n_out=self.n_out)

    def to_dense(self, max_memory="1GiB") -> Dense:
        """The equivalent :class:`~fastei.network.Dense` layer: the unrolled matrix.

        Parameters
        ----------
        max_memory : int or str, default "1GiB"
            Budget for the matrix (``n_out * n_in * 8`` bytes); ``None``: no budget.

        Raises
        ------
        MemoryError
            If the matrix needs more than ``max_memory``; the message names a budget
            that fits, or measure a patch by the direct kernel instead.
        """
        if max_memory is not None:
            max_memory = check_memory(max_memory)
        check_budget(8.0 * self.n_out * self.n_in, max_memory,
                     f"the unrolled matrix of a convolution ({self.input_shape} -> "
                     f"{self.output_shape})",
                     "measure it with the sampled estimators (they never build the matrix) "
                     "or a part of it with Conv2d.patch")
        c_in, height, width = self.input_shape
        c_out, out_height, out_width = self.output_shape
        _, c_group, kh, kw = self.kernel.shape
        (sy, sx), (py, px) = self.stride, self.padding
        co, ci, ky, kx, oy, ox = np.meshgrid(
            np.arange(c_out), np.arange(c_group), np.arange(kh), np.arange(kw),
            np.arange(out_height), np.arange(out_width), indexing="ij")
        iy, ix = oy * sy - py + ky, ox * sx - px + kx
        inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
        channel = (co // (c_out // self.groups)) * c_group + ci
        weights = np.zeros((self.n_out, self.n_in))
        rows = ((co * out_height + oy) * out_width + ox)[inside]
        columns = ((channel * height + iy) * width + ix)[inside]
        weights[rows, columns] = self.kernel[co, ci, ky, kx][inside]
        bias = None if self.bias is None else np.repeat(self.bias, out_height * out_width)
        return Dense(weights, bias, self.activation)

    def patch(self, rows, cols) -> Conv2d:
        """The layer restricted to a block of output positions and the inputs they read.

        The patch maps the input window that the outputs at positions ``rows`` x ``cols``
        (of every channel) read to those outputs: the same weights, as a layer of its
        own that the estimators measure by the direct kernel. Measure it with an explicit
        ``in_range`` when the layer is not a network's first.

        Parameters
        ----------
        rows, cols : (int, int)
            Half-open ranges ``(start, stop)`` of output rows and columns.

        Returns
        -------
        Conv2d
            Input shape ``(C_in, window height, window width)``, no padding; its output
            ``(c, i, j)`` is output ``(c, rows[0] + i, cols[0] + j)`` of this layer.

        Raises
        ------
        ValueError
            If a range is empty, leaves the output, or reads padding.
        """
        window = []
        for value, name, size, k, s, p, extent in (
                (rows, "rows", self.output_shape[1], self.kernel.shape[2], self.stride[0],
                 self.padding[0], self.input_shape[1]),
                (cols, "cols", self.output_shape[2], self.kernel.shape[3], self.stride[1],
                 self.padding[1], self.input_shape[2])):
            start, stop = _pair(value, name, 0)
            if not start < stop <= size:
                raise ValueError(f"{name} must be (start, stop) with 0 <= start < stop <= "
                                 f"{size}, got {value!r}")
            first, last = start * s - p, (stop - 1) * s - p + k
            if first < 0 or last > extent:
                raise ValueError(
                    f"{name} {value!r} read the padding (inputs {first} to {last - 1} of "
                    f"0 to {extent - 1}); choose outputs whose receptive fields lie inside "
                    "the input")
            window.append(last - first)
        return Conv2d(self.kernel, self.bias, (self.input_shape[0], *window), self.stride, 0,
                      self.groups, self.activation, self.keeps_range)

    def receptive_field(self, row: int, col: int) -> Conv2d:
        """The patch of one output position: its receptive field (every input channel)
        and the output channels it drives (see :meth:`patch`)."""
        return self.patch((row, row + 1), (col, col + 1))


def average_pool(input_shape, size, stride=None) -> Conv2d:
    """An average-pooling layer (``torch.nn.AvgPool2d`` without padding), as a convolution.

    Each output channel averages its own input channel over a ``size`` window; the
    activation is linear, and the layer keeps the range of its inputs, so the
    estimators' default ranges pass through it.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` of the input.
    size : int or (int, int)
        Window.
    stride : int or (int, int), optional
        Step; default the window.
    """
    kh, kw = _pair(size, "size", 1)
    channels = _input_shape(input_shape)[0]
    return Conv2d(np.full((channels, 1, kh, kw), 1.0 / (kh * kw)), None, input_shape,
                  (kh, kw) if stride is None else stride, 0, channels, "linear",
                  keeps_range=True)
