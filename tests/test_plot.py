"""Figures from real inputs: a short training run, its measures, exact curves and traces.

Each figure is rendered to PNG and read back; the plotted data are read from the Axes and
compared with the inputs.
"""

import dataclasses
import itertools
import math
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from PIL import Image  # noqa: E402

import fastei  # noqa: E402
from fastei import plot  # noqa: E402
from fastei._exact import edge_ei_exact  # noqa: E402
from fastei.activations import get_activation  # noqa: E402
from fastei.batch import measure_run  # noqa: E402
from fastei.train import preset, train  # noqa: E402

SNAPSHOTS = 4


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    """A real Iris run: 4 snapshots (epochs 0, 20, 40, 60) of a 4-5-5-3 sigmoid network."""
    path = tmp_path_factory.mktemp("run") / "iris.h5"
    run = train(preset("iris", epochs=60, snapshot_every=20, seed=3), output=path)
    assert len(run.snapshots) == SNAPSHOTS
    return path, run


@pytest.fixture(scope="module")
def records(run_file):
    return measure_run(run_file[0], samples=2000, sensitivity_samples=500, seed=1)


def assert_image(path):
    """The file is a real picture: not tiny, more than one colour."""
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 1


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def per_layer(records, layer, name):
    chosen = sorted((r for r in records if r.layer == layer), key=lambda r: r.epoch)
    return np.array([r.epoch for r in chosen]), np.array([getattr(r, name) for r in chosen])


# --- import --------------------------------------------------------------------------

def test_import_fastei_does_not_import_matplotlib():
    code = "import sys, fastei; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- Fig. 1a-c: single edge ----------------------------------------------------------

def test_single_edge_peaks_sit_at_the_exact_argmax(tmp_path):
    weights = np.arange(301) / 100
    curves = [plot.single_edge_curves(name, bins=(8, 16), weights=weights)
              for name in ("sigmoid", "tanh", "relu")]
    sampled = plot.single_edge_curves("relu", bins=(8,), weights=weights, samples=3000,
                                      sampled_weights=[0.5, 1.0, 2.0], seed=2)
    fig = plot.plot_single_edges(curves + [sampled])
    assert_image(plot.save_figure(fig, tmp_path / "fig1.png"))

    for curve, ax in zip(curves, fig.axes[:3], strict=True):
        act = get_activation(curve.activation)
        assert ax.get_ylabel() == "EI of the edge (bits)" and ax.get_xlabel() == "weight w"
        lines = lines_by_label(ax)
        for bins in (8, 16):
            exact = [edge_ei_exact(w, act, in_range=act.default_range,
                                   out_range=act.default_range, in_bins=bins, out_bins=bins)
                     for w in weights]
            np.testing.assert_array_equal(lines[f"{bins} bins"].get_xydata(),
                                          np.column_stack([weights, exact]))
            peak = lines[f"{bins} bins peak w={curve.peak_weight[bins]:.3g}"].get_xydata()
            np.testing.assert_array_equal(peak, [[weights[np.argmax(exact)], max(exact)]])
    # relu's spike at w = 1 is exact: every input bin maps onto one output bin
    assert curves[2].peak_weight == {8: 1.0, 16: 1.0}
    assert curves[2].peak_ei == pytest.approx({8: 3.0, 16: 4.0}, abs=1e-12)

    points = lines_by_label(fig.axes[3])["8 bins sampled"].get_xydata()
    expected = [fastei.ei(fastei.Network.from_weights([[[w]]], activation="relu"),
                          samples=3000, seed=2, in_range=(0, 1), out_range=(0, 1))
                for w in (0.5, 1.0, 2.0)]
    np.testing.assert_array_equal(points, np.column_stack([[0.5, 1.0, 2.0], expected]))


# --- Figs. 1d-f and 3: 2 -> 1 layer ---------------------------------------------------

