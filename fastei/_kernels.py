"""Numba kernels of the sampled estimators. Private: no validation, arrays in, arrays out.

Every kernel writes into preallocated C-contiguous arrays and returns integer counts.
Parallel loops never write to a cell another iteration writes: rows, input nodes or
hash-table shards are split between threads, and the split never changes a count.
"""

import numpy as np
from numba import prange

from ._jit import parallel_kernel, serial_kernel
from ._rng import GOLDEN, mix64, uniform01

_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_HASH_A = np.uint64(0x243F6A8885A308D3)
_HASH_B = np.uint64(0x13198A2E03707344)


# --------------------------------------------------------------------------- noise and layers


# Loops index from 0 over row views (``out[c, start:stop]``): with a known non-negative
# index Numba drops its negative-index wraparound, and LLVM can vectorise the loop.


@parallel_kernel
def fill_uniform(key, rows, n_nodes, nodes, lo, hi, block, out):
    """Noise of the chosen nodes for the chosen sample rows, node-major.

    ``out[c, r] = lo + u * (hi - lo)`` with ``u = uniform01(key, rows[r] * n_nodes + nodes[c])``.
    Parameters: key uint64; rows (n,) int64 absolute sample indices; n_nodes int; nodes
    (k,) int64; lo, hi float64; block int (rows per parallel task); out (k, n) float64.
    """
    width = hi - lo
    stride = np.uint64(n_nodes)
    n = rows.shape[0]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        row_block = rows[start:stop]
        for c in range(nodes.shape[0]):
            node = np.uint64(nodes[c])
            out_row = out[c, start:stop]
            for r in range(stop - start):
                out_row[r] = lo + uniform01(key, np.uint64(row_block[r]) * stride + node) * width


@parallel_kernel
def dense_forward(h, weights, bias, code, block, out):
    """``out = f(weights @ h + bias)`` on node-major arrays, summed in input order.

    For each output ``o`` and row ``r`` the pre-activation is ``bias[o]`` plus
    ``h[i, r] * weights[o, i]`` added for ``i = 0, 1, ...``; then the activation of kernel
    ``code`` (see fastei.activations; other codes leave pre-activations).
    Parameters: h (k_in, n) float64; weights (k_out, k_in) float64; bias (k_out,)
    float64; code int; block int (rows per parallel task); out (k_out, n) float64.
    """
    k_out, k_in = weights.shape
    n = h.shape[1]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        m = stop - start
        for o in range(k_out):
            z = out[o, start:stop]
            for r in range(m):
                z[r] = bias[o]
            for i in range(k_in):
                w = weights[o, i]
                h_row = h[i, start:stop]
                for r in range(m):
                    z[r] += h_row[r] * w
            if code == 1:
                for r in range(m):
                    z[r] = 1.0 / (1.0 + np.exp(-z[r]))
            elif code == 2:
                for r in range(m):
                    z[r] = np.tanh(z[r])
            elif code == 3:
                for r in range(m):
                    z[r] = max(z[r], 0.0)


@parallel_kernel
def bin_values(values, lo, hi, n_bins, drop, out):
    """Bin every value: ``clip(floor((v - lo) / (hi - lo) * n_bins), 0, n_bins - 1)``.

    A value outside ``[lo, hi]`` is clipped into the edge bin, or marked ``-1`` when
    ``drop``. Parameters: values (k, n) float64; out (k, n) int16. Returns the number of
    values outside the range.
    """
    n_outside = 0
    top = n_bins - 1
    for c in prange(values.shape[0]):
        for r in range(values.shape[1]):
            v = values[c, r]
            t = (v - lo) / (hi - lo) * n_bins
            outside = v < lo or v > hi
            if outside:
                n_outside += 1
            if drop and outside:
                out[c, r] = -1
            elif t < 0.0:
                out[c, r] = 0
            elif t >= n_bins:
                out[c, r] = top
            else:
                out[c, r] = min(np.int64(np.floor(t)), top)
    return n_outside


# --------------------------------------------------------------------------- state keys


@serial_kernel
def key_hash(key, start, stop):
    """Hash of the one- or two-word state ``key[start:stop]`` (``stop - start`` is 1 or 2)."""
    k1 = key[start + 1] if stop - start > 1 else np.uint64(0)
    return mix64(key[start] ^ mix64(k1 + GOLDEN))


