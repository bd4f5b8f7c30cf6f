"""Slow, plainly correct NumPy versions of the estimators, to check the fast ones against."""

import numpy as np

# --- sampled estimators: plain NumPy on whole sample arrays ---

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK64 = (1 << 64) - 1


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
    """I(X_i; Y_j) for every pair, dropping rows where ``y_bins[:, j] < 0``."""
    out = np.zeros((x_bins.shape[1], y_bins.shape[1]))
    for i in range(x_bins.shape[1]):
        for j in range(y_bins.shape[1]):
            keep = y_bins[:, j] >= 0
            out[i, j] = mutual_information(x_bins[keep, i:i + 1], y_bins[keep, j:j + 1])
    return out


def sensitivity_matrix(layers, key, samples, in_range, out_range, in_bins, out_bins,
                       baseline=0.0, drop=False):
    """Per-edge sensitivity: input ``i`` takes its joint-stream noise, the rest ``baseline``."""
    n_in = layers[0][0].shape[1]
    noise = uniform_noise(key, np.arange(samples), n_in, *in_range)
    out = np.zeros((n_in, layers[-1][0].shape[0]))
    for i in range(n_in):
        x = np.full_like(noise, baseline)
        x[:, i] = noise[:, i]
        y_bins = bins_of(forward(layers, x), *out_range, out_bins, drop)
        out[i] = pair_matrix(bins_of(noise[:, i:i + 1], *in_range, in_bins), y_bins)[0]
    return out
