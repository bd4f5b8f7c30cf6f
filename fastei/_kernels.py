"""The Numba kernels of fastei, and nothing else: every function here is jitted.

Noise, layers, binning, state keys, hash-table counting and tallies for the sampled
estimators; information from CDF tables for the exact ones; within-cell entropies for the
stratified one. Private: no validation, arrays in, counts or raw sums out. Every kernel
writes into preallocated C-contiguous arrays; tunables arrive as arguments, and the fixed
constants of the algorithms come from :mod:`fastei._jit`. Parallel loops never write to a
cell another iteration writes: rows, input nodes or hash-table shards are split between
threads, and the split never changes a count.
"""

import math

import numpy as np
from numba import prange

from ._jit import (
    COUNT_BITS,
    EXP_TAYLOR,
    HASH_A,
    HASH_B,
    LN2_HI,
    LN2_LO,
    LOG2E,
    LOW32,
    MIXED,
    S32,
    parallel_kernel,
    prefetch,
    serial_kernel,
    vector_kernel,
)
from ._rng import GOLDEN, mix64, uniform01

# --------------------------------------------------------------------------- noise and layers


# Loops index from 0 over row views (``out[c, start:stop]``): with a known non-negative
# index Numba drops its negative-index wraparound, and LLVM can vectorise the loop.


@parallel_kernel
def fill_uniform(key, rows, n_nodes, nodes, lo, hi, block, out, n_bins=0, bins=None):
    """Noise of the chosen nodes for the chosen sample rows, node-major, and its bins.

    ``out[c, r] = lo + u * (hi - lo)`` with ``u = uniform01(key, rows[r] * n_nodes + nodes[c])``.
    Parameters: key uint64; rows (n,) int64 absolute sample indices; n_nodes int; nodes
    (k,) int64; lo, hi float64; block int (rows per parallel task); out (k, n) float64;
    optional ``bins`` (k, n) int16 receives the bins of ``out`` among ``n_bins``, as
    :func:`bin_values` gives them (noise never lies outside ``[lo, hi]``).
    """
    n = rows.shape[0]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        _noise_block(key, rows, start, stop, n_nodes, nodes, lo, hi, out, start, n_bins, bins)


@parallel_kernel
def noise_forward(key, rows, lo, hi, n_bins, bins, weights, bias, code, block, out):
    """The noise of every input node for the chosen rows, binned into ``bins`` as
    :func:`fill_uniform` gives them, and taken through a dense layer into ``out`` as
    :func:`dense_forward` does, a block of rows at a time, so that the noise itself
    stays in the cache and is never stored. Parameters: as those two kernels' (the
    layer's inputs are the noise's nodes, ``0 .. weights.shape[1] - 1``).
    """
    n_in = weights.shape[1]
    nodes = np.arange(n_in)
    n = rows.shape[0]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        noise = np.empty((n_in, stop - start))
        _noise_block(key, rows, start, stop, n_in, nodes, lo, hi, noise, 0, n_bins, bins)
        _dense_block(noise, 0, weights, bias, code, out, start, stop)


@serial_kernel
def _noise_block(key, rows, start, stop, n_nodes, nodes, lo, hi, out, at, n_bins, bins):
    """:func:`fill_uniform` of rows ``start:stop``, the noise written to ``out`` from
    column ``at`` on and the bins (if ``bins`` is not None) to columns ``start:stop``."""
    width = hi - lo
    scale, by_scale = _bin_scale(width, max(n_bins, 1))
    row_block = rows[start:stop]
    m = stop - start
    for c in range(nodes.shape[0]):
        node = nodes[c]
        out_row = out[c, at:at + m]
        for r in range(m):
            out_row[r] = _noise(key, row_block[r], n_nodes, node, lo, width)
        if bins is not None:
            bins_row = bins[c, start:stop]
            for r in range(m):
                bins_row[r] = _bin_of(out_row[r], lo, width, n_bins, scale, by_scale)


@serial_kernel
def _noise(key, row, n_nodes, node, lo, width):
    """Noise of input ``node`` in sample ``row``: ``lo + uniform01(...) * width``."""
    return lo + uniform01(key, np.uint64(row) * np.uint64(n_nodes) + np.uint64(node)) * width


