"""Shared fixtures."""

import gzip

import numpy as np
import pytest
from hypothesis import settings

from fastei.train import preset, train

from . import strategies  # noqa: F401  (registers the "fastei" profile)

settings.load_profile("fastei")


def write_idx(path, array, *, compress=False):
    """Write ``array`` (uint8) as an IDX file, the MNIST distribution format."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


@pytest.fixture
def mnist_idx_dir(tmp_path):
    """A folder of tiny fake MNIST IDX files: 40 training and 20 test images, digits 0-9."""
    rng = np.random.default_rng(7)
    for prefix, n, compress in (("train", 40, True), ("t10k", 20, False)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, size=(n, 28, 28)), compress=compress)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress=compress)
    return tmp_path


def span_setup(network, span=0, in_bins=8, out_bins=8, overflow="clip", out_range=None):
    """The kernels' view of a span, with default ranges unless ``out_range`` is given (as
    the public estimators build it)."""
    from fastei.estimators.options import make_options

    options = make_options(dict(span=span, in_bins=in_bins, out_bins=out_bins, overflow=overflow,
                                out_range=out_range),
                           methods=("sampled",), sample_rules=False)
    return options.span_setup(network)


@pytest.fixture(autouse=True)
def _own_activation_registry(monkeypatch):
    """Activations a test registers stay in that test."""
    from fastei import activations

    monkeypatch.setattr(activations, "_REGISTRY", dict(activations._REGISTRY))


def multiplicities(tally):
    """``m[c]`` = number of states seen ``c`` times, from a CountSum."""
    large = np.concatenate(tally.large) if tally.large else np.zeros(0, np.int64)
    m = np.zeros(max(tally.small.size, large.max(initial=0) + 1), np.int64)
    m[:tally.small.size] = tally.small
    np.add.at(m, large, 1)
    return np.trim_zeros(m, "b")


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    """A short Iris run (3 snapshots), one per test module: tests may store results in it."""
    path = tmp_path_factory.mktemp("runs") / "iris.h5"
    train(preset("iris", epochs=20, snapshot_every=10, seed=3), output=path)
    return path
