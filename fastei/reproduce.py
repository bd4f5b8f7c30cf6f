"""The paper's study as data, and :func:`reproduce`, which runs it into an HTML report.

A :class:`Study` lists the training runs (Iris and reduced MNIST, three seeds each; the
MNIST variants with a hidden layer removed and with redundant layers added; tanh and relu
MNIST) and the measurement and figure settings. :func:`paper_study` gives the paper's
settings or a quick version of them; :func:`reproduce` trains the runs into
``DIR/runs/`` (a run whose file is already complete is kept), measures them with
:func:`fastei.batch.estimate`, which stores every value in the run files (a second call
computes nothing, a killed one only what is missing), draws every figure of the paper into
``DIR`` and writes ``DIR/index.html``.

Examples
--------
>>> from fastei.reproduce import paper_study, reproduce
>>> study = paper_study("iris", quick=True)
>>> [spec.label for spec in study.runs], study.samples
(['iris-seed1', 'iris-seed2', 'iris-seed3'], 100000)
>>> reproduce("report", study).index  # about half a minute  # doctest: +SKIP
PosixPath('report/index.html')

A smaller study for a test: ``paper_study("iris", quick=True, seeds=(1,),
epochs=20).replace(samples=2000, cells=100, points_per_cell=64, ...)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ._files import check_output_path, write_atomically
from .figures import (
    convergence_trace,
    figure,
    paper_single_edges,
    sample_counts,
    save,
)
from .report import Figure, Section, Table, write_report

__all__ = ["GROUPS", "Group", "Reproduction", "RunSpec", "Study", "paper_study", "reproduce"]

STUDIES = ("iris", "mnist", "all")
# the paper's single-edge peaks (Fig. 1a-c): e for sigmoid, coth(1) for tanh, 1 for relu
PAPER_PEAKS = {"sigmoid": ("e", math.e), "tanh": ("coth(1)", 1 / math.tanh(1.0)),
               "relu": ("1", 1.0)}
ACTIVATIONS = ("sigmoid", "tanh", "relu")
REDUNDANT = "mnist-25-6-6-6-6-6-5"
LONG = REDUNDANT + "-long"
LONG_EPOCHS = 20_000


@dataclass(frozen=True)
class Group:
    """A family of runs that differ only in their seed."""

    preset: str
    description: str
    changes: dict = field(default_factory=dict)
    measure: dict = field(default_factory=dict)


GROUPS = {
    "iris": Group("iris", "Iris 4-5-5-3, sigmoid"),
    "mnist": Group("mnist", "reduced MNIST 25-6-6-6-5, sigmoid"),
    "mnist-25-6-6-5": Group("mnist-25-6-6-5",
                            "reduced MNIST 25-6-6-5 (a hidden layer removed), sigmoid"),
    REDUNDANT: Group(REDUNDANT,
                     "reduced MNIST 25-6-6-6-6-6-5 (redundant layers added), sigmoid"),
    "mnist-tanh": Group("mnist", "reduced MNIST 25-6-6-6-5, tanh", {"activation": "tanh"}),
    "mnist-relu": Group("mnist", "reduced MNIST 25-6-6-6-5, relu (outputs above 1 dropped "
                                 "when measured, as in the paper)",
                        {"activation": "relu"}, {"overflow": "drop"}),
    LONG: Group(REDUNDANT, f"reduced MNIST 25-6-6-6-6-6-5, sigmoid, the paper's settings but "
                           f"{LONG_EPOCHS:,} epochs (not in the paper)",
                {"epochs": LONG_EPOCHS, "snapshot_every": 200}),
}
_STUDY_GROUPS = {"iris": ("iris",),
                 "mnist": ("mnist", "mnist-25-6-6-5", REDUNDANT, "mnist-tanh", "mnist-relu")}


@dataclass(frozen=True)
class RunSpec:
    """One training run of a study.

    Attributes
    ----------
    group : str
        Key of :data:`GROUPS` (the preset, the changes to it and the measure options).
    seed : int
    epochs : int or None
        Epochs instead of the group's, if given.
    """

    group: str
    seed: int
    epochs: int | None = None

    @property
    def label(self) -> str:
        """``"<group>-seed<seed>"``, also the run file's name."""
        return f"{self.group}-seed{self.seed}"

    def config(self):
        """The :class:`fastei.train.TrainConfig` of the run."""
        from .train import preset

        group = GROUPS[self.group]
        changes = dict(group.changes)
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        return preset(group.preset, seed=self.seed, **changes)


