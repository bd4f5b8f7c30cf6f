"""Hypothesis strategies for the property tests, and the project's Hypothesis profile."""

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

# No deadline: the first example of a test may compile or load a kernel. Few examples, and
# derandomized: the default suite stays within its time budget and, like every other test
# here, runs the same cases every time (no database, nothing that passes on a retry).
settings.register_profile("fastei", deadline=None, max_examples=25, derandomize=True,
                          database=None)


@st.composite
def bin_layouts(draw):
    """``(lo, hi, n_bins)``: ranges of width 1e-3 to 1e3, some of them powers of two (the
    kernel bins those by a multiplication instead of the SPEC's division)."""
    lo = draw(st.floats(-1e3, 1e3))
    width = draw(st.one_of(st.floats(1e-3, 1e3), st.integers(-10, 10).map(lambda e: 2.0**e)))
    n_bins = draw(st.one_of(st.integers(2, 70), st.sampled_from([2**k for k in range(1, 15)]),
                            st.integers(2, 2**15 - 1)))
    return lo, lo + width, n_bins


def _nudge(value, ulps):
    for _ in range(abs(ulps)):
        value = np.nextafter(value, np.inf if ulps > 0 else -np.inf)
    return value


@st.composite
def values_at_edges(draw, lo, hi, n_bins):
    """Values on and up to 3 ulps either side of bin edges ``lo + (hi - lo) * k / B`` (where
    the SPEC's rounding decides the bin), and a few anywhere within a width of the range."""
    edges = draw(st.lists(st.integers(0, n_bins), min_size=1, max_size=40))
    ulps = draw(st.lists(st.integers(-3, 3), min_size=len(edges), max_size=len(edges)))
    near = [_nudge(lo + (hi - lo) * k / n_bins, u) for k, u in zip(edges, ulps, strict=True)]
    width = hi - lo
    anywhere = draw(st.lists(st.floats(lo - width, hi + width), max_size=10))
    return np.array(near + anywhere, dtype=np.float64)


def count_lists():
    """State counts: mostly small (tallied as multiplicities), some above 4096 (kept as
    values)."""
    return st.lists(st.one_of(st.integers(1, 20), st.integers(1, 4096),
                              st.integers(4097, 10**9)), min_size=1, max_size=200)


@st.composite
def split_in_parts(draw, items):
    """``items`` cut into consecutive parts (some empty), in a drawn order."""
    cuts = sorted(draw(st.lists(st.integers(0, len(items)), max_size=6)))
    bounds = [0, *cuts, len(items)]
    parts = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    order = draw(st.permutations(range(len(parts))))
    return [parts[i] for i in order]


@st.composite
def weight_matrices(draw, max_nodes=5):
    """Weight matrices ``(n_out, n_in)`` of 1 to ``max_nodes`` nodes a side, entries in
    [-6, 6] (from saturating to nearly flat sigmoid edges)."""
    n_out, n_in = draw(st.integers(1, max_nodes)), draw(st.integers(1, max_nodes))
    values = draw(st.lists(st.floats(-6, 6), min_size=n_out * n_in, max_size=n_out * n_in))
    return np.array(values).reshape(n_out, n_in)