def test_two_input_surfaces_and_their_heat_maps(tmp_path):
    w1, w2 = np.linspace(-4, 4, 5), np.linspace(-3, 3, 4)
    surfaces = plot.two_input_surfaces("tanh", w1=w1, w2=w2, bins=8)
    m = fastei.measure(fastei.Network.from_weights([[[w1[1], w2[2]]]], activation="tanh"),
                       method="converged", in_range=(-1, 1), out_range=(-1, 1))
    for name in ("ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward"):
        assert surfaces.values[name][2, 1] == getattr(m, name)

    fig = plot.plot_surfaces(surfaces, ("sensitivity", "degeneracy", "ei"))
    assert_image(plot.save_figure(fig, tmp_path / "fig3.png"))
    panels = [ax for ax in fig.axes if ax.get_xlabel()]  # colour bars have no x label
    assert len(panels) == 3
    for ax, name in zip(panels, ("sensitivity", "degeneracy", "ei"), strict=True):
        mesh, = [c for c in ax.collections if isinstance(c, QuadMesh)]
        np.testing.assert_array_equal(mesh.get_array(), surfaces.values[name])
        assert mesh.colorbar.ax.get_ylabel() == ("EI" if name == "ei" else name) + " (bits)"
        assert ax.get_xlabel() == "weight w1 (A -> C)" and ax.get_ylabel() == "weight w2 (B -> C)"

    row = plot.plot_surfaces([surfaces, plot.two_input_surfaces("relu", w1=w1, w2=w2)])
    assert len([ax for ax in row.axes if ax.get_xlabel()]) == 2



@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_two_input_surfaces_equal_measure_point_by_point_at_the_papers_bins(activation):
    # A sub-grid of the paper's (-10..10 by 0.5, 64 bins), zero included: EI_parts and
    # sensitivity come from the same tables as measure()'s; EI from a closed form that
    # agrees with measure()'s cut areas to their rounding (~1e-12 bits).
    grid = np.linspace(-10, 10, 41)
    w1, w2 = grid[::10], grid[5::10]
    surfaces = plot.two_input_surfaces(activation, w1=w1, w2=w2, bins=64)
    for (i, b), (j, a) in itertools.product(enumerate(w2), enumerate(w1)):
        m = fastei.measure(fastei.Network.from_weights([[[a, b]]], activation=activation),
                           method="converged", in_bins=64, out_bins=64,
                           in_range=surfaces.settings["in_range"],
                           out_range=surfaces.settings["out_range"])
        assert surfaces.values["ei_parts"][i, j] == m.ei_parts
        assert surfaces.values["sensitivity"][i, j] == m.sensitivity
        for name in ("ei", "degeneracy", "phi_feedforward"):
            assert surfaces.values[name][i, j] == pytest.approx(getattr(m, name), rel=0,
                                                                abs=2e-12)

# --- Figs. 2, 5, 8: over training -----------------------------------------------------

def test_training_figure_draws_every_layer_and_the_loss(tmp_path, records, run_file):
    path, run = run_file
    fig = plot.plot_training(records, path)
    assert_image(plot.save_figure(fig, tmp_path / "fig2.png"))
    top, bottom = fig.axes
    assert top.get_ylabel() == "EI (bits)" and bottom.get_ylabel() == "loss"
    assert top.get_xlabel() == bottom.get_xlabel() == "epoch"
    lines = lines_by_label(top)
    for layer in range(3):
        np.testing.assert_array_equal(lines[f"layer {layer}"].get_xydata(),
                                      np.column_stack(per_layer(records, layer, "ei")))
    losses = lines_by_label(bottom)
    epochs = [s.epoch for s in run.snapshots]
    for name, label in (("train_loss", "training loss"), ("test_loss", "test loss")):
        np.testing.assert_array_equal(
            losses[label].get_xydata(),
            np.column_stack([epochs, [s.metrics[name] for s in run.snapshots]]))