@dataclass(frozen=True)
class Study:
    """What to train, measure and draw.

    Attributes
    ----------
    which : {"iris", "mnist", "all"}
    quick : bool
        Whether these are the quick settings (shown in the report).
    runs : tuple of RunSpec
    samples : int
        Joint noise samples of each plug-in EI and EI_parts (the paper: 10**7).
    sensitivity_samples : int
        Noise samples per input node for sensitivity (the paper: 5000).
    bins : int
        Bins per node (the paper: 8).
    noise_seed : int
        Seed of every noise stream.
    snapshots : int or None
        Snapshots measured per run, evenly spaced from the first to the last; None: all.
    converged_snapshots : int
        Of those, how many (evenly spaced, the last included) also get the converged EI.
    cells, points_per_cell : int
        Budget of the stratified (converged) EI.
    edge_step : float
        Weight step of the exact single-edge curves (Fig. 1a-c), from 0 to 10.
    edge_samples : int or None
        Plug-in points beside them (the paper: 30,000 samples); None: none.
    surface_bins, surface_points : int
        Bins, and weights per axis from -10 to 10, of the two-input surfaces (Figs. 1d-f,
        3; the paper: 64 bins).
    convergence_samples : int
        Largest sample count of the convergence figures (Figs. 6, 7).
    fig6_bins : tuple of int
        Bin counts of Fig. 6.
    fig7_widths : tuple of int
        Layer widths of Fig. 7.
    movie : bool
        Also write the causal-plane movie of the redundant-layer network (MNIST).
    """

    which: str
    quick: bool
    runs: tuple
    samples: int = 10**7
    sensitivity_samples: int = 5000
    bins: int = 8
    noise_seed: int = 0
    snapshots: int | None = None
    converged_snapshots: int = 6
    cells: int = 4000
    points_per_cell: int = 2048
    edge_step: float = 0.01
    edge_samples: int | None = 30_000
    surface_bins: int = 64
    surface_points: int = 41
    convergence_samples: int = 10**7
    fig6_bins: tuple = (8, 16, 32, 64)
    fig7_widths: tuple = (2, 3, 4, 5, 6)
    movie: bool = True

    def replace(self, **changes) -> Study:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def groups(self) -> list[str]:
        """The run groups of the study, in order."""
        return list(dict.fromkeys(spec.group for spec in self.runs))

    def settings(self) -> dict:
        """Every setting as name -> value, for the report."""
        values = dataclasses.asdict(self)
        values["runs"] = ", ".join(spec.label for spec in self.runs)
        return {name: (", ".join(map(str, v)) if isinstance(v, tuple) else v)
                for name, v in values.items()}


QUICK = dict(samples=10**5, sensitivity_samples=1000, snapshots=6, converged_snapshots=1,
             cells=500, points_per_cell=256, edge_step=0.05, edge_samples=5000,
             surface_bins=8, surface_points=21, convergence_samples=10**5, fig6_bins=(8, 32),
             fig7_widths=(2, 4, 6))
QUICK_EPOCHS = {"iris": 1500}


def paper_study(which="all", *, quick=False, seeds=(1, 2, 3), epochs=None) -> Study:
    """The paper's study (Mattsson, Michaud & Hoel 2020), or a quick version of it.

    Parameters
    ----------
    which : {"iris", "mnist", "all"}, default "all"
        The Iris runs, the MNIST runs (the 25-6-6-6-5 network, the variants with a
        hidden layer removed and with redundant layers added, tanh and relu), or both.
        The figures that need no run (Figs. 1, 3, 6, 7) are always drawn.
    quick : bool, default False
        Small but real settings: 10**5 samples, 6 snapshots a run, Iris trained 1500
        epochs, the converged EI at the last snapshot only, coarser exact figures. The
        full study adds the redundant-layer network trained for 20,000 epochs, past its
        plateau (see docs/REPLICATION.md).
    seeds : sequence of int, default (1, 2, 3)
        Seeds of every run group.
    epochs : int, optional
        Epochs of every run instead of the preset's.

    Returns
    -------
    Study
        Change any setting with :meth:`Study.replace`.
    """
    if which not in STUDIES:
        raise ValueError(f"which must be one of {', '.join(map(repr, STUDIES))}; got {which!r}")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed, e.g. (1, 2, 3)")
    groups = [g for key in (("iris", "mnist") if which == "all" else (which,))
              for g in _STUDY_GROUPS[key]]
    runs = [RunSpec(g, s, epochs if epochs is not None else
                    QUICK_EPOCHS.get(g) if quick else None) for g in groups for s in seeds]
    if which != "iris" and not quick:
        runs.append(RunSpec(LONG, seeds[0], epochs))
    return Study(which, bool(quick), tuple(runs), **(QUICK if quick else {}))


@dataclass(frozen=True)
class Reproduction:
    """What :func:`reproduce` did.

    Attributes
    ----------
    index : Path
        The report, ``DIR/index.html``.
    figures : tuple of Path
        Every figure file drawn.
    trained, reused : tuple of str
        Labels of the runs trained now, and of those whose complete file was kept.
    computed, stored : int
        Measuring tasks (one layer of one snapshot, plug-in or converged) computed now, and
        those whose values were stored in the run files already.
    seconds : dict
        Wall time in seconds of ``"training"``, ``"measuring"``, ``"drawing"`` and in
        ``"all"``.
    """

    index: Path
    figures: tuple
    trained: tuple
    reused: tuple
    computed: int
    stored: int
    seconds: dict


@dataclass
class _Measured:
    """A run and its measures."""

    spec: RunSpec
    run: object
    records: list
    converged: dict  # (epoch, layer) -> (ei, standard error, exact ei_parts), or a reason

    @property
    def label(self) -> str:
        return self.spec.label


def _complete(path: Path, config) -> object | None:
    """The run in ``path`` if it holds every snapshot of ``config``, else None."""
    from .io import read_run

    if not path.is_file():
        return None
    try:
        run = read_run(path)
    except ValueError:
        return None
    done = run.snapshots and run.snapshots[-1].epoch == config.epochs
    return run if done and run.config == config.to_dict() else None


def _positions(count: int, wanted: int | None) -> list[int]:
    """``wanted`` snapshot positions evenly spaced over ``count`` (all when None)."""
    if wanted is None or wanted >= count:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, wanted).round().astype(int).tolist()))


def _measure_options(study: Study, spec: RunSpec) -> dict:
    return dict(samples=study.samples, sensitivity_samples=study.sensitivity_samples,
                in_bins=study.bins, out_bins=study.bins, seed=study.noise_seed,
                **GROUPS[spec.group].measure)


def _train_file(config, path: Path) -> None:
    """Train one run into ``path`` (a worker process's task)."""
    from .train import train

    train(config, output=path, overwrite=True)