@parallel_kernel
def rows_of_partition(key, first, n_nodes, prefix, lo, hi, n_bins, n_partitions, partition,
                      block, out):
    """Rows ``first, first + 1, ...`` whose input cell lies in ``partition``, in order.

    The partition of a row is :func:`prefix_partition` of the bins of its ``prefix``
    nodes, computed here from their noise alone. Looks at the next ``n = out.size`` rows,
    writes the ones found to the start of ``out`` and returns how many there are.
    Parameters: key uint64; first int; n_nodes int; prefix (m,) int64; lo, hi float64;
    n_bins, n_partitions, partition, block int; out (n,) int64.
    """
    n = out.shape[0]
    n_blocks = (n + block - 1) // block
    found = np.zeros(n_blocks, dtype=np.int64)
    inside = np.empty(n, dtype=np.bool_)
    wanted = np.arange(n_bins ** prefix.shape[0]) % n_partitions == partition
    width = hi - lo
    scale, by_scale = _bin_scale(width, n_bins)
    for b in prange(n_blocks):
        start = b * block
        m = min(n, start + block) - start
        index = np.zeros(m, dtype=np.int64)
        for c in range(prefix.shape[0]):
            node = prefix[c]
            for r in range(m):
                v = _noise(key, first + start + r, n_nodes, node, lo, width)
                index[r] = index[r] * n_bins + _bin_of(v, lo, width, n_bins, scale, by_scale)
        count = 0
        for r in range(m):
            inside[start + r] = wanted[index[r]]
            count += wanted[index[r]]
        found[b] = count
    offsets = np.cumsum(found) - found
    for b in prange(n_blocks):
        j = offsets[b]
        for r in range(b * block, min(n, (b + 1) * block)):
            if inside[r]:
                out[j] = first + r
                j += 1
    return found.sum()


@parallel_kernel
def dense_forward(h, weights, bias, code, block, out):
    """``out = f(weights @ h + bias)`` on node-major arrays, summed in input order.

    For each output ``o`` and row ``r`` the pre-activation is ``bias[o]`` plus
    ``h[i, r] * weights[o, i]`` added for ``i = 0, 1, ...``; then the activation of kernel
    ``code`` (see fastei.activations; other codes leave pre-activations).
    Parameters: h (k_in, n) float64; weights (k_out, k_in) float64; bias (k_out,)
    float64; code int; block int (rows per parallel task); out (k_out, n) float64.
    """
    n = h.shape[1]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        _dense_block(h, start, weights, bias, code, out, start, stop)


@serial_kernel
def _dense_block(h, at, weights, bias, code, out, start, stop):
    """:func:`dense_forward` of rows ``start:stop`` of ``out``, from the inputs in columns
    ``at`` on of ``h``."""
    k_out, k_in = weights.shape
    m = stop - start
    powers = np.empty((2, m), dtype=np.int64)
    for o in range(k_out):
        z = out[o, start:stop]
        for r in range(m):
            z[r] = bias[o]
        for i in range(k_in):
            w = weights[o, i]
            h_row = h[i, at:at + m]
            for r in range(m):
                z[r] += h_row[r] * w
        activate(z, code, powers)


@vector_kernel
def activate(z, code, powers):
    """Apply the activation of kernel ``code`` to the pre-activations ``z`` in place (see
    fastei.activations; other codes leave them). ``powers`` (2, len(z)) int64 is scratch."""
    m = z.shape[0]
    if code == 1:
        _exp_of_negated(z, powers)
        for r in range(m):
            z[r] = 1.0 / (1.0 + z[r])
    elif code == 2:
        for r in range(m):
            z[r] = np.tanh(z[r])
    elif code == 3:
        for r in range(m):
            z[r] = max(z[r], 0.0)


@vector_kernel
def _exp_of_negated(z, powers):
    """``z[r] = exp(-z[r])`` in place (see the constants in :mod:`fastei._jit`); NaN
    stays NaN. ``powers`` (2, len(z)) int64 is scratch."""
    taylor = EXP_TAYLOR
    scale = powers.view(np.float64)
    for r in range(z.shape[0]):
        x = -z[r]
        nan = x != x
        x = x if x > -746.0 else -746.0  # exp underflows to 0 below, overflows above;
        x = x if x < 710.0 else 710.0    # NaN is clamped too, and restored below
        k = np.floor(x * LOG2E + 0.5)
        t = (x - k * LN2_HI) - k * LN2_LO
        p = taylor[-1]
        for i in range(len(taylor) - 2, -1, -1):  # Horner; unrolled by the compiler
            p = p * t + taylor[i]
        z[r] = np.nan if nan else p
        # 2**k as two normal doubles 2**(k // 2) and 2**(k - k // 2), built from bits
        half = np.int64(k) >> 1
        powers[0, r] = (half + 1023) << 52
        powers[1, r] = (np.int64(k) - half + 1023) << 52
    for r in range(z.shape[0]):
        z[r] = z[r] * scale[0, r] * scale[1, r]