def test_tables_and_dicts_of_runs_plot_like_records(records, run_file):
    columns = {name: [getattr(r, name) for r in records] * 2
               for name in ("epoch", "layer", "ei", "phi_feedforward")}
    columns["run"] = ["a"] * len(records) + ["b"] * len(records)
    by_table = plot.plot_over_training(columns, "phi_feedforward", layers=[1])
    by_dict = plot.plot_over_training({"a": records, "b": records}, "phi_feedforward",
                                      layers=1)
    expected = np.column_stack(per_layer(records, 1, "phi_feedforward"))
    for ax in (by_table, by_dict):
        assert ax.get_ylabel() == "phi_feedforward (bits)"
        lines = lines_by_label(ax)
        assert lines["a, layer 1"].get_linestyle() != lines["b, layer 1"].get_linestyle()
        for label in ("a, layer 1", "b, layer 1"):
            np.testing.assert_array_equal(lines[label].get_xydata(), expected)
    # a table that carries the loss needs no run file
    run = run_file[1]
    table = {"epoch": [], "layer": [], "ei": [], "train_loss": [], "test_loss": []}
    for r in records:
        table["epoch"].append(r.epoch)
        table["layer"].append(r.layer)
        table["ei"].append(r.ei)
        metrics = run.snapshots[r.snapshot].metrics
        table["train_loss"].append(metrics["train_loss"])
        table["test_loss"].append(metrics["test_loss"])
    fig = plot.plot_training(table)
    assert lines_by_label(fig.axes[1])["test loss"].get_xydata()[:, 1].tolist() == [
        s.metrics["test_loss"] for s in run.snapshots]


# --- Fig. 4: causal plane -------------------------------------------------------------

def plane_points(ax):
    return {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}


def nullcline_side(ax, xy):
    """+1 right of / below the nullcline line drawn in ``ax``, -1 on the other side."""
    (x0, y0), (x1, y1) = [line for line in ax.get_lines()
                          if line.get_label().startswith("EI nullcline")][0].get_xydata()
    if x0 == x1:  # vertical: the rotated frame
        return np.sign(xy[:, 0] - x0)
    return np.sign((x1 - x0) * (y0 - xy[:, 1]) - (y1 - y0) * (x0 - xy[:, 0]))


@pytest.mark.parametrize("frame", ["plane", "rotated"])
def test_causal_plane_paths_and_nullcline(tmp_path, records, frame):
    ax = plot.plot_causal_plane(records, frame=frame)
    assert_image(plot.save_figure(ax.figure, tmp_path / f"fig4-{frame}.png"))
    assert "(bits)" in ax.get_xlabel() and "(bits)" in ax.get_ylabel()
    points = plane_points(ax)
    lines = lines_by_label(ax)
    for layer in range(3):
        epoch, sens = per_layer(records, layer, "sensitivity")
        deg = per_layer(records, layer, "degeneracy")[1]
        ei = per_layer(records, layer, "ei")[1]
        if frame == "plane":
            expected = np.column_stack([sens, deg])
        else:
            expected = np.column_stack([(sens - deg) / math.sqrt(2), (sens + deg) / math.sqrt(2)])
        np.testing.assert_allclose(points[f"layer {layer}"].get_offsets(), expected, rtol=1e-15)
        np.testing.assert_array_equal(points[f"layer {layer}"].get_array(), epoch)
        line = [v for k, v in lines.items() if not k.startswith("EI")][layer]
        np.testing.assert_allclose(line.get_xydata(), expected, rtol=1e-15)
        np.testing.assert_array_equal(nullcline_side(ax, expected), np.sign(ei))

    # both sides: a table with negative EI (degeneracy above sensitivity) is drawn left/above
    table = {"epoch": [0, 1, 0, 1], "layer": [0, 0, 1, 1], "sensitivity": [1.0, 2.0, 0.5, 0.2],
             "degeneracy": [0.4, 2.5, -1.0, 0.9]}
    ei = np.subtract(table["sensitivity"], table["degeneracy"])
    ax = plot.plot_causal_plane(table, frame=frame)
    xy = np.concatenate([c.get_offsets() for c in plane_points(ax).values()])
    np.testing.assert_array_equal(nullcline_side(ax, xy), np.sign(ei))