@parallel_kernel
def cell_keys(bins, nodes, bits, hashed, block, keys, hashes, valid):
    """Key, hash and validity of the joint binned state of ``nodes`` for each row.

    Keys are the bins packed ``bits`` bits each, node ``nodes[0]`` lowest, into
    ``keys.shape[1]`` words (lossless, at most 128 bits), or, when ``hashed``, a 128-bit
    hash of the bin sequence. A row is invalid when one of its bins is ``-1`` (dropped).
    The row hash equals :func:`key_hash` of the key. Parameters: bins (k, n) int16;
    nodes (m,) int64; bits int; hashed bool; block int (rows per parallel task);
    keys (n, w) uint64; hashes (n,) uint64; valid (n,) bool.
    """
    one = np.uint64(1)
    n = bins.shape[1]
    for b in prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        k0 = np.full(stop - start, _HASH_A if hashed else np.uint64(0))
        k1 = np.full(stop - start, _HASH_B if hashed else np.uint64(0))
        ok = np.ones(stop - start, dtype=np.bool_)
        for c in range(nodes.shape[0]):
            position = c * bits
            offset = np.uint64(position % 64)
            straddles = position < 64 and position % 64 + bits > 64
            for r in range(start, stop):
                v = bins[nodes[c], r]
                if v < 0:
                    ok[r - start] = False
                    v = 0
                ub = np.uint64(v)
                if hashed:
                    k0[r - start] = mix64(k0[r - start] + ub + one)
                    k1[r - start] = mix64(k1[r - start] ^ ((ub + one) * GOLDEN))
                elif position < 64:
                    k0[r - start] |= ub << offset
                    if straddles:
                        k1[r - start] |= ub >> (np.uint64(64) - offset)
                else:
                    k1[r - start] |= ub << offset
        for r in range(start, stop):
            keys[r, 0] = k0[r - start]
            if keys.shape[1] > 1:
                keys[r, 1] = k1[r - start]
            hashes[r] = mix64(k0[r - start] ^ mix64(k1[r - start] + GOLDEN))
            valid[r] = ok[r - start]


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
        out[r] = np.int64(((mix64(hashes[r] ^ _HASH_B) >> _S32) * np.uint64(n_partitions)) >> _S32)


# --------------------------------------------------------------------------- hash tables
#
# A table is one uint64 array (n_shards, capacity, record): word 0 holds the count (0 for
# an empty slot; for input cells its top bit marks a "mixed" cell), then the key words,
# then any payload words. One record per slot keeps an insert to one or two cache lines.

MIXED = np.uint64(1) << np.uint64(63)
COUNT_BITS = ~MIXED


@serial_kernel
def _shard_of(h, n_shards):
    return np.int64(((h >> _S32) * np.uint64(n_shards)) >> _S32)


@serial_kernel
def _probe(table, shard, key, h):
    """Slot of ``key`` (all its words) in one shard, and whether it is there."""
    capacity = table.shape[1]
    slot = np.int64(((h & _LOW32) * np.uint64(capacity)) >> _S32)
    while True:
        if table[shard, slot, 0] == 0:
            return slot, False
        same = True
        for w in range(key.shape[0]):
            if table[shard, slot, 1 + w] != key[w]:
                same = False
                break
        if same:
            return slot, True
        slot += 1
        if slot == capacity:
            slot = 0


@serial_kernel
def _add(table, fill, shard, key, h, increment):
    slot, found = _probe(table, shard, key, h)
    if not found:
        for w in range(key.shape[0]):
            table[shard, slot, 1 + w] = key[w]
        fill[shard] += 1
    table[shard, slot, 0] += np.uint64(increment)
    return slot, found


@parallel_kernel
def count_states(keys, hashes, mask, table, fill, limit, resume):
    """Count the states of the masked rows into a sharded hash table.

    Shard ``s`` (one per parallel iteration) takes the rows whose hash falls in it, from
    row ``resume[s]`` on; it stops before a row that would push its fill past ``limit``
    and records that row in ``resume[s]`` (``n`` when done) so the caller can grow the
    table and call again. Parameters: keys (n, w) uint64; hashes (n,) uint64; mask (n,)
    bool; table (S, cap, 1 + w) uint64; fill (S,) int64; resume (S,) int64.
    """
    n_shards = table.shape[0]
    for s in prange(n_shards):
        r = resume[s]
        while r < keys.shape[0]:
            if mask[r] and _shard_of(hashes[r], n_shards) == s:
                if fill[s] >= limit:
                    break
                _add(table, fill, s, keys[r], hashes[r], 1)
            r += 1
        resume[s] = r


