"""Slow, plainly correct NumPy versions of the estimators, to check the fast ones against."""

import numpy as np

# --- sampled estimators: plain NumPy on whole sample arrays ---

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform_noise(key, rows, n_nodes, lo, hi):
    """Noise ``(len(rows), n_nodes)``: node ``i`` of sample ``s`` uses counter ``s * n_nodes + i``."""
    counters = (np.asarray(rows, np.uint64)[:, None] * np.uint64(n_nodes)
                + np.arange(n_nodes, dtype=np.uint64)[None, :])
    bits = mix64(np.uint64(key) + (counters + np.uint64(1)) * _GOLDEN) >> np.uint64(11)
    return lo + bits.astype(np.float64) * 2.0**-53 * (hi - lo)


def forward(layers, x):
    """Propagate ``x (n, n_in)`` through ``[(W, b, f), ...]``, adding inputs in order."""
    h = x
    for weights, bias, func in layers:
        acc = np.tile(bias, (h.shape[0], 1))
        for i in range(weights.shape[1]):
            acc = acc + h[:, i:i + 1] * weights[:, i][None, :]
        h = func(acc)
    return h


def bins_of(values, lo, hi, n_bins, drop=False):
    """SPEC binning; with ``drop``, values outside ``[lo, hi]`` become -1."""
    t = (values - lo) / (hi - lo) * n_bins
    b = np.clip(np.floor(t), 0, n_bins - 1).astype(np.int64)
    if drop:
        b[(values < lo) | (values > hi)] = -1
    return b


