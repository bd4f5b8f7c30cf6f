"""The paper's two data sets, bundled with fastei, and the tools that derive reduced MNIST.

Iris (150 flowers) ships as ``iris.csv``. Reduced MNIST (digits 0-4, 5x5 pixels in [0, 1])
ships as ``mnist5x5.npz``, derived from the 2,500 images of digits 0-4 in a 5,000-image
MNIST sample; :func:`build_mnist` derives the full reduced set the paper used from the
standard MNIST IDX files. Nothing is downloaded.

Images are reduced exactly as ``skimage.transform.resize(image, (5, 5))`` does with its
defaults (the paper's code): a Gaussian prefilter of standard deviation
``(28 / 5 - 1) / 2 = 2.3`` pixels (edges mirrored), then bilinear interpolation at the
centres of the 5x5 output pixels; see :func:`resize_images`.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ._validation import check_choice, check_int

__all__ = [
    "Dataset",
    "available_datasets",
    "build_mnist",
    "load_dataset",
    "load_iris",
    "load_mnist",
    "read_idx",
    "reduce_mnist",
    "resize_images",
    "save_dataset",
]

IRIS_SCALE = 8.0
MNIST_DIGITS = 5
MNIST_SIZE = 5
MNIST_TRAIN = 25_000
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Dataset:
    """A classification data set split into training and test rows.

    Attributes
    ----------
    name : str
        Short name (``"iris"``, ``"mnist"``).
    x_train, x_test : ndarray of float64, shape (n, n_features)
        Inputs.
    y_train, y_test : ndarray of int64, shape (n,)
        Class labels ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes (width of the one-hot targets).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return self.x_train.shape[1]


def _data_file(name: str):
    return resources.files("fastei._data").joinpath(name)


def load_iris(*, seed=0, n_train: int = 100) -> Dataset:
    """Fisher's Iris data as the paper used it: features / 8, shuffled, 100 train / 50 test.

    Parameters
    ----------
    seed : int, SeedSequence, Generator or None, default 0
        Seed of the shuffle before the split.
    n_train : int, default 100
        Rows in the training set; the rest are the test set.

    Returns
    -------
    Dataset
        Four features in ``[0, 1)`` (centimetres / 8), three classes.
    """
    n_train = check_int(n_train, "n_train", 1)
    with _data_file("iris.csv").open("r") as handle:
        table = np.loadtxt(handle, delimiter=",", skiprows=1)
    if n_train >= len(table):
        raise ValueError(
            f"n_train must be below the {len(table)} Iris rows to leave a test set, got {n_train}"
        )
    order = np.random.default_rng(seed).permutation(len(table))
    x, y = table[order, :4] / IRIS_SCALE, table[order, 4].astype(np.int64)
    return Dataset("iris", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 3)


def load_mnist(path=None) -> Dataset:
    """Reduced MNIST: digits 0-4, 5x5 pixels in [0, 1], split as stored in the file.

    Parameters
    ----------
    path : str or Path, optional
        An ``.npz`` written by :func:`save_dataset` (for example the full reduced set from
        ``fastei data mnist --idx DIR``). Default: the bundled set of 2,500 images
        (2,000 train / 500 test) derived from a 5,000-image MNIST sample.

    Returns
    -------
    Dataset
        25 features, five classes.
    """
    if path is None:
        with _data_file("mnist5x5.npz").open("rb") as handle:
            return _dataset_from_npz(handle, "the bundled mnist5x5.npz")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {str(path)!r} does not exist; build one with 'fastei data mnist --idx DIR'"
        )
    with path.open("rb") as handle:
        return _dataset_from_npz(handle, repr(str(path)))


def _dataset_from_npz(handle, where: str) -> Dataset:
    try:
        with np.load(handle, allow_pickle=False) as arrays:
            fields = {key: arrays[key] for key in
                      ("name", "x_train", "y_train", "x_test", "y_test", "n_classes")}
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(
            f"{where} is not a data set written by fastei.datasets.save_dataset ({exc})"
        ) from None
    return Dataset(str(fields.pop("name")), **{
        key: (int(value) if key == "n_classes" else value) for key, value in fields.items()})


