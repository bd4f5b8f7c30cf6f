"""Derive ``iris.csv`` from the copy of Fisher's Iris data that scikit-learn ships.

Usage: ``python data/make_iris.py [--wheel scikit_learn-*.whl]``. Without ``--wheel`` the
script fetches the scikit-learn wheel with ``pip download`` into a temporary folder. The
output has a header line and one row per flower: four measurements in centimetres and the
species code (0 setosa, 1 versicolor, 2 virginica), in scikit-learn's row order.
"""

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCE = "sklearn/datasets/data/iris.csv"
HEADER = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm", "species"]


def fetch_wheel(package: str, folder: str) -> Path:
    """Download ``package``'s wheel (no dependencies) into ``folder`` and return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                    ":all:", "-d", folder, package], check=True)
    return next(Path(folder).glob("*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="scikit-learn wheel to read iris.csv from")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("iris.csv"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or fetch_wheel("scikit-learn", folder)
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read(SOURCE).decode("ascii")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    if len(rows) != 150:
        raise SystemExit(f"expected 150 rows in {SOURCE}, found {len(rows)}")
    with args.output.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


if __name__ == "__main__":
    main()