@parallel_kernel
def bin_values(values, lo, hi, n_bins, drop, out, thresholds=None):
    """Bin every value: ``clip(floor((v - lo) / (hi - lo) * n_bins), 0, n_bins - 1)``.

    A value outside ``[lo, hi]`` is clipped into the edge bin, or marked ``-1`` when
    ``drop``. NaN goes to bin 0 and is counted apart (the caller must not use the bins
    then). Parameters: values (k, n) float64; out (k, n) int16. Returns the number of
    values outside the range and the number of NaN values.

    With ``thresholds`` (B - 1,) float64 the values are the pre-activations ``z`` of a
    non-decreasing activation ``f`` and the bins those of ``f(z)``: the number of
    thresholds at or below ``z`` (the smallest pre-activation of each bin above the
    first); ``z < lo`` and ``z >= hi`` mark the values below and above the output range
    (``hi`` NaN: none).
    """
    n_outside = 0
    n_nan = 0
    width = hi - lo
    scale, by_scale = _bin_scale(width, n_bins)
    for c in prange(values.shape[0]):
        row = values[c]
        bins = out[c]
        outside = 0
        nan = 0
        for r in range(row.shape[0]):
            v = row[r]
            if thresholds is None:
                b = _bin_of(v, lo, width, n_bins, scale, by_scale)
                beyond = v < lo or v > hi
            else:
                b = np.int16(0)
                for t in range(thresholds.shape[0]):
                    b += v >= thresholds[t]
                beyond = v < lo or v >= hi
            bins[r] = -1 if drop and beyond else b
            outside += beyond
            nan += v != v
        n_outside += outside
        n_nan += nan
    return n_outside, n_nan


@serial_kernel
def _bin_scale(width, n_bins):
    """``n_bins / width`` and whether ``(v - lo) * scale`` rounds exactly like
    ``(v - lo) / width * n_bins`` (it does when ``width`` is a power of two)."""
    return n_bins / width, math.frexp(width)[0] == 0.5


@serial_kernel
def _bin_of(v, lo, width, n_bins, scale, by_scale):
    """``clip(floor((v - lo) / width * n_bins), 0, n_bins - 1)``; NaN goes to bin 0.

    With ``by_scale`` (see :func:`_bin_scale`) the division becomes a multiplication,
    bit for bit the same.
    """
    t = (v - lo) * scale if by_scale else (v - lo) / width * n_bins
    t = t if t >= 0.0 else 0.0
    top = np.float64(n_bins - 1)
    return np.int16(t if t <= top else top)


# --------------------------------------------------------------------------- state keys


@serial_kernel
def state_hash(k0, k1):
    """Hash of a state key of words ``k0, k1`` (``k1 = 0`` for a one-word key)."""
    return mix64(k0 ^ mix64(k1 + GOLDEN))


@serial_kernel
def pair_hash(cell_hash, output_hash):
    """Hash of a joint (input cell, output state) key from the two state hashes."""
    return mix64(cell_hash + GOLDEN * output_hash)