def _train(study, runs_folder, say, workers) -> tuple[dict, tuple, tuple]:
    """Every run of the study, trained now (in ``workers`` processes, longest first) or
    kept from a complete file: ``{label: Run}``, the labels trained and those reused."""
    import concurrent.futures as cf
    import multiprocessing

    from .io import read_run

    paths = {spec.label: runs_folder / f"{spec.label}.h5" for spec in study.runs}
    configs = {spec.label: spec.config() for spec in study.runs}
    runs = {label: _complete(paths[label], configs[label]) for label in paths}
    # longest first (epochs times widths, roughly the work), so the pool ends together
    missing = sorted((label for label, run in runs.items() if run is None),
                     key=lambda label: -configs[label].epochs * len(configs[label].widths))
    for label in missing:
        say(f"training {label} ({configs[label].epochs} epochs)")
    if len(missing) > 1 and workers > 1:
        with cf.ProcessPoolExecutor(min(workers, len(missing)),
                                    mp_context=multiprocessing.get_context("spawn")) as pool:
            for done in [pool.submit(_train_file, configs[label], paths[label])
                         for label in missing]:
                done.result()
    else:
        for label in missing:
            _train_file(configs[label], paths[label])
    runs.update({label: read_run(paths[label]) for label in missing})
    reused = tuple(label for label in paths if label not in missing)
    return runs, tuple(label for label in paths if label in missing), reused