@parallel_kernel
def count_joint_states(x_keys, x_hashes, y_keys, y_hashes, mask, cells, cell_fill,
                       cell_limit, joint, joint_fill, joint_limit, resume):
    """Count input cells and, where a cell has met two output states, joint states.

    Each input cell remembers the first output state it met. While all its samples share
    that state the joint count equals the cell count and no joint entry exists; at the
    first different state the cell is marked mixed and its joint counts move to the joint
    table. Sharded by the cell hash and resumable like :func:`count_states`.

    Parameters: x_keys (n, wx), y_keys (n, wy) uint64; x_hashes, y_hashes (n,) uint64;
    mask (n,) bool; cells (S, cap, 1 + wx + wy) uint64 (count, cell key, first output);
    joint (S, jcap, 1 + wx + wy) uint64 (count, cell key, output key); *_fill (S,)
    int64; resume (S,) int64.
    """
    n_shards = cells.shape[0]
    wx = x_keys.shape[1]
    wy = y_keys.shape[1]
    for s in prange(n_shards):
        pair = np.empty(wx + wy, dtype=np.uint64)
        r = resume[s]
        while r < x_keys.shape[0]:
            h = x_hashes[r]
            if mask[r] and _shard_of(h, n_shards) == s:
                if cell_fill[s] >= cell_limit or joint_fill[s] + 2 > joint_limit:
                    break
                slot, found = _add(cells, cell_fill, s, x_keys[r], h, 1)
                if not found:
                    for w in range(wy):
                        cells[s, slot, 1 + wx + w] = y_keys[r, w]
                else:
                    mixed = (cells[s, slot, 0] & MIXED) != 0
                    if not mixed:
                        for w in range(wy):
                            if cells[s, slot, 1 + wx + w] != y_keys[r, w]:
                                mixed = True
                        if mixed:
                            previous = (cells[s, slot, 0] & COUNT_BITS) - np.uint64(1)
                            cells[s, slot, 0] |= MIXED
                            for w in range(wx + wy):
                                pair[w] = cells[s, slot, 1 + w]
                            _add(joint, joint_fill, s, pair, _pair_hash(pair, wx), previous)
                    if mixed:
                        for w in range(wx):
                            pair[w] = x_keys[r, w]
                        for w in range(wy):
                            pair[wx + w] = y_keys[r, w]
                        _add(joint, joint_fill, s, pair, mix64(h + GOLDEN * y_hashes[r]), 1)
            r += 1
        resume[s] = r


@serial_kernel
def _pair_hash(key, split):
    """Slot hash of a stored key: its state hash, or for a joint (cell, output) key
    ``mix64(cell_hash + GOLDEN * output_hash)``, as :func:`count_joint_states` computes it."""
    n = key.shape[0]
    if split >= n:
        return key_hash(key, 0, n)
    return mix64(key_hash(key, 0, split) + GOLDEN * key_hash(key, split, n))


@parallel_kernel
def rehash(old, key_words, split, new, new_fill):
    """Move every record of a sharded table into a larger one, shard by shard.

    ``key_words`` is the key width after the count word; ``split`` is the word where the
    output part of a joint key starts (``key_words`` for a plain state table).
    Parameters: old (S, cap, R) uint64; new (S, cap2, R) uint64; new_fill (S,) int64.
    """
    for s in prange(old.shape[0]):
        for i in range(old.shape[1]):
            if old[s, i, 0] != 0:
                key = old[s, i, 1:1 + key_words]
                slot, _ = _probe(new, s, key, _pair_hash(key, split))
                for w in range(old.shape[2]):
                    new[s, slot, w] = old[s, i, w]
                new_fill[s] += 1


@parallel_kernel
def tally_counts(table, unmixed_only, small, large, n_large):
    """Tally the counts of a table: ``small[s, c]`` entries of count ``c <= max_small``,
    larger counts listed in ``large[s, :n_large[s]]``; with ``unmixed_only`` skip mixed cells.

    Parameters: table (S, cap, R) uint64; small (S, max_small + 1) int64;
    large (S, L) int64; n_large (S,) int64.
    """
    max_small = small.shape[1] - 1
    for s in prange(table.shape[0]):
        for i in range(table.shape[1]):
            word = table[s, i, 0]
            if word == 0 or (unmixed_only and (word & MIXED) != 0):
                continue
            c = np.int64(word & COUNT_BITS)
            if c <= max_small:
                small[s, c] += 1
            else:
                large[s, n_large[s]] = c
                n_large[s] += 1


# --------------------------------------------------------------------------- pairwise counts


@parallel_kernel
def pair_counts(x_bins, y_bins, counts):
    """Accumulate the joint histogram of every (input, output) pair of bins.

    ``counts[i, j, x_bins[i, r], y_bins[j, r]] += 1`` for every row with
    ``y_bins[j, r] >= 0``. Parameters: x_bins (k, n) int16; y_bins (m, n) int16;
    counts (k, m, Bx, By) int64, C-contiguous.
    """
    n_y_bins = counts.shape[3]
    for i in prange(x_bins.shape[0]):
        x_row = x_bins[i]
        for j in range(y_bins.shape[0]):
            histogram = counts[i, j].ravel()
            y_row = y_bins[j]
            for r in range(x_bins.shape[1]):
                by = y_row[r]
                if by >= 0:
                    histogram[np.uint64(x_row[r] * n_y_bins + by)] += 1


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
            row = 0.0
            for k in range(n_levels - 1):
                s = cdf[p, a, k + 1] - cdf[p, a, k]
                if s > 0.0:
                    cell_terms += s * np.log2(s)
                    row += s
                    columns[k] += s
            if row > 0.0:
                row_terms += row * np.log2(row)
            total += row
        if total > 0.0:
            column_terms = 0.0
            for k in range(n_levels - 1):
                if columns[k] > 0.0:
                    column_terms += columns[k] * np.log2(columns[k])
            information = (cell_terms - row_terms - column_terms) / total + np.log2(total)
            bits[p] = max(information, 0.0)
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