@parallel_kernel
def cell_keys(bins, nodes, bits, hashed, block, keys, hashes, valid):
    """Key, hash and validity of the joint binned state of ``nodes`` for each row.

    Keys are the bins packed ``bits`` bits each, node ``nodes[0]`` lowest, into
    ``keys.shape[1]`` words (lossless, at most 128 bits), or, when ``hashed``, a 128-bit
    hash of the bin sequence. A row is invalid when one of its bins is ``-1`` (dropped).
    The row hash is :func:`state_hash` of the key. Parameters: bins (k, n) int16;
    nodes (m,) int64; bits int; hashed bool; block int (rows per parallel task);
    keys (n, w) uint64; hashes (n,) uint64, or (0,) for no hashes; valid (n,) bool.
    """
    one = np.uint64(1)
    n = bins.shape[1]
    for b in prange((n + block - 1) // block):
        start = b * block
        m = min(n, start + block) - start
        k0 = np.full(m, HASH_A if hashed else np.uint64(0))
        k1 = np.full(m, HASH_B if hashed else np.uint64(0))
        lowest = np.zeros(m, dtype=np.int16)
        for c in range(nodes.shape[0]):
            row = bins[nodes[c], start:start + m]
            position = c * bits
            if hashed:
                for r in range(m):
                    v = np.uint64(max(row[r], 0)) + one
                    k0[r] = mix64(k0[r] + v)
                    k1[r] = mix64(k1[r] ^ (v * GOLDEN))
            elif position < 64:
                offset = np.uint64(position)
                for r in range(m):
                    k0[r] |= np.uint64(max(row[r], 0)) << offset
                if position + bits > 64:
                    back = np.uint64(64 - position)
                    for r in range(m):
                        k1[r] |= np.uint64(max(row[r], 0)) >> back
            else:
                offset = np.uint64(position - 64)
                for r in range(m):
                    k1[r] |= np.uint64(max(row[r], 0)) << offset
            for r in range(m):
                lowest[r] = min(lowest[r], row[r])
        for r in range(m):
            keys[start + r, 0] = k0[r]
            if keys.shape[1] > 1:
                keys[start + r, 1] = k1[r]
            if hashes.shape[0] > 0:
                hashes[start + r] = state_hash(k0[r], k1[r])
            valid[start + r] = lowest[r] >= 0


@parallel_kernel
def prefix_partition(bins, nodes, n_bins, n_partitions, out):
    """Partition of each row: mixed-radix index of the bins of ``nodes``, modulo ``n_partitions``.

    Input cells are equally likely, so the partitions are balanced to within one cell.
    Parameters: bins (k, n) int16; nodes (m,) int64; out (n,) int64.
    """
    for r in prange(bins.shape[1]):
        index = 0
        for c in range(nodes.shape[0]):
            index = index * n_bins + bins[nodes[c], r]
        out[r] = index % n_partitions


@parallel_kernel
def hash_partition(hashes, n_partitions, out):
    """Partition of each row from a state hash. Parameters: hashes (n,) uint64; out (n,) int64."""
    for r in prange(hashes.shape[0]):
        out[r] = np.int64(((mix64(hashes[r] ^ HASH_B) >> S32) * np.uint64(n_partitions)) >> S32)


# --------------------------------------------------------------------------- hash tables
#
# A table is one uint64 array (n_shards, capacity, record): word 0 holds the count (0 for
# an empty slot; for input cells its top bit marks a "mixed" cell), then the key words,
# then any payload words. One record per slot keeps an insert to one or two cache lines.


@serial_kernel
def _shard_of(h, n_shards):
    return np.int64(((h >> S32) * np.uint64(n_shards)) >> S32)


# Keys travel as scalars: ``x0, x1`` are the first ``wx`` words (1 or 2) of a key and
# ``y0, y1`` the next ``wy`` words (0, 1 or 2). An unused word is passed as anything.
# Scalars, not array views, keep the insert loops free of reference counting; each
# parallel iteration takes one 2-D view ``table[s]`` of its shard, once.


@serial_kernel
def _home(h, capacity):
    """First slot probed for hash ``h``."""
    return np.int64(((h & LOW32) * np.uint64(capacity)) >> S32)


@serial_kernel
def _find(shard, h, x0, x1, wx, y0, y1, wy):
    """Slot of a key in one shard (cap, R), and whether the key is there (else the empty slot)."""
    capacity = shard.shape[0]
    slot = _home(h, capacity)
    while True:
        if shard[slot, 0] == 0:
            return slot, False
        if (shard[slot, 1] == x0 and (wx < 2 or shard[slot, 2] == x1)
                and (wy < 1 or shard[slot, 1 + wx] == y0)
                and (wy < 2 or shard[slot, 2 + wx] == y1)):
            return slot, True
        slot += 1
        if slot == capacity:
            slot = 0


@serial_kernel
def _store_key(shard, slot, x0, x1, wx, y0, y1, wy):
    shard[slot, 1] = x0
    if wx > 1:
        shard[slot, 2] = x1
    if wy > 0:
        shard[slot, 1 + wx] = y0
    if wy > 1:
        shard[slot, 2 + wx] = y1


@serial_kernel
def _increment(shard, h, x0, x1, wx, y0, y1, wy, amount):
    """Add ``amount`` to the count of a key, inserting the key when it is new.
    Returns 1 for a new key, else 0."""
    slot, found = _find(shard, h, x0, x1, wx, y0, y1, wy)
    if not found:
        _store_key(shard, slot, x0, x1, wx, y0, y1, wy)
    shard[slot, 0] += np.uint64(amount)
    return 0 if found else 1


@parallel_kernel
def count_states(keys, hashes, mask, table, fill, limit, resume, ahead):
    """Count the states of the masked rows into a sharded hash table.

    Shard ``s`` (one per parallel iteration) takes the rows whose hash falls in it, from
    row ``resume[s]`` on; it stops before a row that would push its fill past ``limit``
    and records that row in ``resume[s]`` (``n`` when done) so the caller can grow the
    table and call again. While inserting a row it prefetches the home slot of the row
    ``ahead`` places later (a hint: it changes no count). Parameters: keys (n, w) uint64;
    hashes (n,) uint64; mask (n,) bool; table (S, cap, 1 + w) uint64; fill (S,) int64;
    resume (S,) int64; ahead int.
    """
    n_shards = table.shape[0]
    w = keys.shape[1]
    for s in prange(n_shards):
        shard = table[s]
        rows = _rows_of_shard(hashes, mask, n_shards, s, resume[s])
        resume[s] = keys.shape[0]
        for j in range(rows.shape[0]):
            if j + ahead < rows.shape[0]:
                prefetch(shard, (_home(hashes[rows[j + ahead]], shard.shape[0]), 0))
            r = rows[j]
            if fill[s] >= limit:
                resume[s] = r
                break
            fill[s] += _increment(shard, hashes[r], keys[r, 0], keys[r, w - 1], w, 0, 0, 0, 1)


@parallel_kernel
def count_dense_states(keys, mask, n_shards, counts):
    """``counts[keys[r, 0]] += 1`` for the masked rows; shard ``s`` of ``n_shards`` (one
    per parallel iteration) takes the keys in the ``s``-th slice of ``counts``.

    Parameters: keys (n, 1) uint64, each below ``counts.size``; mask (n,) bool; counts
    (K,) int64.
    """
    size = counts.shape[0]
    for s in prange(n_shards):
        lo = s * size // n_shards
        hi = (s + 1) * size // n_shards
        for r in range(keys.shape[0]):
            k = np.int64(keys[r, 0])
            if mask[r] and lo <= k and k < hi:
                counts[k] += 1


@parallel_kernel
def count_joint_states(x_keys, x_hashes, y_keys, y_hashes, mask, cells, cell_fill,
                       cell_limit, joint, joint_fill, joint_limit, resume, ahead):
    """Count input cells and, where a cell has met two output states, joint states.

    Each input cell remembers the first output state it met. While all its samples share
    that state the joint count equals the cell count and no joint entry exists; at the
    first different state the cell is marked mixed and its joint counts move to the joint
    table. Sharded by the cell hash, resumable and prefetching ``ahead`` rows like
    :func:`count_states`. Joint keys are hashed with :func:`pair_hash` of the two state
    hashes.

    Parameters: x_keys (n, wx), y_keys (n, wy) uint64; x_hashes, y_hashes (n,) uint64;
    mask (n,) bool; cells (S, cap, 1 + wx + wy) uint64 (count, cell key, first output);
    joint (S, jcap, 1 + wx + wy) uint64 (count, cell key, output key); *_fill (S,)
    int64; resume (S,) int64; ahead int.
    """
    n_shards = cells.shape[0]
    wx = x_keys.shape[1]
    wy = y_keys.shape[1]
    for s in prange(n_shards):
        shard, joint_shard = cells[s], joint[s]
        n_cells, n_joint = cell_fill[s], joint_fill[s]
        rows = _rows_of_shard(x_hashes, mask, n_shards, s, resume[s])
        resume[s] = x_keys.shape[0]
        for j in range(rows.shape[0]):
            if j + ahead < rows.shape[0]:
                prefetch(shard, (_home(x_hashes[rows[j + ahead]], shard.shape[0]), 0))
            r = rows[j]
            if n_cells >= cell_limit or n_joint + 2 > joint_limit:
                resume[s] = r
                break
            h = x_hashes[r]
            x0, x1 = x_keys[r, 0], x_keys[r, wx - 1]
            y0, y1 = y_keys[r, 0], y_keys[r, wy - 1]
            slot, found = _find(shard, h, x0, x1, wx, 0, 0, 0)
            if not found:
                _store_key(shard, slot, x0, x1, wx, y0, y1, wy)
                n_cells += 1
            word = shard[slot, 0] + np.uint64(1)
            if found and (word & MIXED) == 0:
                first0, first1 = shard[slot, 1 + wx], shard[slot, wx + wy]
                if first0 != y0 or first1 != y1:
                    word |= MIXED
                    first_hash = state_hash(first0, first1 if wy > 1 else np.uint64(0))
                    n_joint += _increment(joint_shard, pair_hash(h, first_hash), x0, x1, wx,
                                          first0, first1, wy, (word & COUNT_BITS) - np.uint64(1))
            shard[slot, 0] = word
            if (word & MIXED) != 0:
                n_joint += _increment(joint_shard, pair_hash(h, y_hashes[r]), x0, x1, wx,
                                      y0, y1, wy, 1)
        cell_fill[s], joint_fill[s] = n_cells, n_joint


@serial_kernel
def _rows_of_shard(hashes, mask, n_shards, shard, first):
    """Masked rows from ``first`` on whose hash falls in ``shard``, in order."""
    rows = np.empty(hashes.shape[0] - first, dtype=np.int64)
    m = 0
    for r in range(first, hashes.shape[0]):
        if mask[r] and _shard_of(hashes[r], n_shards) == shard:
            rows[m] = r
            m += 1
    return rows[:m]


@parallel_kernel
def rehash(old, key_words, split, new, new_fill):
    """Move every record of a sharded table into a larger one, shard by shard.

    ``key_words`` is the key width after the count word; ``split`` is the word where the
    output part of a joint key starts (``key_words`` for a plain state table).
    Parameters: old (S, cap, R) uint64; new (S, cap2, R) uint64; new_fill (S,) int64.
    """
    zero = np.uint64(0)
    for s in prange(old.shape[0]):
        for i in range(old.shape[1]):
            if old[s, i, 0] != 0:
                h = state_hash(old[s, i, 1], old[s, i, 2] if split > 1 else zero)
                if split < key_words:
                    y_hash = state_hash(old[s, i, 1 + split],
                                        old[s, i, 2 + split] if key_words - split > 1 else zero)
                    h = pair_hash(h, y_hash)
                slot = _home(h, new.shape[1])
                while new[s, slot, 0] != 0:  # keys are distinct: take the first empty slot
                    slot = slot + 1 if slot + 1 < new.shape[1] else 0
                for w in range(old.shape[2]):
                    new[s, slot, w] = old[s, i, w]
                new_fill[s] += 1


@parallel_kernel
def tally_counts(table, clear, small, large, n_large):
    """Tally the counts of a table's unmixed (``u = 0``) and mixed (``u = 1``) entries,
    emptying the table on the way when ``clear``.

    ``small[s, u, c]`` counts the entries of count ``c <= max_small`` in shard ``s``;
    larger counts are listed in ``large[s, u, :n_large[s, u]]``. Parameters: table
    (S, cap, R) uint64; clear bool; small (S, 2, max_small + 1) int64; large (S, 2, L)
    int64; n_large (S, 2) int64.
    """
    max_small = small.shape[2] - 1
    for s in prange(table.shape[0]):
        for i in range(table.shape[1]):
            word = table[s, i, 0]
            if word == 0:
                continue
            if clear:
                for w in range(table.shape[2]):
                    table[s, i, w] = 0
            u = 1 if (word & MIXED) != 0 else 0
            c = np.int64(word & COUNT_BITS)
            if c <= max_small:
                small[s, u, c] += 1
            else:
                large[s, u, n_large[s, u]] = c
                n_large[s, u] += 1


# --------------------------------------------------------------------------- sorted states
#
# Joint states whose input cell and output state fit in one word together are counted by
# sorting: each state's count is the length of its run, with no table to probe at random.


@serial_kernel
def append_joint_keys(x_keys, y_keys, mask, shift, out, start):
    """Write the joint key ``x_keys[r, 0] << shift | y_keys[r, 0]`` of each masked row to
    ``out`` from ``start`` on, in row order; return where they end. Parameters: x_keys
    (n, 1), y_keys (n, 1) uint64; mask (n,) bool; shift int; out (m,) uint64 with room."""
    at = start
    shift = np.uint64(shift)
    for r in range(mask.shape[0]):
        if mask[r]:
            out[at] = (x_keys[r, 0] << shift) | y_keys[r, 0]
            at += 1
    return at


@parallel_kernel
def radix_sort(keys, bits, n_blocks, scratch):
    """Sort ``keys`` (uint64, each below ``2 ** bits``) in place, least significant digit
    first, about 11 bits a pass; ``n_blocks`` blocks of rows are counted and moved in
    parallel (the sorted keys are the same for any number). ``scratch`` is as large as
    ``keys``."""
    n = keys.shape[0]
    passes = max(1, (bits + 10) // 11)
    digit_bits = (bits + passes - 1) // passes
    n_buckets = 1 << digit_bits
    mask = np.uint64(n_buckets - 1)
    offsets = np.zeros((n_blocks, n_buckets), dtype=np.int64)
    source, target = keys, scratch
    for p in range(passes):
        shift = np.uint64(p * digit_bits)
        for b in prange(n_blocks):
            block_offsets = offsets[b]
            block_offsets[:] = 0
            for r in range(b * n // n_blocks, (b + 1) * n // n_blocks):
                block_offsets[(source[r] >> shift) & mask] += 1
        total = 0
        for d in range(n_buckets):  # digit-major, then block: a stable order
            for b in range(n_blocks):
                count = offsets[b, d]
                offsets[b, d] = total
                total += count
        for b in prange(n_blocks):
            block_offsets = offsets[b]
            for r in range(b * n // n_blocks, (b + 1) * n // n_blocks):
                key = source[r]
                d = (key >> shift) & mask
                target[block_offsets[d]] = key
                block_offsets[d] += 1
        source, target = target, source
    if passes % 2 == 1:
        keys[:] = scratch


@serial_kernel
def tally_sorted_runs(keys, shift, small, large):
    """Tally the run lengths of sorted keys ``>> shift`` (``u = 0``) and of the keys
    themselves (``u = 1``): ``small[u, c]`` counts the runs of length ``c <= max_small``;
    longer runs are listed in ``large[u]``. Returns the number listed for each ``u``.
    Parameters: keys (n,) uint64, sorted; small (2, max_small + 1) int64; large (2, L)
    int64."""
    max_small = small.shape[1] - 1
    n_large = np.zeros(2, dtype=np.int64)
    shifts = (np.uint64(shift), np.uint64(0))
    for u in range(2):
        run = 0
        for r in range(keys.shape[0]):
            run += 1
            if r == keys.shape[0] - 1 or (keys[r + 1] >> shifts[u]) != (keys[r] >> shifts[u]):
                if run <= max_small:
                    small[u, run] += 1
                else:
                    large[u, n_large[u]] = run
                    n_large[u] += 1
                run = 0
    return n_large


# --------------------------------------------------------------------------- pairwise counts


@parallel_kernel
def output_group_codes(y_bins, group, radix, out):
    """Code of each row's bins in each group of ``group`` consecutive outputs.

    ``out[g, r] = sum over t of (y_bins[g * group + t, r] + 1) * radix ** t``, so digit 0
    marks a dropped output (bin ``-1``). Parameters: y_bins (m, n) int16; group, radix
    int; out (ceil(m / group), n) int64.
    """
    m, n = y_bins.shape
    for g in prange(out.shape[0]):
        code = out[g]
        for r in range(n):
            code[r] = 0
        scale = 1
        for j in range(g * group, min(m, (g + 1) * group)):
            row = y_bins[j]
            for r in range(n):
                code[r] += (row[r] + 1) * scale
            scale *= radix


@parallel_kernel
def pair_counts(x_bins, codes, group, counts):
    """Accumulate the joint histogram of every (input, output) pair of bins.

    ``counts[i, j, x_bins[i, r], y_bins[j, r]] += 1`` for every row with
    ``y_bins[j, r] >= 0``, counted a group of outputs at a time: one increment of a
    histogram of input ``i``'s bin and output group ``g``'s code counts ``i`` against
    every output of the group; the histogram is then summed into the pairs and emptied.
    Parameters: x_bins (k, n) int16; codes (G, n) int64 from :func:`output_group_codes`
    of ``y_bins`` with ``group`` outputs a group and radix ``By + 1``; counts
    (k, m, Bx, By) int64, C-contiguous.
    """
    m, n_x_bins, n_y_bins = counts.shape[1], counts.shape[2], counts.shape[3]
    radix = n_y_bins + 1
    n_codes = radix ** group
    for i in prange(x_bins.shape[0]):
        x_row = x_bins[i]
        histogram = np.zeros(n_x_bins * n_codes, dtype=np.int64)
        digits = np.zeros(group, dtype=np.int64)
        for g in range(codes.shape[0]):
            code = codes[g]
            for r in range(x_row.shape[0]):
                histogram[np.uint64(x_row[r] * n_codes + code[r])] += 1
            members = min(group, m - g * group)
            for x in range(n_x_bins):
                digits[:] = 0
                for c in range(radix ** members):  # digits count up as c does
                    v = histogram[x * n_codes + c]
                    if v != 0:
                        histogram[x * n_codes + c] = 0
                        for t in range(members):
                            if digits[t] > 0:  # digit 0: the output was dropped
                                counts[i, g * group + t, x, digits[t] - 1] += v
                    t = 0
                    while t < members:
                        digits[t] += 1
                        if digits[t] < radix:
                            break
                        digits[t] = 0
                        t += 1


@parallel_kernel
def sensitivity_pair_counts(noise_bins, y_bins, counts):
    """Pair histograms when input ``i`` alone was perturbed in rows ``i * r .. (i + 1) * r``.

    ``counts[i, j, noise_bins[i, t], y_bins[j, i * r + t]] += 1`` for rows with a kept
    output. Parameters: noise_bins (k, r) int16; y_bins (m, k * r) int16; counts
    (k, m, Bx, By) int64, C-contiguous.
    """
    n_rows = noise_bins.shape[1]
    n_y_bins = counts.shape[3]
    for i in prange(noise_bins.shape[0]):
        x_row = noise_bins[i]
        for j in range(y_bins.shape[0]):
            histogram = counts[i, j].ravel()
            y_row = y_bins[j, i * n_rows:(i + 1) * n_rows]
            for t in range(n_rows):
                by = y_row[t]
                if by >= 0:
                    histogram[np.uint64(x_row[t] * n_y_bins + by)] += 1


# --------------------------------------------------------------------------- exact estimators


@serial_kernel
def add_cdf_row(row, columns, cell_terms, row_terms, total):
    """Add one input bin's output bins ``row[k + 1] - row[k]`` to the running sums of
    :func:`information_from_cdf`; returns the new ``(cell_terms, row_terms, total)``.

    ``row[k] = P(z < level_k | input bin)``; negative rounding noise counts as 0.
    Parameters: row (L,) float64; columns (L - 1,) float64, the column sums, updated.
    """
    row_sum = 0.0
    for k in range(row.size - 1):
        s = row[k + 1] - row[k]
        if s > 0.0:
            cell_terms += s * np.log2(s)
            row_sum += s
            columns[k] += s
    if row_sum > 0.0:
        row_terms += row_sum * np.log2(row_sum)
    return cell_terms, row_terms, total + row_sum


@serial_kernel
def information_from_terms(columns, cell_terms, row_terms, total):
    """Bits of ``I(A; K)`` from the sums :func:`add_cdf_row` ran up over every input bin
    (0 for an empty table)."""
    if total <= 0.0:
        return 0.0
    column_terms = 0.0
    for k in range(columns.size):
        if columns[k] > 0.0:
            column_terms += columns[k] * np.log2(columns[k])
    information = (cell_terms - row_terms - column_terms) / total + np.log2(total)
    return max(information, 0.0)


@serial_kernel
def information_from_cdf(cdf):
    """Bits of ``I(A; K)`` per table, from ``cdf[p, a, k] = P(z < level_k | A = a)``.

    ``A`` (the input bin) is uniform; output bin ``k`` has probability ``cdf[..., k + 1] -
    cdf[..., k]`` (negative rounding noise is set to 0). Rows may sum to less than 1
    (dropped outputs): the joint table is renormalised, and an empty one gives 0. With ``s``
    the table, ``r``, ``q`` its margins and ``S`` its sum,
    ``I = (sum s log s - sum r log r - sum q log q + S log S) / S``.

    cdf : float64 (n_tables, n_a, n_levels); returns float64 (n_tables,).
    """
    n_tables, n_a, n_levels = cdf.shape
    bits = np.zeros(n_tables)
    columns = np.empty(n_levels - 1)
    for p in range(n_tables):
        columns[:] = 0.0
        cell_terms = 0.0
        row_terms = 0.0
        total = 0.0
        for a in range(n_a):
            cell_terms, row_terms, total = add_cdf_row(cdf[p, a], columns, cell_terms,
                                                       row_terms, total)
        bits[p] = information_from_terms(columns, cell_terms, row_terms, total)
    return bits


@parallel_kernel
def within_cell_entropy(sorted_keys, entropy, distinct):
    """Plug-in entropy (bits) and number of distinct states of each row of sorted keys.

    Row ``c`` holds the sorted output-state keys of the points drawn in input cell ``c``.
    Parameters: sorted_keys (n_cells, m) uint64; entropy (n_cells,) float64;
    distinct (n_cells,) int64.
    """
    m = sorted_keys.shape[1]
    for c in prange(sorted_keys.shape[0]):
        keys = sorted_keys[c]
        total = 0.0
        states = 0
        run = 0
        for j in range(m):
            run += 1
            if j == m - 1 or keys[j + 1] != keys[j]:
                total += run * np.log2(run)
                states += 1
                run = 0
        entropy[c] = np.log2(m) - total / m
        distinct[c] = states


@serial_kernel
def two_uniforms_cdf(y, narrow, wide):
    """``P(T < y)`` for ``T`` the centred sum of two uniforms of widths ``narrow <= wide``.

    The trapezoid's three pieces, which unlike inclusion-exclusion never cancel; a zero
    width is a point mass. ``y`` may be infinite.
    """
    u = y + (narrow + wide) / 2  # distance from the lower end of the support
    if u <= 0.0:
        return 0.0
    if u >= narrow + wide:
        return 1.0
    if u < narrow:
        return u * u / (2.0 * narrow * wide)
    if u <= wide:
        return (u - narrow / 2) / wide
    rest = narrow + wide - u
    return 1.0 - rest * rest / (2.0 * narrow * wide)


@parallel_kernel
def two_input_information(weights, levels, midpoints, bin_width, bits):
    """Bits of ``I((bin of x1, bin of x2); output bin)`` of each layer ``z = w_p . x``.

    Given its input cell, ``z`` is the cell's centre plus the centred sum of uniforms of
    widths ``|w_p1| bin_width`` and ``|w_p2| bin_width``; output bin ``k`` is
    ``levels_k <= z < levels_(k+1)``. The same sums as :func:`information_from_cdf` of
    the table of every cell, one cell at a time. Parameters: weights (n, 2) float64;
    levels (L,) float64; midpoints (B,) float64, of the input bins; bits (n,) float64,
    written.
    """
    n_bins = midpoints.size
    for p in prange(weights.shape[0]):
        w1 = weights[p, 0]
        w2 = weights[p, 1]
        narrow = min(abs(w1), abs(w2)) * bin_width
        wide = max(abs(w1), abs(w2)) * bin_width
        row = np.empty(levels.size)
        columns = np.zeros(levels.size - 1)
        cell_terms = 0.0
        row_terms = 0.0
        total = 0.0
        for i in range(n_bins):
            for j in range(n_bins):
                centre = w1 * midpoints[i] + w2 * midpoints[j]
                for k in range(levels.size):
                    row[k] = two_uniforms_cdf(levels[k] - centre, narrow, wide)
                cell_terms, row_terms, total = add_cdf_row(row, columns, cell_terms,
                                                           row_terms, total)
        bits[p] = information_from_terms(columns, cell_terms, row_terms, total)
