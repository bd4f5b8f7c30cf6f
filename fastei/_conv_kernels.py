"""The Numba kernel of convolutional layers: their outputs without the dense matrix.

Private, like :mod:`fastei._kernels`: no validation, arrays in, arrays out. Parallel
loops split the rows (samples), so no two iterations write one cell.
"""

import numpy as np
from numba import prange

from ._jit import parallel_kernel
from ._kernels import activate


@parallel_kernel
def conv_forward(h, kernel, bias, in_shape, stride, padding, groups, code, block, out):
    """``out = f(conv(h) + bias)`` on node-major arrays, summed in input-node order.

    Nodes are numbered in C order: input ``(c, y, x)`` is node ``(c * H + y) * W + x``,
    output ``(c, oy, ox)`` likewise. Each pre-activation is ``bias[c]`` plus the products
    of its taps added in increasing input-node order (padding taps skipped), so it is
    bitwise the sum :func:`fastei._kernels.dense_forward` makes with the unrolled
    matrix. Then the activation of kernel ``code``.
    Parameters: h (C_in * H * W, n) float64; kernel (C_out, C_in // groups, kh, kw)
    float64; bias (C_out,) float64; in_shape (C_in, H, W), stride (sy, sx), padding
    (py, px) tuples of int; groups int; code int; block int (rows per parallel task);
    out (C_out * OH * OW, n) float64.
    """
    _, height, width = in_shape
    sy, sx = stride
    py, px = padding
    c_out, c_group, kh, kw = kernel.shape
    out_height = (height + 2 * py - kh) // sy + 1
    out_width = (width + 2 * px - kw) // sx + 1
    out_per_group = c_out // groups
    n = h.shape[1]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        m = stop - start
        powers = np.empty((2, m), dtype=np.int64)
        for co in range(c_out):
            first_channel = (co // out_per_group) * c_group
            for oy in range(out_height):
                for ox in range(out_width):
                    z = out[(co * out_height + oy) * out_width + ox, start:stop]
                    for r in range(m):
                        z[r] = bias[co]
                    for ci in range(c_group):
                        for ky in range(kh):
                            iy = oy * sy - py + ky
                            if iy < 0 or iy >= height:
                                continue
                            for kx in range(kw):
                                ix = ox * sx - px + kx
                                if ix < 0 or ix >= width:
                                    continue
                                w = kernel[co, ci, ky, kx]
                                h_row = h[((first_channel + ci) * height + iy) * width + ix,
                                          start:stop]
                                for r in range(m):
                                    z[r] += h_row[r] * w
                    activate(z, code, powers)
