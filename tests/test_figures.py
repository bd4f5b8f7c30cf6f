"""``fastei plot``: every figure family written to a real image from a real run."""

import re

import numpy as np
import pytest
from PIL import Image

import fastei
from fastei.cli import main
from fastei.figures import converged_value, convergence_trace, sample_counts
from fastei.train import preset, train

FAST = ["--samples", "2000", "--sensitivity-samples", "200"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real Iris runs, 3 snapshots each (epochs 0, 10, 20)."""
    folder = tmp_path_factory.mktemp("runs")
    paths = [folder / f"iris-{seed}.h5" for seed in (1, 2)]
    for seed, path in zip((1, 2), paths, strict=True):
        train(preset("iris", seed=seed, epochs=20, snapshot_every=10), output=path)
    return paths


def assert_picture(path, frames=1):
    """A real image: big enough, more than one colour, ``frames`` frames."""
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 200
        assert getattr(image, "n_frames", 1) == frames
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 10


@pytest.mark.parametrize("argv, frames", [
    (["training", "{a}", "{b}", "--layers", "0,2", *FAST], 1),
    (["training", "{a}", "--quantity", "sensitivity", "--snapshots", "0,-1", *FAST], 1),
    (["phi", "{a}", "{b}", *FAST], 1),
    (["causal-plane", "{a}", "{b}", "--frame", "rotated", *FAST], 1),
    (["edges", "{a}", "--layers", "1", "--snapshot", "0", *FAST], 1),
    (["convergence", "{a}", "--max-samples", "1000", "--layers", "0"], 1),
    (["edge", "--activation", "sigmoid,relu", "--bins", "8,16"], 1),
    (["surfaces", "--activation", "tanh", "--quantities", "sensitivity,ei", "--points", "5"], 1),
])
def test_each_plot_command_writes_an_image(runs, tmp_path, capsys, argv, frames):
    output = tmp_path / "figure.png"
    argv = [arg.format(a=runs[0], b=runs[1]) for arg in argv]
    assert main(["plot", *argv, "-o", str(output)]) == 0
    assert capsys.readouterr().out == f"wrote {output}\n"
    assert_picture(output, frames)


def test_animate_writes_one_frame_per_measured_epoch(runs, tmp_path):
    output = tmp_path / "plane.gif"
    assert main(["plot", "animate", str(runs[0]), "--snapshots", "0,-1", *FAST, "-o",
                 str(output)]) == 0
    assert_picture(output, frames=2)


@pytest.mark.parametrize("argv, message", [
    (["edge", "-o", "{tmp}/missing/fig.png"],
     r"folder '.*missing' does not exist; create it first"),
    (["training", "{a}", "-o", "{tmp}/fig.txt"],
     r"cannot write '.*fig.txt': end the name in one of .*\.pdf, .*\.png, .*\.svg.*"),
    (["animate", "{a}", "-o", "{tmp}/movie.png"], r"cannot write '.*movie.png': end the name in "
                                                  r"one of .gif, .mp4"),
    (["edges", "{a}", "--layers", "5", "-o", "{tmp}/e.png"],
     r"layer 5 is out of range: the network has 3 layers \(0..2\)"),
    (["convergence", "{a}", "--snapshot", "7", "-o", "{tmp}/c.png"],
     r"snapshot 7 is out of range: '.*' holds 3 snapshots \(0..2, or negative from the end\)"),
    (["training", "{tmp}/none.h5", "-o", "{tmp}/t.png"],
     r"snapshot file '.*none.h5' does not exist"),
])
def test_bad_outputs_and_inputs_are_one_line_errors(runs, tmp_path, capsys, argv, message):
    argv = [arg.format(a=runs[0], tmp=tmp_path) for arg in argv]
    assert main(["plot", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.fullmatch(f"fastei plot: error: {message}\n", err)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".png", ".gif", ".txt")]


def test_convergence_trace_is_the_estimators_at_each_count():
    network = fastei.Network.from_weights([np.array([[1.5, -2.0, 0.5], [0.3, 2.2, -1.0]])])
    (counts, values), (limit, error) = convergence_trace(network, "ei", samples=[200, 400],
                                                         seed=3, cells=200, points_per_cell=64)
    assert counts == (200, 400)
    assert values == tuple(fastei.ei(network, samples=n, seed=3) for n in counts)
    estimate = fastei.ei_stratified(network, seed=3, cells=200, points_per_cell=64)
    assert (limit, error) == (estimate.value, estimate.standard_error) and error > 0
    assert converged_value(network, "ei_parts") == (fastei.ei_parts(network, method="exact"), 0)
    two_inputs = fastei.Network.from_weights([[[1.0, 2.0]]])
    assert converged_value(two_inputs) == (fastei.ei(two_inputs, method="exact"), 0.0)
    assert sample_counts(1000, smallest=10) == [10, 20, 50, 100, 200, 500, 1000]


def test_converged_value_refuses_what_it_cannot_converge():
    network = fastei.Network.from_weights([np.ones((2, 3))], activation="relu")
    with pytest.raises(ValueError, match="quantity must be one of 'ei', 'ei_parts', "
                                         "'sensitivity'; got 'phi'"):
        converged_value(network, "phi")
    with pytest.raises(ValueError, match="the converged EI of a layer with more than two inputs "
                                         "clips out-of-range outputs; overflow='drop' has no "
                                         "converged value, use overflow='clip'"):
        converged_value(network, overflow="drop")