def test_animation_has_one_frame_per_snapshot(tmp_path, records, run_file):
    out = plot.animate_causal_plane(records, tmp_path / "plane.gif", run_file[1],
                                    frame="rotated", dpi=50)
    with Image.open(out) as gif:
        assert gif.n_frames == SNAPSHOTS
        assert gif.size[0] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["plane.gif"]  # no temporary file left
    with pytest.raises(ValueError, match=r"must end in \.gif or \.mp4"):
        plot.animate_causal_plane(records, tmp_path / "plane.avi")
    if shutil.which("ffmpeg") is None:
        with pytest.raises(ValueError, match="needs ffmpeg"):
            plot.animate_causal_plane(records, tmp_path / "plane.mp4")


# --- Figs. 6 and 7: convergence -------------------------------------------------------

def test_convergence_traces_with_their_limit(tmp_path, run_file):
    network = run_file[1].snapshots[-1].network
    doubling = fastei.converge_by_doubling(
        lambda n: fastei.ei_parts(network, span=1, samples=n, seed=1), start=500,
        max_samples=4000, threshold=1e-9)
    fit = fastei.extrapolate(lambda n: fastei.ei_parts(network, span=1, samples=n, seed=1),
                             samples=[500, 1000, 2000, 4000])
    exact = fastei.ei_parts(network, span=1, method="exact")
    ax = plot.plot_convergence({"doubling": doubling, "fit": fit},
                               reference={"doubling": exact})
    assert_image(plot.save_figure(ax, tmp_path / "fig6.png"))
    assert ax.get_ylabel() == "EI_parts (bits)" and ax.get_xscale() == "log"
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["doubling"].get_xydata(),
                                  np.column_stack([doubling.trace_samples, doubling.trace_values]))
    assert lines["limit (doubling)"].get_ydata()[0] == exact
    curve = lines["fit A/s^alpha + C (fit)"].get_xydata()
    np.testing.assert_allclose(curve[:, 1], fit.A * curve[:, 0] ** -fit.alpha + fit.C)


# --- per-edge matrices ----------------------------------------------------------------

def test_layer_edges_are_oriented_like_the_weights(tmp_path, run_file):
    network = run_file[1].snapshots[-1].network
    m = fastei.measure(network, span=2, samples=2000, sensitivity_samples=500)  # 5 -> 3
    fig = plot.plot_layer_edges(m)
    assert_image(plot.save_figure(fig, tmp_path / "edges.png"))
    panels = [ax for ax in fig.axes if ax.get_images()]
    for ax, matrix in zip(panels, (m.ei_parts_matrix, m.sensitivity_matrix), strict=True):
        image, = ax.get_images()
        np.testing.assert_array_equal(image.get_array(), matrix)
        assert image.get_array().shape == (3, 5)
        assert ax.get_xlabel() == "input node i" and ax.get_ylabel() == "output node j"
        assert len(ax.get_xticks()) == 5 and len(ax.get_yticks()) == 3
        assert image.colorbar.ax.get_ylabel().endswith("of the edge (bits)")


# --- saving and bad input -------------------------------------------------------------

def test_save_figure_is_atomic_and_checks_the_path(tmp_path, records):
    ax = plot.plot_over_training(records)
    target = tmp_path / "ei.png"
    target.write_bytes(b"old")
    plot.save_figure(ax.figure, target)
    assert_image(target)
    assert [p.name for p in tmp_path.iterdir()] == ["ei.png"]
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        plot.save_figure(ax.figure, tmp_path / "missing" / "ei.png")
    with pytest.raises(ValueError, match=r"end the name in one of .*\.png"):
        plot.save_figure(ax.figure, tmp_path / "ei.xyz")
    before = target.read_bytes()
    with pytest.raises(TypeError):  # the writer fails half-way: the old file stays whole
        plot.save_figure(ax.figure, target, dpi="high")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ei.png"]


class Columns:
    """A table indexed by column name with a ``columns`` attribute, as a DataFrame is."""

    def __init__(self, columns):
        self._columns = dict(columns)
        self.columns = list(self._columns)

    def __getitem__(self, name):
        return self._columns[name]


