"""Convolutional and pooling layers: the direct kernel, the unrolled matrix, patches, files."""

import numba
import numpy as np
import pytest

import fastei
from fastei.conv import Conv2d, average_pool
from fastei.io import SnapshotWriter, open_readonly, read_run

from . import reference

RNG = np.random.default_rng(7)
# (kernel shape, input shape, stride, padding, groups): plain, strided and padded, grouped
GEOMETRIES = [((2, 1, 3, 3), (1, 5, 5), 1, 0, 1),
              ((3, 2, 2, 3), (2, 5, 6), (2, 1), (1, 2), 1),
              ((4, 1, 3, 3), (2, 4, 4), 1, 1, 2)]
LARGE = Conv2d(np.ones((2, 1, 3, 3)), None, (1, 30, 30))


def conv_of(geometry, activation="sigmoid", bias=True, scale=1.5):
    kernel_shape, input_shape, stride, padding, groups = geometry
    return Conv2d(RNG.uniform(-scale, scale, kernel_shape),
                  RNG.uniform(-0.5, 0.5, kernel_shape[0]) if bias else None,
                  input_shape, stride, padding, groups, activation)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_forward_and_unrolled_matrix_match_a_loop_over_taps(geometry):
    conv = conv_of(geometry, "tanh")
    x = RNG.uniform(-1, 1, (40, conv.n_in))
    expected = reference.conv2d(x, conv.kernel, conv.bias, conv.input_shape, conv.stride,
                                conv.padding, conv.groups)
    assert conv.n_out == expected.shape[1]
    np.testing.assert_allclose(conv.forward(x), np.tanh(expected), rtol=1e-12, atol=1e-14)
    dense = conv.to_dense()
    np.testing.assert_allclose(x @ dense.weights.T + dense.bias, expected, rtol=1e-12,
                               atol=1e-14)
    assert dense.activation.name == "tanh"


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_direct_kernel_estimates_equal_the_unrolled_matrix(geometry, activation):
    # Same noise, and each pre-activation is summed in the same order: the same bits.
    conv = conv_of(geometry, activation)
    dense = conv.to_dense()
    options = dict(samples=4000, sensitivity_samples=300, seed=3, in_range=(-1, 1))
    direct, unrolled = fastei.measure(conv, **options), fastei.measure(dense, **options)
    assert direct.ei == unrolled.ei
    np.testing.assert_array_equal(direct.ei_parts_matrix, unrolled.ei_parts_matrix)
    np.testing.assert_array_equal(direct.sensitivity_matrix, unrolled.sensitivity_matrix)
    assert direct.ei_parts_matrix.shape == (conv.n_out, conv.n_in)
    assert direct.ei > 0 and direct.sensitivity > 0


def test_exact_estimators_unroll_the_convolution():
    conv = conv_of(GEOMETRIES[0])
    for function in (fastei.ei_parts_matrix, fastei.sensitivity_matrix):
        np.testing.assert_array_equal(function(conv, method="exact"),
                                      function(conv.to_dense(), method="exact"))


def test_results_do_not_depend_on_the_thread_count():
    conv = conv_of(GEOMETRIES[1], "relu")
    x = RNG.uniform(size=(2000, conv.n_in))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = conv.forward(x), fastei.ei_parts(conv, samples=3000)
        numba.set_num_threads(before)
        parallel = conv.forward(x), fastei.ei_parts(conv, samples=3000)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(serial[0], parallel[0])
    assert serial[1] == parallel[1]


def test_a_patch_is_the_block_of_the_unrolled_matrix_and_measures_alike():
    conv = conv_of(((3, 2, 3, 3), (2, 8, 9), (1, 2), 1, 1), "relu")
    full = conv.to_dense().weights.reshape(3, *conv.output_shape[1:], 2, 8, 9)
    patch = conv.patch((2, 5), (1, 3))    # output rows 2-4, cols 1-2: input rows 1-5, cols 1-5
    assert patch.input_shape == (2, 5, 5) and patch.output_shape == (3, 3, 2)
    block = full[:, 2:5, 1:3][..., 1:6, 1:6].reshape(patch.n_out, patch.n_in)
    np.testing.assert_array_equal(patch.to_dense().weights, block)
    hand_made = fastei.Dense(block, np.repeat(conv.bias, 6), "relu")
    for function in (fastei.ei_parts, fastei.sensitivity):
        assert function(patch, samples=2000, seed=5) == function(hand_made, samples=2000, seed=5)
    field = conv.receptive_field(1, 1)
    assert field.input_shape == (2, 3, 3) and field.output_shape == (3, 1, 1)
    np.testing.assert_array_equal(field.to_dense().weights, conv.kernel.reshape(3, -1))


