"""Counter-based random numbers: sample ``i`` of a stream is a pure function of ``(key, i)``.

The same bits come out whatever the thread count, chunk size or partition split, and the
NumPy reference in the tests reproduces them exactly.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._jit import serial_kernel

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 2.0**-53

# Salts that separate the streams drawn from one seed.
JOINT_STREAM = 1
SENSITIVITY_STREAM = 1  # sensitivity reuses the joint noise of each perturbed node
STRATIFIED_STREAMS = (2, 3, 4)  # cell choice, points in cells, independent points


@serial_kernel
def mix64(z):
    """SplitMix64 finaliser of a uint64 (a bijection with good avalanche)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@serial_kernel
def uniform01(key, counter):
    """Uniform double in [0, 1) for position ``counter`` of stream ``key`` (uint64s)."""
    return np.float64(mix64(key + (counter + np.uint64(1)) * GOLDEN) >> _S11) * _TWO_M53


def stream_key(seed, stream: int) -> np.uint64:
    """Turn a user seed into the uint64 key of one noise stream.

    Parameters
    ----------
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        ``None`` draws fresh entropy; the others are deterministic.
    stream : int
        Salt separating the streams that one seed drives.

    Raises
    ------
    TypeError
        If ``seed`` is of another type.
    ValueError
        If ``seed`` is a negative integer.
    """
    if seed is None:
        sequence = np.random.SeedSequence()
    elif isinstance(seed, np.random.SeedSequence):
        sequence = seed
    elif isinstance(seed, np.random.Generator):
        sequence = np.random.SeedSequence(int(seed.integers(0, 2**63)))
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        sequence = np.random.SeedSequence(int(seed))
    else:
        raise TypeError(
            f"seed must be None, an int, a SeedSequence or a Generator; got {type(seed).__name__}"
        )
    child = np.random.SeedSequence(sequence.entropy, spawn_key=(*sequence.spawn_key, stream))
    words = child.generate_state(2, np.uint64)
    return np.uint64(words[0] ^ (words[1] << np.uint64(1)))