def save_dataset(dataset: Dataset, path) -> Path:
    """Write ``dataset`` to an ``.npz`` file that :func:`load_mnist` reads back.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    np.savez_compressed(
        path, name=dataset.name, x_train=dataset.x_train, y_train=dataset.y_train,
        x_test=dataset.x_test, y_test=dataset.y_test, n_classes=dataset.n_classes)
    return path


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST distribution format), gzipped or not.

    Parameters
    ----------
    path : str or Path
        File such as ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    ndarray
        Array of the stored shape and type, e.g. ``(60000, 28, 28)`` uint8.

    Raises
    ------
    ValueError
        If the file does not start with an IDX header or its size disagrees with it.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(
            f"{str(path)!r} holds {len(raw) - offset} data bytes but its header announces "
            f"shape {shape} of {dtype}; the file is truncated or corrupt"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def resize_images(images, size: int = MNIST_SIZE) -> np.ndarray:
    """Anti-aliased resize of square images to ``size x size``, as scikit-image does it.

    Each image is converted to float (uint8 divided by 255), smoothed with a Gaussian of
    standard deviation ``(n / size - 1) / 2`` pixels with mirrored edges (scipy
    ``gaussian_filter``, ``mode="mirror"``, truncated at 4 sigma), then sampled by bilinear
    interpolation at the centres of the output pixels (scipy ``zoom``, ``order=1``,
    ``grid_mode=True``). This equals ``skimage.transform.resize(image, (size, size))``
    with its defaults (``anti_aliasing=True``, ``order=1``, ``mode="reflect"``).

    Parameters
    ----------
    images : array_like, shape (n_images, n, n)
        uint8 images (0-255) or float images in [0, 1].
    size : int, default 5
        Output side length, at most ``n``.

    Returns
    -------
    ndarray of float64, shape (n_images, size, size)
    """
    from scipy import ndimage

    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (n_images, n, n), got {images.shape}")
    size = check_int(size, "size", 1)
    if size > images.shape[1]:
        raise ValueError(f"size must be at most the image side {images.shape[1]}, got {size}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    images = images.astype(np.float64) / scale
    factor = images.shape[1] / size
    sigma = max(0.0, (factor - 1.0) / 2.0)
    smoothed = ndimage.gaussian_filter(images, sigma=(0.0, sigma, sigma), mode="mirror")
    return ndimage.zoom(smoothed, (1.0, 1.0 / factor, 1.0 / factor), order=1, mode="mirror",
                        grid_mode=True)


def reduce_mnist(images, labels, *, digits: int = MNIST_DIGITS, size: int = MNIST_SIZE):
    """Keep the digits ``0 .. digits - 1`` and resize them to flat ``size * size`` rows.

    Parameters
    ----------
    images : array_like, shape (n_images, 28, 28)
        MNIST images, uint8 or float in [0, 1].
    labels : array_like of int, shape (n_images,)
        Digit labels.
    digits : int, default 5
        Number of digit classes to keep.
    size : int, default 5
        Output side length (see :func:`resize_images`).

    Returns
    -------
    x : ndarray of float64, shape (n_kept, size * size)
        Pixels in [0, 1], rows in the input order.
    y : ndarray of int64, shape (n_kept,)
    """
    labels = np.asarray(labels).astype(np.int64)
    images = np.asarray(images)
    if labels.shape != images.shape[:1]:
        raise ValueError(
            f"labels has shape {labels.shape} but images has {images.shape[0]} images; "
            "give one label per image"
        )
    keep = labels < check_int(digits, "digits", 2)
    small = resize_images(images[keep], size)
    return np.clip(small.reshape(len(small), -1), 0.0, 1.0), labels[keep]


def _find_idx(directory: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def build_mnist(directory, *, n_train: int = MNIST_TRAIN) -> Dataset:
    """Derive the paper's reduced MNIST from the standard IDX files in ``directory``.

    The digits 0-4 of the training file, followed by those of the test file when it is
    present (``t10k-*``), are reduced with :func:`reduce_mnist`; the first ``n_train``
    of them in file order form the training set and the rest the test set, as in the
    paper's code.

    Parameters
    ----------
    directory : str or Path
        Folder holding ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
        (optionally gzipped) and optionally the ``t10k-`` pair.
    n_train : int, default 25000
        Rows in the training set.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If the training pair is missing.
    ValueError
        If ``n_train`` leaves no test rows.
    """
    directory = Path(directory)
    n_train = check_int(n_train, "n_train", 1)
    xs, ys = [], []
    for part, (image_stem, label_stem) in _IDX_FILES.items():
        image_path, label_path = _find_idx(directory, image_stem), _find_idx(directory, label_stem)
        if image_path is None or label_path is None:
            if part == "train":
                raise FileNotFoundError(
                    f"no MNIST training files in {str(directory)!r}; it needs "
                    f"{image_stem} and {label_stem} (optionally .gz)"
                )
            continue
        x, y = reduce_mnist(read_idx(image_path), read_idx(label_path))
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if n_train >= len(x):
        raise ValueError(
            f"n_train must be below the {len(x)} reduced images to leave a test set, got {n_train}"
        )
    return Dataset("mnist", x[:n_train], y[:n_train], x[n_train:], y[n_train:], MNIST_DIGITS)


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return ["iris", "mnist"]


def load_dataset(name: str, *, seed=0, path: str | os.PathLike | None = None) -> Dataset:
    """Load a bundled data set by name.

    Parameters
    ----------
    name : {"iris", "mnist"}
        Data set.
    seed : int, SeedSequence, Generator or None, default 0
        Seed of the Iris shuffle (reduced MNIST keeps its stored split).
    path : str or Path, optional
        Reduced-MNIST file to use instead of the bundled one.

    Returns
    -------
    Dataset
    """
    check_choice(name, "dataset", available_datasets())
    if name == "mnist":
        return load_mnist(path)
    if path is not None:
        raise ValueError(f"path is only used for the 'mnist' dataset, not {name!r}; drop it")
    return load_iris(seed=seed)