def test_average_pool_averages_windows_and_passes_ranges_through():
    pool = average_pool((2, 4, 6), 2)
    x = RNG.uniform(size=(5, pool.n_in))
    expected = x.reshape(5, 2, 2, 2, 3, 2).mean(axis=(3, 5)).reshape(5, -1)
    np.testing.assert_allclose(pool.forward(x), expected, rtol=1e-15)
    conv = conv_of(((2, 1, 3, 3), (1, 6, 8), 1, 0, 1), "tanh")
    net = fastei.Network([conv, average_pool(conv.output_shape, 2),
                          fastei.Dense(RNG.uniform(-1, 1, (3, 12)))])
    # tanh's range (-1, 1) passes through the pooling layer, in and out
    assert fastei.ei_parts(net, span=2, samples=3000) == fastei.ei_parts(
        net, span=2, samples=3000, in_range=(-1, 1))
    assert fastei.ei_parts(net, span=1, samples=3000) == fastei.ei_parts(
        net, span=1, samples=3000, in_range=(-1, 1), out_range=(-1, 1))


def test_run_files_keep_convolutions_and_leave_dense_layouts_alone(tmp_path):
    conv = conv_of(GEOMETRIES[2], "relu")
    net = fastei.Network([conv, average_pool(conv.output_shape, 2),
                          fastei.Dense(RNG.uniform(-1, 1, (3, 16)), None, "sigmoid")])
    with SnapshotWriter(tmp_path / "conv.h5", {"seed": 1}) as writer:
        for epoch in range(2):
            writer.append(net, epoch=epoch, batches=epoch)
    stored = read_run(tmp_path / "conv.h5").snapshots[-1].network
    assert [type(layer) for layer in stored.layers] == [Conv2d, Conv2d, fastei.Dense]
    assert stored.layers[0].stride == conv.stride and stored.layers[1].keeps_range
    x = RNG.uniform(size=(7, conv.n_in))
    np.testing.assert_array_equal(stored.forward(x), net.forward(x))
    with SnapshotWriter(tmp_path / "dense.h5", {}) as writer:
        writer.append(fastei.Network.from_weights([np.eye(2)]), epoch=0, batches=0)
    with open_readonly(tmp_path / "dense.h5") as handle:
        assert set(handle["layer_0"]) == {"weights"}
        assert set(handle["layer_0"].attrs) == {"activation"}


def test_conv_snapshots_must_keep_their_geometry(tmp_path):
    kernel = RNG.uniform(size=(2, 1, 3, 3))
    plain = Conv2d(kernel, None, (1, 5, 5))
    strided = Conv2d(kernel, None, (1, 5, 5), stride=2, padding=1)
    assert fastei.Network([plain]).widths == fastei.Network([strided]).widths
    with SnapshotWriter(tmp_path / "run.h5", {}) as writer:
        writer.append(fastei.Network([plain]), epoch=0, batches=0)
        with pytest.raises(ValueError, match="snapshot 1 does not fit"):
            writer.append(fastei.Network([strided]), epoch=1, batches=1)


@pytest.mark.parametrize("call, error, match", [
    (lambda: LARGE.to_dense(max_memory="2MB"), MemoryError,
     r"the unrolled matrix of a convolution \(\(1, 30, 30\) -> \(2, 28, 28\)\) needs about "
     r"11.3 MB, more than max_memory=2 MB; pass max_memory='13MB' or measure it"),
    (lambda: fastei.ei_parts(LARGE, method="exact", max_memory="2MB"),
     MemoryError, "the unrolled matrix of a convolution"),
    (lambda: Conv2d(np.ones((2, 2, 3, 3)), None, (1, 5, 5)), ValueError,
     r"kernel of shape \(2, 2, 3, 3\) with groups=1 takes 2 input channels but input_shape "
     r"\(1, 5, 5\) has 1"),
    (lambda: Conv2d(np.ones((2, 1, 3, 3)), None, (1, 2, 5)), ValueError,
     "the kernel's height 3 exceeds the padded input's 2"),
    (lambda: Conv2d(np.ones((2, 1, 3, 3)), None, (1, 5)), ValueError,
     r"input_shape must be \(channels, height, width\)"),
    (lambda: Conv2d(np.ones((3, 1, 3, 3)), None, (2, 5, 5), groups=2), ValueError,
     "groups must be a positive divisor of the 3 output channels"),
    (lambda: Conv2d(np.ones((2, 1, 3, 3)), np.ones(3), (1, 5, 5)), ValueError,
     "bias has 3 entries but the kernel has 2 output channels"),
    (lambda: Conv2d(np.ones((2, 1, 3, 3)), None, (1, 5, 5), stride=0), ValueError,
     "stride must be an integer >= 1"),
    (lambda: Conv2d(np.ones((2, 1, 3, 3)), None, (1, 5, 5), padding=1).patch((0, 2), (1, 2)),
     ValueError, r"rows \(0, 2\) read the padding \(inputs -1 to 2 of 0 to 4\)"),
    (lambda: Conv2d(np.ones((2, 1, 3, 3)), None, (1, 5, 5)).patch((0, 4), (0, 1)),
     ValueError, r"rows must be \(start, stop\) with 0 <= start < stop <= 3"),
    (lambda: fastei.Network([Conv2d(np.ones((2, 1, 3, 3)), None, (1, 5, 5)),
                             fastei.Dense(np.ones((2, 17)))]), ValueError,
     r"layer 0 has shape \(1, 5, 5\) -> \(2, 3, 3\) but layer 1 has shape \(2, 17\), which "
     "expects 17 inputs; layer 1 needs 18 columns"),
])
def test_bad_layers_get_one_line_errors(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)