def entropy_of_rows(states):
    """Plug-in entropy in bits of the rows of an integer array."""
    _, counts = np.unique(states, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def state_counts(states):
    """Counts of the distinct rows of an integer array."""
    return np.unique(states, axis=0, return_counts=True)[1]


def mutual_information(x_states, y_states):
    """Plug-in I(X; Y) in bits between row-aligned state arrays."""
    joint = np.concatenate([x_states, y_states], axis=1)
    return entropy_of_rows(x_states) + entropy_of_rows(y_states) - entropy_of_rows(joint)


def joint_stream(layers, key, samples, in_range, out_range, in_bins, out_bins, drop=False):
    """Input bins, output bins and the count of outside values of the joint stream."""
    n_in = layers[0][0].shape[1]
    x = uniform_noise(key, np.arange(samples), n_nodes=n_in, lo=in_range[0], hi=in_range[1])
    y = forward(layers, x)
    outside = int(((y < out_range[0]) | (y > out_range[1])).sum())
    return (bins_of(x, *in_range, in_bins), bins_of(y, *out_range, out_bins, drop), outside)


def ei(layers, key, samples, in_range, out_range, in_bins, out_bins, inputs=None,
       outputs=None, drop=False):
    """Plug-in EI (or group EI over ``inputs``/``outputs``) from the joint stream."""
    xb, yb, _ = joint_stream(layers, key, samples, in_range, out_range, in_bins, out_bins, drop)
    xb = xb if inputs is None else xb[:, inputs]
    yb = yb if outputs is None else yb[:, outputs]
    keep = (yb >= 0).all(axis=1)
    return mutual_information(xb[keep], yb[keep])


def pair_matrix(x_bins, y_bins):
    """I(X_i; Y_j) at ``[j, i]`` (oriented like the weights), dropping rows where
    ``y_bins[:, j] < 0``."""
    out = np.zeros((y_bins.shape[1], x_bins.shape[1]))
    for i in range(x_bins.shape[1]):
        for j in range(y_bins.shape[1]):
            keep = y_bins[:, j] >= 0
            out[j, i] = mutual_information(x_bins[keep, i:i + 1], y_bins[keep, j:j + 1])
    return out


def sensitivity_matrix(layers, key, samples, in_range, out_range, in_bins, out_bins,
                       baseline=0.0, drop=False):
    """Per-edge sensitivity ``(n_out, n_in)``: input ``i`` takes its joint-stream noise, the
    rest ``baseline``."""
    n_in = layers[0][0].shape[1]
    noise = uniform_noise(key, np.arange(samples), n_in, *in_range)
    out = np.zeros((layers[-1][0].shape[0], n_in))
    for i in range(n_in):
        x = np.full_like(noise, baseline)
        x[:, i] = noise[:, i]
        y_bins = bins_of(forward(layers, x), *out_range, out_bins, drop)
        out[:, i] = pair_matrix(bins_of(noise[:, i:i + 1], *in_range, in_bins), y_bins)[:, 0]
    return out


# --- exact estimators: brute force ---


def bin_index(values, value_range, n_bins):
    """The SPEC's binning: ``clip(floor((v - lo) / (hi - lo) * B), 0, B - 1)``."""
    lo, hi = value_range
    return np.clip(np.floor((values - lo) / (hi - lo) * n_bins).astype(np.int64), 0, n_bins - 1)


def mutual_information_bits(joint):
    """Bits of ``I(A; B)`` from a (possibly unnormalised) joint table ``joint[a, b]``."""
    joint = np.asarray(joint, dtype=np.float64)
    joint = joint / joint.sum()
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    positive = joint > 0
    return float(np.sum(joint[positive] * np.log2(joint[positive] / expected[positive])))


def midpoints(value_range, n_points):
    """Midpoints of ``n_points`` equal cells covering ``value_range``."""
    lo, hi = value_range
    return lo + (hi - lo) * (np.arange(n_points) + 0.5) / n_points


def edge_ei_midpoint(weight, activation, *, in_range, out_range, in_bins, out_bins, bias=0.0,
                     points_per_bin=10**6, drop=False):
    """Single edge ``y = f(w x + b)`` by the midpoint rule in ``x``.

    Every output bin boundary is one point in ``x``, so the error of each conditional
    probability is at most ``1 / points_per_bin`` per boundary inside the input bin.
    """
    joint = np.zeros((in_bins, out_bins))
    x = midpoints((0.0, 1.0), points_per_bin)
    lo, hi = in_range
    for a in range(in_bins):
        xs = lo + (hi - lo) * (a + x) / in_bins
        y = activation(weight * xs + bias)
        kept = (y >= out_range[0]) & (y <= out_range[1]) if drop else np.ones(y.size, bool)
        joint[a] = np.bincount(bin_index(y[kept], out_range, out_bins), minlength=out_bins)
    return mutual_information_bits(joint)


def parts_term_quadrature(weights, bias, activation, i, j, *, in_range, out_range, in_bins,
                          out_bins, points_per_input=4000, drop=False):
    """``I(X_i; Y_j)`` for a layer of 2 or 3 inputs, all uniform on ``in_range``.

    The last other input is integrated exactly (for fixed other values, each output bin is an
    interval of it, whose length is a clipped ratio); the remaining inputs by the midpoint
    rule with ``points_per_input`` points. The inner length is continuous and piecewise
    linear in the outer variables, so the midpoint error falls like ``points**-2``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_in = weights.shape[1]
    lo, hi = in_range
    inner = [k for k in range(n_in) if k != i][-1]
    outer = [k for k in range(n_in) if k != inner]
    grids = np.meshgrid(*[midpoints(in_range, points_per_input)] * len(outer), indexing="ij")
    outer_values = np.stack([g.ravel() for g in grids], axis=1)
    base = outer_values @ weights[j, outer] + bias
    w = weights[j, inner]
    edges = out_range[0] + (out_range[1] - out_range[0]) * np.arange(out_bins + 1) / out_bins
    # fraction of the inner input with y < t, for every bin edge t (non-decreasing f)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_edges = activation.inverse(edges)
    if not drop:
        z_edges[0], z_edges[-1] = -np.inf, np.inf
    if w == 0:
        below = (base[:, None] < z_edges[None, :]).astype(float)
    else:
        with np.errstate(invalid="ignore"):
            crossing = (z_edges[None, :] - base[:, None]) / w
        fraction = np.clip((crossing - lo) / (hi - lo), 0, 1)
        fraction = np.where(np.isnan(crossing), (z_edges[None, :] > 0) * 1.0, fraction)
        below = fraction if w > 0 else 1 - fraction
    per_bin = np.diff(below, axis=1)
    x_bin = bin_index(outer_values[:, outer.index(i)], in_range, in_bins)
    joint = np.stack([np.bincount(x_bin, weights=per_bin[:, k], minlength=in_bins)
                      for k in range(out_bins)], axis=1)
    return mutual_information_bits(joint)


def ei_two_inputs_quadrature(weights, bias, activation, *, in_range, out_range, in_bins,
                             out_bins, points=20_000, drop=False):
    """Joint ``I(X; Y)`` of a layer with 2 inputs, by the midpoint rule over ``x1``.

    For fixed ``x1`` each output bin is an interval of ``x2``; the set of ``x2`` in input bin
    ``a2`` with joint output bins ``(k_1, ..., k_m)`` is the intersection of intervals, whose
    length is continuous and piecewise linear in ``x1`` (midpoint error ~ ``points**-2``).
    """
    weights = np.asarray(weights, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    n_out = weights.shape[0]
    lo, hi = in_range
    edges = out_range[0] + (out_range[1] - out_range[0]) * np.arange(out_bins + 1) / out_bins
    with np.errstate(divide="ignore", invalid="ignore"):
        z_edges = activation.inverse(edges)
    if not drop:
        z_edges[0], z_edges[-1] = -np.inf, np.inf
    x1 = midpoints(in_range, points)
    x1_bin = bin_index(x1, in_range, in_bins)
    # starts/ends[j, k, point]: the x2 interval on which output j is in bin k
    starts = np.empty((n_out, out_bins, points))
    ends = np.empty((n_out, out_bins, points))
    for j in range(n_out):
        w1, w2 = weights[j]
        base = w1 * x1 + bias[j]
        if w2 == 0:
            inside = (base[None, :] >= z_edges[:-1, None]) & (base[None, :] < z_edges[1:, None])
            starts[j] = np.where(inside, lo, hi)
            ends[j] = np.where(inside, hi, lo)
            continue
        with np.errstate(invalid="ignore"):
            crossing = (z_edges[:, None] - base[None, :]) / w2
        crossing = np.clip(np.nan_to_num(crossing, nan=lo), lo, hi)
        first, second = (crossing[:-1], crossing[1:]) if w2 > 0 else (crossing[1:], crossing[:-1])
        starts[j], ends[j] = first, second
    x2_edges = lo + (hi - lo) * np.arange(in_bins + 1) / in_bins
    combos = np.array(np.meshgrid(*[np.arange(out_bins)] * n_out, indexing="ij")).reshape(n_out, -1)
    joint = np.zeros((in_bins * in_bins, combos.shape[1]))
    for a2 in range(in_bins):
        for c in range(combos.shape[1]):
            start = np.full(points, x2_edges[a2])
            end = np.full(points, x2_edges[a2 + 1])
            for j in range(n_out):
                start = np.maximum(start, starts[j, combos[j, c]])
                end = np.minimum(end, ends[j, combos[j, c]])
            length = np.maximum(end - start, 0.0)
            np.add.at(joint[:, c], x1_bin * in_bins + a2, length)
    return mutual_information_bits(joint)


def monte_carlo_pair_information(weights, bias, activation, *, in_range, out_range, in_bins,
                                 out_bins, n_samples, seed, drop=False):
    """Plug-in ``I(X_i; Y_j)`` for every edge from ``n_samples`` joint uniform samples.

    Returns ``(bits, standard_error)``, each ``(n_in, n_out)``; the standard error is the
    delta-method ``sqrt(Var[log2 p(x, y) / (p(x) p(y))] / n)``.
    """
    rng = np.random.default_rng(seed)
    weights = np.asarray(weights, dtype=np.float64)
    n_out, n_in = weights.shape
    x = rng.uniform(in_range[0], in_range[1], size=(n_samples, n_in))
    y = activation(x @ weights.T + bias)
    x_bins = bin_index(x, in_range, in_bins)
    y_bins = bin_index(y, out_range, out_bins)
    kept = (y >= out_range[0]) & (y <= out_range[1]) if drop else np.ones(y.shape, bool)
    bits = np.zeros((n_in, n_out))
    error = np.zeros((n_in, n_out))
    for i in range(n_in):
        for j in range(n_out):
            codes = x_bins[kept[:, j], i] * out_bins + y_bins[kept[:, j], j]
            joint = np.bincount(codes, minlength=in_bins * out_bins).reshape(in_bins, out_bins)
            joint = joint / joint.sum()
            expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
            positive = joint > 0
            log_ratio = np.log2(joint[positive] / expected[positive])
            bits[i, j] = np.sum(joint[positive] * log_ratio)
            variance = np.sum(joint[positive] * log_ratio**2) - bits[i, j] ** 2
            error[i, j] = np.sqrt(max(variance, 0.0) / kept[:, j].sum())
    return bits, error


# --- a single edge, in closed form, and the sampling distribution of its plug-in ---

# Generalised inverses t -> inf{z : f(z) >= t} of the built-in activations, written out here
# rather than taken from fastei: -inf below the image, +inf above it.
INVERSES = {
    "sigmoid": lambda t: np.log(t) - np.log1p(-t),
    "tanh": np.arctanh,
    "relu": lambda t: t,
    "linear": lambda t: t,
}
IMAGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, np.inf),
          "linear": (-np.inf, np.inf)}
AT_ZERO = {"sigmoid": 0.5, "tanh": 0.0, "relu": 0.0, "linear": 0.0}


def edge_joint_distribution(weight, activation, *, x_range, in_edges, out_edges, drop):
    """Exact joint ``p[a, k]`` of (input bin, output bin) of ``y = f(w x)``, ``x ~ U(x_range)``.

    Input bin ``a`` is ``[in_edges[a], in_edges[a + 1])`` (the outer bins extend to cover
    ``x_range``); output bin ``k`` is ``[out_edges[k], out_edges[k + 1])``, the lowest bin
    open below. With ``drop`` an output at or above ``out_edges[-1]`` is discarded, else the
    top bin is open above. For ``w > 0`` and non-decreasing ``f``, ``f(w x) < t`` exactly
    when ``x < f^-1(t) / w``, so every cell is the length of an interval. Returns ``p`` and
    the probability of a discarded sample. ``weight >= 0``.
    """
    assert weight >= 0
    lo, hi = x_range
    cuts = np.clip(np.asarray(in_edges, dtype=np.float64), lo, hi)
    cuts[0], cuts[-1] = lo, hi
    thresholds = np.array(out_edges, dtype=np.float64)
    thresholds[0] = -np.inf
    if not drop:
        thresholds[-1] = np.inf
    if weight == 0:
        # constant output f(0): one output bin, or none
        k = np.searchsorted(thresholds, AT_ZERO[activation], side="right") - 1
        p = np.zeros((cuts.size - 1, thresholds.size - 1))
        if 0 <= k < p.shape[1]:
            p[:, k] = np.diff(cuts) / (hi - lo)
        return p, 1.0 - p.sum()
    low, high = IMAGES[activation]
    inside = np.clip(thresholds, np.nextafter(low, np.inf), np.nextafter(high, -np.inf))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(thresholds <= low, -np.inf,
                     np.where(thresholds >= high, np.inf, INVERSES[activation](inside)))
    x_cut = z / weight
    start = np.clip(x_cut[None, :-1], cuts[:-1, None], cuts[1:, None])
    end = np.clip(x_cut[None, 1:], cuts[:-1, None], cuts[1:, None])
    p = (end - start) / (hi - lo)
    return p, max(0.0, 1.0 - p.sum())


def plug_in_replicates(joint, dropped, n_samples, n_replicates, rng):
    """Plug-in ``I(X; Y)`` in bits of ``n_replicates`` independent runs of ``n_samples``
    samples from ``joint[a, k]`` (a sample is discarded with probability ``dropped``).

    The exact sampling distribution of the estimator the authors of the paper used, to read
    its mean (the plug-in bias) and spread off.
    """
    cells = np.flatnonzero(joint > 0)
    a, k = np.unravel_index(cells, joint.shape)
    probabilities = np.append(joint.ravel()[cells], dropped)
    counts = rng.multinomial(n_samples, probabilities / probabilities.sum(),
                             size=n_replicates)[:, :-1].astype(np.float64)
    x_counts = np.zeros((n_replicates, joint.shape[0]))
    y_counts = np.zeros((n_replicates, joint.shape[1]))
    np.add.at(x_counts.T, a, counts.T)
    np.add.at(y_counts.T, k, counts.T)

    def c_log2_c(c):
        return np.where(c > 0, c * np.log2(np.where(c > 0, c, 1.0)), 0.0).sum(axis=1)

    kept = np.maximum(counts.sum(axis=1), 1.0)
    bits = np.log2(kept) + (c_log2_c(counts) - c_log2_c(x_counts) - c_log2_c(y_counts)) / kept
    return np.maximum(bits, 0.0)


def sensitivity_counts(layers, key, samples, in_range, out_range, in_bins, out_bins,
                       baseline=0.0, drop=False):
    """Pair histograms ``(n_in, n_out, in_bins, out_bins)`` when input ``i`` alone takes its
    joint-stream noise and the rest sit at ``baseline``, and the number of output values
    outside ``out_range`` (with ``drop``, their samples are not counted for that output)."""
    n_in = layers[0][0].shape[1]
    noise = uniform_noise(key, np.arange(samples), n_in, *in_range)
    x_bins = bins_of(noise, *in_range, in_bins)
    counts = np.zeros((n_in, layers[-1][0].shape[0], in_bins, out_bins), np.int64)
    outside = 0
    for i in range(n_in):
        x = np.full_like(noise, baseline)
        x[:, i] = noise[:, i]
        y = forward(layers, x)
        outside += int(((y < out_range[0]) | (y > out_range[1])).sum())
        y_bins = bins_of(y, *out_range, out_bins, drop)
        for j in range(y.shape[1]):
            kept = y_bins[:, j] >= 0
            np.add.at(counts[i, j], (x_bins[kept, i], y_bins[kept, j]), 1)
    return counts, outside


def layer_joint_quadrature(weights, bias, activation, *, in_range, out_range, in_bins,
                           out_bins, points):
    """Joint ``p[input cell, output state]`` of a layer, every input uniform on ``in_range``.

    The midpoint rule with ``points`` points per input over all inputs but the last, which is
    integrated exactly: for fixed other inputs each output bin is an interval of it, and a
    joint output state the intersection of one interval per output. The inner lengths are
    continuous and piecewise linear in the outer inputs, so the error falls like
    ``points**-2``. Cells and states are mixed-radix codes, the first node most significant.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_out, n_in = weights.shape
    bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), (n_out,))
    lo, hi = in_range
    edges = out_range[0] + (out_range[1] - out_range[0]) * np.arange(out_bins + 1) / out_bins
    with np.errstate(divide="ignore", invalid="ignore"):
        z_edges = activation.inverse(edges)
    z_edges[0], z_edges[-1] = -np.inf, np.inf
    grid = np.meshgrid(*[midpoints(in_range, points)] * (n_in - 1), indexing="ij")
    outer = np.stack([g.ravel() for g in grid], axis=1)
    outer_cell = np.zeros(outer.shape[0], np.int64)
    for k in range(n_in - 1):
        outer_cell = outer_cell * in_bins + bin_index(outer[:, k], in_range, in_bins)
    last_edges = lo + (hi - lo) * np.arange(in_bins + 1) / in_bins
    # starts/ends[j, k, point]: the interval of the last input on which output j is in bin k
    starts = np.empty((n_out, out_bins, outer.shape[0]))
    ends = np.empty_like(starts)
    for j in range(n_out):
        base = outer @ weights[j, :-1] + bias[j]
        w = weights[j, -1]
        if w == 0:
            inside = (base[None, :] >= z_edges[:-1, None]) & (base[None, :] < z_edges[1:, None])
            starts[j], ends[j] = np.where(inside, lo, hi), np.where(inside, hi, lo)
            continue
        with np.errstate(invalid="ignore"):
            crossing = np.clip((z_edges[:, None] - base[None, :]) / w, lo, hi)
        if w > 0:
            starts[j], ends[j] = crossing[:-1], crossing[1:]
        else:
            starts[j], ends[j] = crossing[1:], crossing[:-1]
    states = np.array(np.meshgrid(*[np.arange(out_bins)] * n_out, indexing="ij")).reshape(n_out, -1)
    joint = np.zeros((in_bins ** n_in, states.shape[1]))
    for c in range(states.shape[1]):
        start = np.max([starts[j, states[j, c]] for j in range(n_out)], axis=0)
        end = np.min([ends[j, states[j, c]] for j in range(n_out)], axis=0)
        for a in range(in_bins):
            length = np.clip(np.minimum(end, last_edges[a + 1]) - np.maximum(start, last_edges[a]),
                             0.0, None)
            joint[:, c] += np.bincount(outer_cell * in_bins + a, weights=length,
                                       minlength=in_bins ** n_in)
    return joint / joint.sum()


# --- convolutions: loops over output positions and taps ---


def conv2d(x, kernel, bias, input_shape, stride, padding, groups):
    """Pre-activations ``(n, C_out * OH * OW)`` of a convolution of ``x (n, C_in * H * W)``,
    nodes in C order, by a loop over output positions on a zero-padded copy of the input."""
    c_in, height, width = input_shape
    c_out, c_group, kh, kw = kernel.shape
    (sy, sx), (py, px) = stride, padding
    padded = np.zeros((x.shape[0], c_in, height + 2 * py, width + 2 * px))
    padded[:, :, py:py + height, px:px + width] = x.reshape(-1, c_in, height, width)
    out_height = (height + 2 * py - kh) // sy + 1
    out_width = (width + 2 * px - kw) // sx + 1
    out = np.zeros((x.shape[0], c_out, out_height, out_width))
    for co in range(c_out):
        first = (co // (c_out // groups)) * c_group
        for oy in range(out_height):
            for ox in range(out_width):
                window = padded[:, first:first + c_group, oy * sy:oy * sy + kh,
                                ox * sx:ox * sx + kw]
                out[:, co, oy, ox] = (window * kernel[co]).sum(axis=(1, 2, 3)) + bias[co]
    return out.reshape(x.shape[0], -1)