class _Tally:
    """Tasks computed and reused over the batches of a reproduction; progress lines."""

    def __init__(self, say):
        self.say, self.computed, self.stored = say, 0, 0
        self._total = self._done = 0

    def progress(self, total) -> None:
        if total is not None:
            self._total, self._done = total, 0
            return
        self._done += 1
        if self._total >= 100 and self._done % (self._total // 10) == 0:
            self.say(f"  {self._done}/{self._total} tasks")

    def add(self, summary, what) -> list:
        """The summary's records; a failed task stops the reproduction."""
        if summary.failed:
            raise ValueError(f"{len(summary.failed)} {what} failed (the values measured are "
                             f"stored; run again to retry): {summary.failed[0]}")
        self.computed += summary.done
        self.stored += summary.skipped
        self.say(f"  {summary.summary()}")
        return summary.records


def _batches(study, positions, options_of):
    """Runs that share their estimator options and snapshot positions, for one batch each."""
    batches = {}
    for spec in study.runs:
        options = options_of(spec)
        if options is not None:
            key = (tuple(sorted(options.items())), tuple(positions[spec.label]))
            batches.setdefault(key, []).append(spec)
    return batches.values()


def _converged_positions(study, positions) -> list[int]:
    if study.converged_snapshots <= 1:
        return positions[-1:]
    return [positions[i] for i in _positions(len(positions), study.converged_snapshots)]


def _measure(study, runs, runs_folder, say, workers, tally) -> list[_Measured]:
    """Measure every chosen snapshot through :func:`fastei.batch.estimate`, the values stored
    in the run files (a rerun computes only what is missing); the converged EI (stratified,
    with its standard error) and exact EI_parts at :func:`_converged_positions`."""
    from .batch import LayerRecord, estimate

    positions = {label: _positions(len(run.snapshots), study.snapshots)
                 for label, run in runs.items()}
    converged_at = {label: _converged_positions(study, p) for label, p in positions.items()}
    sampled, converged = {}, {}

    def run_batches(chosen, options_of, what, **common):
        for specs in _batches(study, chosen, options_of):
            files = [runs_folder / f"{spec.label}.h5" for spec in specs]
            say(f"measuring {what} of {', '.join(spec.label for spec in specs)}")
            summary = estimate(files, snapshots=chosen[specs[0].label], workers=workers,
                               progress=tally.progress, **options_of(specs[0]), **common)
            for record in tally.add(summary, what):
                yield Path(record["file"]).stem, record

    for label, r in run_batches(positions, partial(_measure_options, study), "plug-in values"):
        sampled.setdefault(label, []).append(LayerRecord(
            r["snapshot"], r["epoch"], r["span"][0], r["ei"], r["ei_parts"], r["sensitivity"],
            r["sensitivity"] - r["ei"], r["ei"] - r["ei_parts"], r["settings"]))

    def converged_options(spec):
        if GROUPS[spec.group].measure.get("overflow", "clip") != "clip":
            return None
        return dict(in_bins=study.bins, out_bins=study.bins, seed=study.noise_seed,
                    method="converged", cells=study.cells, points_per_cell=study.points_per_cell)

    for label, r in run_batches(converged_at, converged_options, "converged values",
                                measures=("ei", "ei_standard_error", "ei_parts")):
        converged.setdefault(label, {})[(r["epoch"], r["span"][0])] = (
            r["ei"], r["ei_standard_error"], r["ei_parts"])
    measured = []
    for spec in study.runs:
        overflow = GROUPS[spec.group].measure.get("overflow", "clip")
        found = converged.get(spec.label) or {
            (runs[spec.label].snapshots[p].epoch, layer): f"overflow={overflow!r}"
            for p in converged_at[spec.label]
            for layer in range(len(runs[spec.label].snapshots[p].network))}
        measured.append(_Measured(spec, runs[spec.label], sampled[spec.label], found))
    return measured


# ---- text ---------------------------------------------------------------------------------

def _count(n) -> str:
    """``10^7`` for powers of ten, else ``12,345``."""
    if n >= 1000 and 10 ** round(math.log10(n)) == n:
        return f"10^{round(math.log10(n))}"
    return f"{n:,}"


def _training_text(group_runs) -> str:
    config = group_runs[0].run.config
    seeds = ", ".join(str(m.spec.seed) for m in group_runs)
    return (f"{GROUPS[group_runs[0].spec.group].description}; seeds {seeds}; "
            f"{config['epochs']} epochs, batch {config['batch_size']}, learning rate "
            f"{config['learning_rate']}, {config['loss']} loss, {config['init']} init")


def _measure_text(study, group_runs) -> str:
    counts = sorted({len({r.epoch for r in m.records}) for m in group_runs})
    shown = "/".join(map(str, counts))
    return (f"plug-in estimates from {_count(study.samples)} joint noise samples "
            f"(sensitivity {_count(study.sensitivity_samples)} per node), {study.bins} "
            f"bins, noise seed {study.noise_seed}, at {shown} snapshots per run")


def _converged_text(study, group_runs, quantity="ei") -> str:
    reasons = {found for m in group_runs for found in m.converged.values()
               if isinstance(found, str)}
    if reasons:
        return (f"No converged EI is drawn: these runs are measured with "
                f"{', '.join(sorted(reasons))} (outputs outside the range dropped, the "
                "paper's relu convention), and the stratified estimator keeps every sample.")
    where = ("the last snapshot" if study.converged_snapshots <= 1
             else f"{study.converged_snapshots} snapshots")
    stratified = (f"stratified EI, {study.cells} cells x {study.points_per_cell} points, +- one "
                  "standard error")
    what = (f"the converged phi_feedforward at {where} ({stratified}, minus the exact "
            "EI_parts)" if quantity == "phi_feedforward" else
            f"the converged EI at {where} ({stratified})")
    return (f"Stars with error bars: {what}, drawn where it differs from the plug-in curve by "
            "more than its standard error: the gap is the plug-in's sampling bias, not a "
            "change of the network.")


def _accuracy(group_runs) -> str:
    values = [m.run.snapshots[-1].metrics["test_accuracy"] for m in group_runs]
    return ", ".join(f"{v:.3f}" for v in values)


# ---- figures -------------------------------------------------------------------------------

def _json(value):
    """``value`` with arrays as lists and dict keys as text, for JSON."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_json(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _curves_from_json(kept):
    """A :class:`fastei.plot.SingleEdgeCurves` from its :func:`_json` form."""
    from .plot.single_edge import SingleEdgeCurves

    def by_bins(values, kind):
        return None if values is None else {int(b): kind(v) for b, v in values.items()}

    return SingleEdgeCurves(
        kept["activation"], np.array(kept["weights"]), by_bins(kept["ei"], np.array),
        by_bins(kept["peak_weight"], float), by_bins(kept["peak_ei"], float),
        None if kept["sampled_weights"] is None else np.array(kept["sampled_weights"]),
        by_bins(kept["sampled_ei"], np.array), kept["settings"])


def _single_edges(study, folder, say):
    from matplotlib.lines import Line2D

    from .plot import plot_single_edges
    from .plot._style import layer_colour

    weights = np.round(np.arange(0.0, 10.0 + study.edge_step / 2, study.edge_step), 10)
    settings = {"edge_step": study.edge_step, "edge_samples": study.edge_samples,
                "noise_seed": study.noise_seed}

    def compute():
        return [_json(dataclasses.asdict(curve)) for curve in paper_single_edges(
            ACTIVATIONS, weights=weights, samples=study.edge_samples, seed=study.noise_seed)]

    curves = [_curves_from_json(kept) for kept in _kept(
        folder, "single-edges.json", settings, compute, say,
        "drawing Fig. 1a-c (single edges), the curves")]
    fig = plot_single_edges(curves, fig=figure(14.0, 4.6))
    for curve, ax in zip(curves, fig.axes, strict=True):
        ax.get_legend().remove()  # one legend for the three panels, below them
        ax.axvline(PAPER_PEAKS[curve.activation][1], color="0.3", linestyle=":", linewidth=1.2)
    handles = [Line2D([], [], color=layer_colour(i), label=f"{b} bins")
               for i, b in enumerate(curves[0].ei)]
    handles += [Line2D([], [], color="0.5", marker="v", markeredgecolor="black",
                       linestyle="none", label="measured peak (highest point)"),
                Line2D([], [], color="0.3", linestyle=":",
                       label="the paper's stated peak (e, coth(1), 1)")]
    if study.edge_samples is not None:
        handles.append(Line2D([], [], color="0.5", marker=".", linestyle="none",
                              label=f"plug-in, {_count(study.edge_samples)} samples"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
               fontsize="small")
    path = save(fig, folder / "fig1abc-edges.png")
    peaks, rows = [], []
    for curve in curves:
        name, value = PAPER_PEAKS[curve.activation]
        found = ", ".join(f"{w:.3g} ({b} bins)" for b, w in curve.peak_weight.items())
        peaks.append(f"{curve.activation}: {found} against the paper's {name} = {value:.3f}")
        rows += [[curve.activation, b, curve.peak_weight[b], curve.peak_ei[b], name, value]
                 for b in curve.peak_weight]
    sampled = ("" if study.edge_samples is None else
               f" Dots: plug-in estimates from {_count(study.edge_samples)} noise samples.")
    caption = (f"Exact EI of one edge y = f(w x) against its weight w (0 to 10, step "
               f"{study.edge_step}), x uniform over the activation's range ((0, 1) for "
               f"sigmoid and relu, (-1, 1) for tanh), input and output at 8, 16, 32 and 64 "
               f"bins; relu outputs above 1 dropped, as in the paper.{sampled} Triangles mark "
               f"each curve's highest point, the measured peak; the dotted line is the peak "
               f"the paper states. Measured peaks: {'; '.join(peaks)}. The curves "
               "have narrow spikes where bin edges line up, so the peak moves with the bin "
               "count.")
    table = Table("Fig. 1a-c: where the single-edge EI peaks",
                  ["activation", "bins", "peak weight", "peak EI (bits)", "paper", "paper value"],
                  rows, "Exact curves on the weight grid above; the paper's values are "
                               "its stated peaks.")
    return Figure(path, caption, "Fig. 1a-c: EI of a single edge"), table


def _surfaces(study, folder, say):
    from .plot import plot_surfaces, two_input_surfaces
    from .plot.two_input import TwoInputSurfaces

    grid = np.linspace(-10.0, 10.0, study.surface_points)
    settings = {"surface_points": study.surface_points, "surface_bins": study.surface_bins}
    kept = _kept(folder, "two-input-surfaces.json", settings, lambda: {
        a: _json(dataclasses.asdict(two_input_surfaces(a, w1=grid, w2=grid,
                                                       bins=study.surface_bins)))
        for a in ACTIVATIONS}, say, "drawing Figs. 1d-f and 3 (two-input layers), the surfaces")
    surfaces = {a: TwoInputSurfaces(
        s["activation"], np.array(s["w1"]), np.array(s["w2"]),
        {name: np.array(v) for name, v in s["values"].items()}, s["settings"])
        for a, s in kept.items()}
    setting = (f"C = f(w1 A + w2 B), computed exactly (no sampling) on a {study.surface_points} x "
               f"{study.surface_points} grid of weights from -10 to 10, A and B uniform over "
               f"the activation's range, {study.surface_bins} bins")
    manifold = save(plot_surfaces(list(surfaces.values()), ("ei",), fig=figure(13.0, 3.9)),
                    folder / "fig1def-two-input-ei.png")
    fig3 = save(plot_surfaces(surfaces["sigmoid"], ("sensitivity", "degeneracy", "ei"),
                              fig=figure(13.0, 3.9)), folder / "fig3-sigmoid-decomposition.png")
    return [Figure(manifold, f"EI of a two-input layer for sigmoid, tanh and relu: {setting}.",
                   "Fig. 1d-f: EI manifolds of a two-input layer"),
            Figure(fig3, f"Sensitivity (each input perturbed alone, the other held at 0), "
                         f"degeneracy = sensitivity - EI, and EI of a sigmoid two-input "
                         f"layer: {setting}. Degeneracy is diverging around 0.",
                   "Fig. 3: EI = sensitivity - degeneracy")]


def _mark_converged(ax, group_runs, quantity) -> bool:
    """Stars with error bars where the converged value differs from the plug-in one;
    whether any was drawn."""
    from .plot._style import layer_colour

    plug_in = {(m.label, r.epoch, r.layer): getattr(r, quantity)
               for m in group_runs for r in m.records}
    drawn = False
    for m in group_runs:
        for (epoch, layer), found in m.converged.items():
            if isinstance(found, str):
                continue
            value, error, parts = found
            if quantity == "phi_feedforward":
                value -= parts
            if abs(plug_in[(m.label, epoch, layer)] - value) <= error:
                continue
            ax.errorbar([epoch], [value], yerr=[error], marker="*", markersize=10,
                        color=layer_colour(layer), markeredgecolor="black", linestyle="none",
                        zorder=5)
            drawn = True
    return drawn


def _legend(where, layers, *, seeds=(), markers=False, extra=(), **options) -> None:
    """One legend entry per layer (its colour), per seed (its line style) and ``extra``
    handles, instead of one per (run, layer); ``where`` is an Axes or a Figure."""
    from matplotlib.lines import Line2D

    from .plot._style import layer_colour, layer_marker, run_linestyle

    handles = [Line2D([], [], color=layer_colour(k), marker=layer_marker(k) if markers else None,
                      label=f"layer {k}") for k in range(layers)]
    handles += [Line2D([], [], color="0.3", linestyle=run_linestyle(i), label=f"seed {seed}")
                for i, seed in enumerate(seeds)]
    where.legend(handles=handles + list(extra), **{"fontsize": "x-small", "ncols": 2, **options})


def _over_training(study, folder, group_runs, quantity, name, title, what):
    from matplotlib.lines import Line2D

    from .plot import plot_training
    from .plot._style import run_linestyle

    data = {m.label: m.records for m in group_runs}
    metrics = {m.label: m.run for m in group_runs}
    fig = plot_training(data, metrics, quantity=quantity, fig=figure(7.5, 6.6))
    top, bottom = fig.axes[:2]
    seeds = [m.spec.seed for m in group_runs]
    star = ([Line2D([], [], color="0.5", marker="*", markersize=10, markeredgecolor="black",
                    linestyle="none", label="converged (stratified)")]
            if _mark_converged(top, group_runs, quantity) else [])
    _legend(top, len(group_runs[0].run.snapshots[0].network), seeds=seeds, extra=star)
    bottom.legend(handles=[Line2D([], [], color="black", label="training loss"),
                           Line2D([], [], color="tab:red", label="test loss")]
                  + [Line2D([], [], color="0.3", linestyle=run_linestyle(i),
                            label=f"seed {seed}") for i, seed in enumerate(seeds)],
                  fontsize="x-small", ncols=2)
    top.set_title(GROUPS[group_runs[0].spec.group].description, fontsize="medium")
    path = save(fig, folder / f"{name}.png")
    caption = (f"{what} of every layer (colour) of each run (line style) over training, above "
               f"the training (black) and test (red) loss. Runs: {_training_text(group_runs)}; "
               f"final test accuracy {_accuracy(group_runs)}. Measures: "
               f"{_measure_text(study, group_runs)}.\n\n"
               f"{_converged_text(study, group_runs, quantity)}")
    return Figure(path, caption, title)


def _plane(study, folder, group_runs, name, title, note=""):
    from matplotlib.lines import Line2D

    from .plot import plot_causal_plane

    fig = figure(6.4, 7.0)
    ax = plot_causal_plane({m.label: m.records for m in group_runs}, frame="rotated",
                           ax=fig.add_subplot())
    ax.get_legend().remove()
    ax.set_aspect("equal", adjustable="datalim")  # fill the panel; a bit is as long both ways
    _legend(fig, len(group_runs[0].run.snapshots[0].network), markers=True, ncols=4,
            loc="outside lower center",
            extra=[Line2D([], [], color="0.4", linestyle="--", label="EI nullcline (EI = 0)")])
    ax.set_title(group_runs[0].spec.group, fontsize="medium")
    path = save(fig, folder / f"{name}.png")
    caption = (f"Each layer's path through the causal plane (the runs' paths overlaid), points "
               f"coloured by epoch, in the "
               f"paper's view: the plane turned by 45 degrees so that the EI nullcline "
               f"(EI = 0) is the vertical dashed line, more sensitive to the right, more "
               f"degenerate to the left. Runs: {_training_text(group_runs)}; final test "
               f"accuracy {_accuracy(group_runs)}. Measures: "
               f"{_measure_text(study, group_runs)}.{note}")
    return Figure(path, caption, title)


def _movie(study, folder, group_runs):
    from .plot import animate_causal_plane

    first = group_runs[:1]
    path = animate_causal_plane({m.label: m.records for m in first},
                                folder / f"fig4-{first[0].label}-movie.gif",
                                {m.label: m.run for m in first}, frame="plane", fps=3,
                                dpi=90, fig=figure(6.4, 7.2))
    return Figure(path, f"The causal plane of {first[0].label} over training, one frame per "
                        f"measured epoch, with the loss and accuracy below (the paper's movie), "
                        f"drawn as degeneracy against sensitivity: the EI nullcline is the "
                        f"diagonal, points below it have EI > 0. "
                        f"Measures: {_measure_text(study, first)}.",
                  "Fig. 4 movie: the redundant-layer network in the causal plane")


def _convergence_legend(fig, labels) -> None:
    """One legend below the panels (a colour per trace, the limits dashed) instead of one
    per panel over the curves."""
    from matplotlib.lines import Line2D

    from .plot._style import layer_colour

    for ax in fig.axes:
        ax.get_legend().remove()
    handles = [Line2D([], [], color=layer_colour(i), marker="o", markersize=3, label=label)
               for i, label in enumerate(labels)]
    handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1,
                          label="converged value (in the trace's colour)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
               fontsize="small")


def _kept(folder, name, settings, compute, say, what):
    """``compute()`` (JSON types), kept in ``folder/name`` with ``settings`` (and the
    estimators' version): a later call with the same settings reads it instead."""
    import json

    from .results import ESTIMATOR_VERSION

    settings = {**settings, "estimator_version": ESTIMATOR_VERSION}
    path = folder / name
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept["settings"] == settings:
            say(f"{what} from {name} (same settings)")
            return kept["values"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or unreadable: computed again
    say(f"{what}, computing them into {name}")
    values = compute()
    write_atomically(path, json.dumps({"settings": settings, "values": values}))
    return values


def _convergence_traces(study, folder, say) -> dict:
    """The plug-in traces and limits of Figs. 6 and 7: ``{panel: {label: [counts, values,
    limit]}}``, kept in ``folder/convergence-traces.json``."""
    from .network import Network

    counts = sample_counts(study.convergence_samples)

    def trace(network, quantity, **binning):
        (samples, values), (limit, _) = convergence_trace(
            network, quantity, samples=counts, seed=study.noise_seed, **binning)
        return [list(samples), list(values), limit]

    def compute():
        rng = np.random.default_rng(study.noise_seed)
        layer = rng.uniform(-1, 1, size=(30, 30)) / math.sqrt(30)
        panels = {"fig6": {f"{bins} bins": trace(layer, "ei_parts", in_bins=bins,
                                                 out_bins=bins)
                           for bins in study.fig6_bins}}
        for scale in (1, 5):
            layers = {w: Network.from_weights([rng.uniform(-scale, scale, size=(w, w))
                                               / math.sqrt(w)]) for w in study.fig7_widths}
            for quantity in ("ei", "ei_parts"):
                panels[f"fig7 {scale} {quantity}"] = {
                    f"width {width}": trace(network, quantity, in_bins=study.bins,
                                            out_bins=study.bins, cells=study.cells,
                                            points_per_cell=study.points_per_cell)
                    for width, network in layers.items()}
        return panels

    settings = {"convergence_samples": study.convergence_samples, "bins": study.bins,
                "fig6_bins": list(study.fig6_bins), "fig7_widths": list(study.fig7_widths),
                "noise_seed": study.noise_seed, "cells": study.cells,
                "points_per_cell": study.points_per_cell}
    return _kept(folder, "convergence-traces.json", settings, compute, say,
                 "drawing Figs. 6 and 7 (convergence with samples), their traces")


def _convergence(study, folder, say):
    from .plot import plot_convergence

    def draw(panel, quantity, ax):
        traces = {label: (counts, values) for label, (counts, values, _) in panel.items()}
        limits = {label: limit for label, (_, _, limit) in panel.items()}
        return plot_convergence(traces, quantity, reference=limits, ax=ax)

    panels = _convergence_traces(study, folder, say)
    fig = figure(7.0, 5.4)
    draw(panels["fig6"], "ei_parts", fig.add_subplot()).set_yscale("log")
    _convergence_legend(fig, list(panels["fig6"]))
    fig6 = save(fig, folder / "fig6-convergence-bins.png")

    fig = figure(12.0, 9.4)
    axes = fig.subplots(2, 2)
    for row, scale in enumerate((1, 5)):
        for column, quantity in enumerate(("ei", "ei_parts")):
            ax = draw(panels[f"fig7 {scale} {quantity}"], quantity, axes[row, column])
            ax.set_title(f"weights U(+-{scale}/sqrt(fan_in))", fontsize="medium")
    _convergence_legend(fig, list(panels["fig7 1 ei"]))
    fig7 = save(fig, folder / "fig7-convergence-widths.png")
    largest = _count(study.convergence_samples)
    return [
        Figure(fig6, f"Plug-in EI_parts of a 30 -> 30 sigmoid layer (weights U(+-1/sqrt(30)), "
                     f"seed {study.noise_seed}) against the number of noise samples (100 to "
                     f"{largest}; the paper went to 10^8), at "
                     f"{', '.join(map(str, study.fig6_bins))} bins, both axes logarithmic. Dashed: "
                     "the exact EI_parts (no sampling), the value the plug-in approaches from "
                     "above.",
               "Fig. 6: EI_parts converges with samples"),
        Figure(fig7, f"Plug-in EI (left) and EI_parts (right) of width -> width sigmoid layers "
                     f"(widths {', '.join(map(str, study.fig7_widths))}; {study.bins} bins) "
                     f"against the number of noise samples (100 to {largest}; the paper went to "
                     "10^7), weights U(+-1/sqrt(fan_in)) (top) and U(+-5/sqrt(fan_in)) (bottom). "
                     f"Dashed: the converged values (EI exact for width 2, else stratified "
                     f"with {study.cells} cells x {study.points_per_cell} points; EI_parts exact).",
               "Fig. 7: EI and EI_parts converge for narrow layers")]


# ---- tables --------------------------------------------------------------------------------

def _spread(values) -> str:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _outcome_table(by_group) -> Table:
    rows = []
    for group, runs in by_group.items():
        last = [m.run.snapshots[-1] for m in runs]
        rows.append([group, len(runs), last[0].epoch, last[0].batches,
                     _spread([s.metrics["train_accuracy"] for s in last]),
                     _spread([s.metrics["test_accuracy"] for s in last]),
                     _spread([s.metrics["test_loss"] for s in last])])
    return Table("Training outcome", ["runs", "seeds", "epochs", "SGD steps",
                                      "train accuracy", "test accuracy", "test loss"], rows,
                 "Final snapshot; mean ± standard deviation over seeds. Chance is 1/3 for Iris "
                 "and 1/5 for reduced MNIST.")


def _final_table(by_group) -> Table:
    names = ("ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward")
    rows = []
    for group, runs in by_group.items():
        finals = [[r for r in m.records if r.epoch == m.records[-1].epoch] for m in runs]
        for layer in range(len(finals[0])):
            rows.append([group, layer] + [_spread([getattr(f[layer], n) for f in finals])
                                          for n in names])
    return Table("Final measures (plug-in)", ["runs", "layer", "EI", "EI_parts", "sensitivity",
                                              "degeneracy", "phi_feedforward"], rows,
                 "Bits, at the last snapshot; mean ± standard deviation over seeds; the "
                 "plug-in settings of the figures.")


def _converged_table(study, measured) -> Table:
    rows = []
    for m in measured:
        epoch = m.records[-1].epoch
        for r in (r for r in m.records if r.epoch == epoch):
            found = m.converged.get((epoch, r.layer))
            if isinstance(found, str):
                rows.append([m.label, epoch, r.layer, r.ei, f"none ({found})", None, None,
                             r.phi_feedforward, None])
                continue
            value, error, parts = found
            differs = "yes" if abs(r.ei - value) > error else "no"
            rows.append([m.label, epoch, r.layer, r.ei, value, error, differs,
                         r.phi_feedforward, value - parts])
    return Table("Plug-in against converged EI at the last snapshot",
                 ["run", "epoch", "layer", "plug-in EI", "converged EI", "standard error",
                  "differ?", "plug-in phi", "converged phi"], rows,
                 f"Plug-in: {_count(study.samples)} joint noise samples. Converged: stratified "
                 f"EI ({study.cells} cells x {study.points_per_cell} points) and exact "
                 "EI_parts; phi = EI - EI_parts. 'differ?' says whether the two EIs are more "
                 "than one standard error apart. Relu runs are measured with outputs above 1 "
                 "dropped (the paper's convention), which has no converged estimator.")


# ---- the report ----------------------------------------------------------------------------

_REDUNDANT_NOTE = (
    " With the paper's stated settings (U(+-1/sqrt(fan_in)) init, MSE summed over the batch, "
    "SGD at 0.01, no bias) this network sits on a plateau where it outputs the class prior "
    "(loss 0.8, chance accuracy) for 506,000-643,000 SGD steps (three seeds), then trains to "
    "0.97-0.98 training accuracy; 500 epochs of the 2,000 bundled images are 20,000 steps, "
    "and 500 epochs of the paper's ~25,000 images would be about 250,000. See "
    "docs/REPLICATION.md for the experiments.")


_RUN_FIGURES = (("2a", "ei", "iris"), ("2b", "ei", "mnist"),
                ("4a", "plane", "iris"), ("4b", "plane", "mnist"),
                ("4c", "plane", "mnist-25-6-6-5"), ("4d", "plane", REDUNDANT),
                ("4d-long", "plane", LONG),
                ("5a", "phi", "iris"), ("5b", "phi", "mnist"),
                ("8a", "ei", "mnist-tanh"), ("8b", "ei", "mnist-relu"))
_KIND_TITLES = {"ei": "EI over training", "phi": "phi_feedforward = EI - EI_parts over training",
                "plane": "the causal plane"}
_KIND_SUBJECTS = {"ei": "EI", "phi": "phi_feedforward = EI - EI_parts"}
_SECTIONS = {"2": "EI over training (Fig. 2)", "4": "The causal plane (Fig. 4)",
             "5": "Integrated information over training (Fig. 5)",
             "8": "Other activations (Fig. 8)"}


def _sections(study, measured, folder, say) -> list[Section]:
    by_group = {}
    for m in measured:
        by_group.setdefault(m.spec.group, []).append(m)
    edge_figure, peak_table = _single_edges(study, folder, say)
    sections = [Section("Single edges and two-input layers (Figs. 1, 3)",
                        "Exact values: nothing here is sampled except the dots of Fig. 1a-c.",
                        [edge_figure, *_surfaces(study, folder, say)], [peak_table])]
    say("drawing Figs. 2, 4, 5, 8")
    drawn = {}
    for number, kind, group in _RUN_FIGURES:
        if group not in by_group:
            continue
        runs, name = by_group[group], f"fig{number}-{group}-{kind}"
        title = f"Fig. {number}: {_KIND_TITLES[kind]}, {GROUPS[group].description}"
        if kind == "plane":
            note = _REDUNDANT_NOTE if group in (REDUNDANT, LONG) else ""
            made = [_plane(study, folder, runs, name, title, note)]
            if study.movie and group == REDUNDANT:
                made.append(_movie(study, folder, runs))
        else:
            quantity = "ei" if kind == "ei" else "phi_feedforward"
            made = [_over_training(study, folder, runs, quantity, name, title,
                                   _KIND_SUBJECTS[kind])]
        drawn.setdefault(number[0], []).extend(made)
    sections += [Section(heading, "", drawn[number]) for number, heading in _SECTIONS.items()
                 if number in drawn]
    sections.append(Section("Convergence of the estimates (Figs. 6, 7)", "",
                            _convergence(study, folder, say)))
    sections.append(Section("Final numbers", "", [], [_outcome_table(by_group),
                                                      _final_table(by_group),
                                                      _converged_table(study, measured)]))
    return sections


def _summary(study, trained, reused, tally) -> str:
    mode = ("the quick version: fewer epochs for Iris, 6 snapshots a run, 10^5 noise "
            "samples instead of the paper's 10^7, coarser exact figures; the shapes are real, "
            "the plug-in values carry more sampling bias than the paper's"
            if study.quick else "the paper's settings")
    return (f"Every figure of Mattsson, Michaud and Hoel (2020), 'Examining the causal "
            f"structures of deep neural networks using information theory', computed by fastei "
            f"from its own training runs ({study.which}), with {mode}. Of its "
            f"{len(trained) + len(reused)} runs, {len(trained)} were "
            f"trained now and {len(reused)} reused from complete files in runs/; of its "
            f"{tally.computed + tally.stored} measuring tasks (one layer of one snapshot), "
            f"{tally.computed} were computed now and {tally.stored} read back from the values "
            "stored in the run files.\n\n"
            "Plug-in EI of wide layers (25 inputs at 8 bins have 4e22 input cells) is biased "
            "upward at any feasible sample count; where the converged value differs by more "
            "than its standard error, the figures show both.")


def reproduce(directory, study: Study | None = None, *, workers: int | None = None,
              progress: Callable[[str], None] | None = None) -> Reproduction:
    """Train, measure and draw the study, and write ``directory/index.html``.

    Parameters
    ----------
    directory : str or path-like
        Report folder (created if missing). Runs go to ``directory/runs/<label>.h5``; a
        file that already holds every snapshot of the same configuration is kept, any
        other is replaced. The measured values are stored in the run files
        (:mod:`fastei.results`), so a second call computes only what is missing: nothing
        after a complete call, the rest after a killed one. Figures are written beside
        ``index.html``.
    study : Study, optional
        Default ``paper_study("all")`` (about 100 minutes on two cores; see
        :func:`paper_study` for the quick version).
    workers : int, optional
        Processes that train the runs and measure them (default: one per core).
    progress : callable, optional
        Called with a one-line message at each step.

    Returns
    -------
    Reproduction

    Raises
    ------
    OSError
        If ``directory`` is a file, or the folder cannot be made or written (before any
        work).
    """
    clock = [("start", time.perf_counter())]
    study = paper_study("all") if study is None else study
    workers = workers or os.cpu_count() or 1
    say = progress or (lambda message: None)
    folder = Path(os.fspath(directory))
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file; give a folder for the report, "
                                 "e.g. -o report")
    runs_folder = folder / "runs"
    try:
        runs_folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(f"cannot make the report folder {str(folder)!r} ({exc.strerror}); "
                        "choose a folder you may write to") from None
    check_output_path(folder / "index.html")
    runs, trained, reused = _train(study, runs_folder, say, workers)
    clock.append(("training", time.perf_counter()))
    tally = _Tally(say)
    measured = _measure(study, runs, runs_folder, say, workers, tally)
    if tally.computed == 0:
        say(f"nothing to compute: all {tally.stored} measuring tasks were stored in the run "
            "files already; drawing only")
    clock.append(("measuring", time.perf_counter()))
    sections = _sections(study, measured, folder, say)
    figures = tuple(Path(f.path) for s in sections for f in s.figures)
    settings = {**study.settings(), "workers": workers,
                "seconds": round(time.perf_counter() - clock[0][1], 1)}
    index = write_report(folder, sections, title="The causal structure of feedforward "
                                                 "networks: the paper's figures, by fastei",
                         summary=_summary(study, trained, reused, tally), settings=settings)
    clock.append(("drawing", time.perf_counter()))
    seconds = {name: now - before
               for (_, before), (name, now) in zip(clock, clock[1:], strict=False)}
    seconds["all"] = clock[-1][1] - clock[0][1]
    return Reproduction(index, figures, trained, reused, tally.computed, tally.stored, seconds)