def test_bad_input_gives_one_line_errors(records, run_file):
    cases = [
        (lambda: plot.plot_over_training([]), ValueError, "no records to plot"),
        (lambda: plot.plot_over_training(records, layers=7), ValueError,
         "layer 7 is not in the input; choose from 0, 1, 2"),
        (lambda: plot.plot_over_training(records, runs="x"), ValueError, "run 'x' is not"),
        (lambda: plot.plot_over_training({"epoch": [0, 1], "layer": [0]}), ValueError,
         "columns have different lengths"),
        (lambda: plot.plot_over_training({"epoch": [0, 0], "layer": [0, 0], "ei": [1, 2]}),
         ValueError, "several entries at epoch 0"),
        (lambda: plot.plot_over_training({"epoch": [0], "layer": [0]}), ValueError,
         "no 'ei' values"),
        (lambda: plot.plot_over_training(records, "entropy"), ValueError, "quantity must be"),
        (lambda: plot.plot_over_training(3), TypeError, "data must be layer records"),
        (lambda: plot.plot_training({"a": records, "b": records}, run_file[1]), ValueError,
         "metrics is one run but the input holds 2 runs"),
        (lambda: plot.plot_causal_plane(records, frame="polar"), ValueError,
         "frame must be 'plane' or 'rotated'"),
        (lambda: plot.plot_convergence(([1, 2], [1.0])), ValueError,
         "2 sample counts and 1 values"),
        (lambda: plot.plot_convergence({"a": ([1], [1.0])}, reference={"b": 1.0}), ValueError,
         "reference names 'b'"),
        (lambda: plot.plot_edge_matrix(np.ones(3)), ValueError, "matrix must be 2-D"),
        (lambda: plot.plot_metrics(run_file[1], names=["loss"]), ValueError,
         "quantity must be one of 'train_loss'"),
        (lambda: plot.plot_over_training([{"epoch": 0, "layer": 0, "ei": 1.0},
                                          {"epoch": 1, "layer": 0}]), ValueError,
         "record 1 has no 'ei' value but others do"),
        (lambda: plot.plot_over_training({"layer": [0], "ei": [1.0]}), ValueError,
         "the input has no 'epoch' column"),
        (lambda: plot.plot_over_training({"epoch": [], "layer": []}), ValueError,
         "the table is empty"),
        (lambda: plot.plot_over_training({}), ValueError, "no runs to plot: the dict is empty"),
        (lambda: plot.plot_training(records, {"x": run_file[1]}), ValueError,
         "metrics name run 'x', which the input does not hold"),
        (lambda: plot.plot_metrics(Columns({"train_loss": [1.0]})), ValueError,
         "the metrics table has no 'epoch' column"),
        (lambda: plot.plot_metrics({"epoch": [0, 1], "train_loss": [1.0]}), ValueError,
         "metric columns have different lengths"),
        (lambda: plot.plot_metrics(dataclasses.replace(run_file[1], snapshots=())),
         ValueError, "the run holds no snapshot"),
        (lambda: plot.plot_metrics(3), TypeError, "metrics must be a fastei.io.Run"),
        (lambda: plot.plot_convergence([1, 2, 3]), TypeError, "must be a result of"),
        (lambda: plot.plot_convergence({"a": ([1], [1.0]), "b": ([1], [2.0])}, reference=1.0),
         ValueError, "reference is one value for 2 traces"),
        (lambda: plot.plot_single_edges([]), ValueError, "curves is empty"),
        (lambda: plot.single_edge_curves(bins=()), ValueError, "bins and weights must"),
        (lambda: plot.two_input_surfaces(w1=[]), ValueError, "w1 and w2 must"),
        (lambda: plot.plot_surfaces([]), ValueError, "give at least one two_input_surfaces"),
        (lambda: plot.plot_layer_edges(np.ones((2, 2))), TypeError,
         "measures must be a fastei.Measures"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
