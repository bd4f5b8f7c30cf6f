"""Bundled data sets, the IDX reader and the reduced-MNIST derivation."""

import numpy as np
import pytest
from .conftest import write_idx
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage

from fastei.datasets import (
    available_datasets,
    build_mnist,
    load_dataset,
    load_iris,
    load_mnist,
    read_idx,
    reduce_mnist,
    resize_images,
    save_dataset,
)


def test_iris_matches_the_paper_setting():
    data = load_iris(seed=3)
    assert (data.x_train.shape, data.x_test.shape) == ((100, 4), (50, 4))
    assert data.n_classes == 3 and data.n_features == 4
    labels = np.concatenate([data.y_train, data.y_test])
    assert_array_equal(np.bincount(labels), [50, 50, 50])
    features = np.concatenate([data.x_train, data.x_test])
    assert 0.0 < features.min() and features.max() < 1.0  # centimetres / 8
    assert_allclose(features.max(axis=0) * 8, [7.9, 4.4, 6.9, 2.5])


def test_iris_split_follows_the_seed():
    a, b, c = load_iris(seed=1), load_iris(seed=1), load_iris(seed=2)
    assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_iris_n_train_must_leave_a_test_set():
    with pytest.raises(ValueError, match="n_train must be below the 150 Iris rows"):
        load_iris(n_train=150)


def test_bundled_mnist_is_reduced_real_mnist():
    data = load_mnist()
    assert (data.x_train.shape, data.x_test.shape) == ((2000, 25), (500, 25))
    assert data.n_classes == 5 and data.x_train.dtype == np.float64
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert set(np.unique(np.concatenate([data.y_train, data.y_test]))) == set(range(5))
    assert_array_equal(np.bincount(np.concatenate([data.y_train, data.y_test])), [500] * 5)


def test_load_dataset_by_name():
    assert available_datasets() == ["iris", "mnist"]
    assert_array_equal(load_dataset("iris", seed=4).x_test, load_iris(seed=4).x_test)
    assert load_dataset("mnist").x_train.shape == (2000, 25)
    with pytest.raises(ValueError,
                       match=r"dataset must be one of \['iris', 'mnist'\], got 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="path is only used for the 'mnist' dataset"):
        load_dataset("iris", path="x.npz")


def _bilinear_reference(images, size):
    """Gaussian prefilter, then bilinear interpolation at the output pixel centres."""
    images = images.astype(np.float64) / 255.0
    factor = images.shape[1] / size
    smoothed = ndimage.gaussian_filter(images, (0, (factor - 1) / 2, (factor - 1) / 2),
                                       mode="mirror")
    centres = (np.arange(size) + 0.5) * factor - 0.5
    low = np.floor(centres).astype(int)
    frac = centres - low
    out = np.zeros((len(images), size, size))
    for i in range(size):
        for j in range(size):
            r, c, fr, fc = low[i], low[j], frac[i], frac[j]
            top = (1 - fc) * smoothed[:, r, c] + fc * smoothed[:, r, c + 1]
            bottom = (1 - fc) * smoothed[:, r + 1, c] + fc * smoothed[:, r + 1, c + 1]
            out[:, i, j] = (1 - fr) * top + fr * bottom
    return out


def test_resize_is_gaussian_then_bilinear_at_pixel_centres():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28)).astype(np.uint8)
    assert_allclose(resize_images(images, 5), _bilinear_reference(images, 5), rtol=1e-12,
                    atol=1e-14)


def test_resize_keeps_constant_images_and_float_input():
    images = np.full((2, 28, 28), 0.25)
    assert_allclose(resize_images(images, 5), 0.25, rtol=1e-12)
    assert_allclose(resize_images(np.full((1, 28, 28), 255, np.uint8), 5), 1.0, rtol=1e-12)


def test_resize_errors():
    with pytest.raises(ValueError, match=r"images must have shape \(n_images, n, n\)"):
        resize_images(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="size must be at most the image side 28, got 30"):
        resize_images(np.zeros((1, 28, 28)), 30)


def test_reduce_mnist_keeps_digits_0_to_4_in_order():
    images = np.random.default_rng(1).integers(0, 256, size=(10, 28, 28)).astype(np.uint8)
    x, y = reduce_mnist(images, np.arange(10)[::-1])
    assert_array_equal(y, [4, 3, 2, 1, 0])
    assert_allclose(x, resize_images(images[5:], 5).reshape(5, 25), rtol=1e-12)
    with pytest.raises(ValueError, match="give one label per image"):
        reduce_mnist(images, np.arange(9))


def test_read_idx_plain_and_gzip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert_array_equal(read_idx(write_idx(tmp_path / "a-idx3-ubyte", array)), array)
    assert_array_equal(read_idx(write_idx(tmp_path / "b-idx3-ubyte", array, compress=True)), array)


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="is not an IDX file"):
        read_idx(bad)
    short = write_idx(tmp_path / "short", np.zeros((2, 3), np.uint8))
    short.write_bytes(short.read_bytes()[:-1])
    with pytest.raises(ValueError, match="the file is truncated or corrupt"):
        read_idx(short)


def test_build_mnist_pools_train_then_test_files(mnist_idx_dir, tmp_path):
    data = build_mnist(mnist_idx_dir, n_train=25)
    # 40 training images hold 20 of digits 0-4, the 20 test images 10: 30 in all.
    assert (len(data.x_train), len(data.x_test)) == (25, 5)
    assert_array_equal(data.y_train[:5], [0, 1, 2, 3, 4])
    images = read_idx(mnist_idx_dir / "t10k-images-idx3-ubyte")
    assert_allclose(data.x_test[-1], resize_images(images[-6:-5], 5).ravel(), rtol=1e-12)
    saved = save_dataset(data, tmp_path / "full.npz")
    loaded = load_mnist(saved)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert_array_equal(getattr(loaded, field), getattr(data, field))
    assert loaded.name == "mnist" and loaded.n_classes == 5


def test_build_mnist_errors(mnist_idx_dir, tmp_path):
    with pytest.raises(ValueError, match="n_train must be below the 30 reduced images"):
        build_mnist(mnist_idx_dir, n_train=30)
    with pytest.raises(FileNotFoundError, match="no MNIST training files in"):
        build_mnist(tmp_path / "empty")


def test_load_mnist_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="build one with 'fastei data mnist --idx DIR'"):
        load_mnist(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="is not a data set written by"):
        load_mnist(other)

