"""Command-line front end: ``fastei <command> ...``.

Each command has a parser builder ``_add_<name>_parser(subparsers)`` and a handler
``_run_<name>(args) -> int``; :func:`main` dispatches to the handler. Errors in the
input become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import math
import sys
import time
import warnings
from pathlib import Path

from ._heap import keep_freed_memory
from ._version import __version__

_INTERRUPTED = 130
_OS_HINTS = {errno.ENOSPC: "; free disk space or write elsewhere",
             errno.EFBIG: "; the file outgrew the size allowed here, write elsewhere",
             errno.EACCES: "; choose a location you may write to",
             errno.EROFS: "; the file system is read-only, write elsewhere"}


def _integers(name: str, separator: str, example: str):
    """An argparse type for ``separator``-separated integers such as ``example``."""
    def parse(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(v) for v in text.split(separator))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be {separator!r}-separated integers such as {example}, "
                f"got {text!r}") from None
    return parse


_widths = _integers("widths", "-", "4-5-5-3")
_snapshot_list = _integers("snapshots", ",", "0,-1")


def _add_train_parser(subparsers) -> None:
    from .train import INITS, LOSSES, available_presets

    parser = subparsers.add_parser(
        "train", help="train a network and write its snapshots to an HDF5 file",
        description="Train a network with plain SGD (the paper's settings by preset) and write "
                    "a snapshot file, flushed after every snapshot. Options given here override "
                    "the preset.")
    parser.add_argument("--preset", default="iris", choices=available_presets(),
                        help="the paper's experiment to start from (default: iris)")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="HDF5 snapshot file to write, e.g. runs/iris-1.h5")
    parser.add_argument("--seed", type=int, help="run seed (default: a fresh one, recorded)")
    parser.add_argument("--widths", type=_widths,
                        help="architecture as dash-separated widths, e.g. 4-5-5-3")
    parser.add_argument("--activation", help="activation of every layer: sigmoid, tanh, relu, "
                                             "linear, or a comma-separated list, one per layer")
    parser.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                        help="give every layer a bias")
    parser.add_argument("--loss", choices=LOSSES, help="loss function")
    parser.add_argument("--init", choices=INITS, help="weight initialisation")
    parser.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float,
                        help="SGD learning rate")
    parser.add_argument("--batch-size", type=int, help="rows per SGD step")
    parser.add_argument("--epochs", type=int, help="passes over the training set")
    parser.add_argument("--snapshot-every", type=int, help="epochs between snapshots")
    parser.add_argument("--shuffle-labels", action=argparse.BooleanOptionalAction, default=None,
                        help="train on permuted labels (memorisation)")
    parser.add_argument("--data", dest="data_path", type=str,
                        help="reduced-MNIST .npz from 'fastei data mnist --idx DIR'")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(handler=_run_train)


def _run_train(args) -> int:
    from tqdm.auto import tqdm

    from .train import preset, train

    overrides = {name: getattr(args, name) for name in (
        "seed", "widths", "bias", "loss", "init", "learning_rate", "batch_size", "epochs",
        "snapshot_every", "shuffle_labels", "data_path") if getattr(args, name) is not None}
    if args.activation is not None:
        names = tuple(args.activation.split(","))
        overrides["activation"] = names[0] if len(names) == 1 else names
    config = preset(args.preset, **overrides)
    bar = tqdm(total=config.epochs, unit="epoch", file=sys.stderr,
               disable=args.quiet or not sys.stderr.isatty())

    def progress(epoch, snapshot):
        bar.update(1)
        if snapshot is not None:
            bar.set_postfix(loss=f"{snapshot.metrics['train_loss']:.4f}",
                            test_acc=f"{snapshot.metrics['test_accuracy']:.3f}")

    start = time.perf_counter()
    try:
        run = train(config, output=args.output, overwrite=args.overwrite, progress=progress)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted; {args.output} holds every snapshot completed so far",
              file=sys.stderr)
        return _INTERRUPTED
    bar.close()
    if not args.quiet:
        last = run.snapshots[-1]
        m = last.metrics
        widths = "-".join(map(str, run.config["widths"]))
        print(f"{run.config['preset']} {widths} seed {run.config['seed']}: {last.epoch} epochs in "
              f"{time.perf_counter() - start:.1f} s; train loss {m['train_loss']:.4f} "
              f"acc {m['train_accuracy']:.3f}, test loss {m['test_loss']:.4f} "
              f"acc {m['test_accuracy']:.3f}; {len(run.snapshots)} snapshots in {args.output}")
    return 0


def _add_data_parser(subparsers) -> None:
    from .datasets import available_datasets

    parser = subparsers.add_parser(
        "data", help="describe a bundled data set or build the full reduced MNIST",
        description="Without --idx, print the size of a bundled data set. With --idx DIR, derive "
                    "the paper's full reduced MNIST (digits 0-4, 5x5) from the standard MNIST "
                    "IDX files in DIR and write it for 'fastei train --data'.")
    parser.add_argument("name", choices=available_datasets(), help="data set")
    parser.add_argument("--idx", type=Path, help="folder with the MNIST IDX files (mnist only)")
    parser.add_argument("-o", "--output", type=Path, default=Path("mnist5x5-full.npz"),
                        help="file to write with --idx (default: mnist5x5-full.npz)")
    parser.add_argument("--n-train", type=int, default=25_000,
                        help="training rows with --idx (default: 25000); the rest are test rows")
    parser.set_defaults(handler=_run_data)


def _run_data(args) -> int:
    from .datasets import build_mnist, load_dataset, save_dataset

    if args.idx is not None:
        if args.name != "mnist":
            raise ValueError(f"--idx builds reduced MNIST only, not {args.name!r}; drop --idx")
        data = build_mnist(args.idx, n_train=args.n_train)
        save_dataset(data, args.output)
        where = str(args.output)
    else:
        data = load_dataset(args.name)
        where = "bundled"
    print(f"{data.name} ({where}): {len(data.x_train)} train / {len(data.x_test)} test rows, "
          f"{data.n_features} features, {data.n_classes} classes")
    return 0


def _count(text: str) -> int:
    """An argparse type for a positive whole number, written ``1000000`` or ``1e6``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value.is_integer() and value >= 1):
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number such as 1000000 or 1e6, got {text!r}")
    return int(text) if text.isdigit() else int(value)


def _value_range(text: str) -> tuple[float, float]:
    """An argparse type for ``LO,HI``."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LO,HI such as 0,1 (write --in-range=-1,1 for a negative LO), "
            f"got {text!r}") from None
    return lo, hi


def _add_measure_options(parser) -> None:
    parser.add_argument("--samples", type=_count, default=10**7,
                        help="joint noise samples per layer, e.g. 1e7 (default: 10000000)")
    parser.add_argument("--sensitivity-samples", type=_count, default=5000,
                        help="noise samples per input node for sensitivity (default: 5000)")
    parser.add_argument("--bins", type=int, default=8, help="bins per node (default: 8)")
    parser.add_argument("--noise-seed", type=int, default=0,
                        help="seed of the noise stream (default: 0)")
    parser.add_argument("--in-range", type=_value_range, metavar="LO,HI",
                        help="intervention range of every layer's inputs (default: the "
                             "previous layer's activation range, 0,1 for layer 0)")
    parser.add_argument("--out-range", type=_value_range, metavar="LO,HI",
                        help="binning range of every layer's outputs (default: the layer's "
                             "activation range; needed for linear layers)")
    parser.add_argument("--overflow", choices=("clip", "drop"), default="clip",
                        help="outputs outside the range: edge bin (clip, default) or drop "
                             "the sample (the paper's relu convention)")
    parser.add_argument("--method", choices=("sampled", "converged"), default="sampled",
                        help="sampled: the paper's plug-in (default); converged: exact and "
                             "stratified estimators")
    parser.add_argument("--max-memory", default="1GiB",
                        help="memory budget of one estimate, e.g. 512MB (default: 1GiB)")


def _measure_options(args) -> dict:
    """The estimator options given on the command line."""
    return dict(samples=args.samples, sensitivity_samples=args.sensitivity_samples,
                in_bins=args.bins, out_bins=args.bins, seed=args.noise_seed,
                in_range=args.in_range, out_range=args.out_range, overflow=args.overflow,
                method=args.method, max_memory=args.max_memory)


def _estimate_and_print(paths, snapshots, args, json_path=None, quiet=True) -> int:
    """Run a batch, print its table, write ``--json``; status 1 when a task failed."""
    import json

    from tqdm.auto import tqdm

    from ._files import check_output_path, write_atomically
    from .batch import estimate, format_table

    if json_path is not None:
        check_output_path(json_path)
    bars = []

    def progress(total):
        if total is None:
            bars[0].update(1)
        else:
            bars.append(tqdm(total=total, unit="task", file=sys.stderr,
                             disable=quiet or not sys.stderr.isatty()))

    measures = getattr(args, "measures", None) or ("ei", "ei_parts", "sensitivity")
    store = getattr(args, "store", None)
    try:
        result = estimate(paths, measures=measures, spans=getattr(args, "spans", None),
                          snapshots=snapshots, workers=getattr(args, "workers", 1),
                          scheduler=getattr(args, "scheduler", None),
                          store=store, progress=progress, **_measure_options(args))
    except KeyboardInterrupt:
        where = store or ("the run file" if len(paths) == 1 else "each run file")
        raise KeyboardInterrupt(f"every finished task is stored in {where}; the same command "
                                "computes only the rest") from None
    finally:
        for bar in bars:
            bar.close()
    print(format_table(result.records, measures))
    if json_path is not None and result.records:
        write_atomically(json_path, json.dumps(result.records, indent=1))
    for line in result.failed:
        print(f"fastei {args.command}: failed: {line}", file=sys.stderr)
    if not quiet:
        print(result.summary(), file=sys.stderr)
    return 1 if result.failed else 0


def _spans(text: str) -> tuple:
    """An argparse type for ``0,1,0-2``: layers and ``start-end`` spans."""
    try:
        return tuple(int(part) if "-" not in part.lstrip("-") else
                     tuple(int(v) for v in part.split("-", 1)) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"spans must be comma-separated layers or START-END ranges such as 0,1,0-2, "
            f"got {text!r}") from None


def _add_estimate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "estimate", help="measure every layer of the snapshots of run files, storing the values",
        description="Measure the chosen spans of the chosen snapshots of HDF5 run files, store "
                    "the values (in each run file, or in --store FILE) keyed by their settings, "
                    "and print them. Values already stored are not computed again.")
    parser.add_argument("files", nargs="+", type=Path, help="HDF5 run files from 'fastei train'")
    parser.add_argument("--measures", type=lambda text: tuple(text.split(",")),
                        default=("ei", "ei_parts", "sensitivity"),
                        help="comma-separated measures: ei, ei_parts, sensitivity, degeneracy, "
                             "phi_feedforward, ei_standard_error (with --method converged) "
                             "(default: ei,ei_parts,sensitivity)")
    parser.add_argument("--spans", type=_spans,
                        help="comma-separated layers or START-END spans, e.g. 0,1,0-2 "
                             "(default: every layer)")
    parser.add_argument("--snapshots", type=_snapshot_list,
                        help="comma-separated positions, negative from the end (default: all)")
    parser.add_argument("--workers", type=int, default=1,
                        help="local worker processes (default: 1, in this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the tasks on a Dask cluster, e.g. tcp://host:8786 "
                             "(needs fastei[distributed])")
    parser.add_argument("--store", type=Path,
                        help="results file to store into (default: each run file)")
    parser.add_argument("--json", type=Path,
                        help="also write the records, with every setting, to this JSON file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_measure_options(parser)
    parser.set_defaults(handler=_run_estimate)


def _run_estimate(args) -> int:
    return _estimate_and_print(args.files, args.snapshots, args, args.json, args.quiet)


def _add_results_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "results", help="export the stored values of run files as a tidy table",
        description="Print (as CSV) or write the values 'fastei estimate' stored: one row per "
                    "file, snapshot, span, measure and settings, with the training metrics.")
    parser.add_argument("files", nargs="+", type=Path, help="HDF5 run files")
    parser.add_argument("--store", type=Path, help="results file (default: each run file)")
    parser.add_argument("--csv", type=Path, help="write CSV to this file")
    parser.add_argument("--json", type=Path, help="write JSON to this file")
    parser.set_defaults(handler=_run_results)


def _run_results(args) -> int:
    from .results import write_table

    print(write_table(args.files, store=args.store, csv_path=args.csv, json_path=args.json))
    return 0


def _add_demo_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="train the Iris preset, then measure its first and last snapshots",
        description="The quick start: train the paper's Iris network on the bundled data and "
                    "print every layer's measures at the first and the last snapshot.")
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/iris-demo.h5"),
                        help="run file to write (default: runs/iris-demo.h5, replaced)")
    parser.add_argument("--seed", type=int, default=1, help="training seed (default: 1)")
    _add_measure_options(parser)
    parser.set_defaults(handler=_run_demo)


def _run_demo(args) -> int:
    from .train import preset, train

    args.output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    run = train(preset("iris", seed=args.seed), output=args.output, overwrite=True)
    last = run.snapshots[-1]
    print(f"trained iris 4-5-5-3 (seed {args.seed}) in {time.perf_counter() - start:.1f} s: "
          f"test accuracy {last.metrics['test_accuracy']:.3f}, {len(run.snapshots)} snapshots "
          f"in {args.output}")
    start = time.perf_counter()
    status = _estimate_and_print([args.output], [0, -1], args)
    if status == 0:
        print(f"measured in {time.perf_counter() - start:.1f} s ({args.samples} samples per "
              "layer)")
    return status


_RUN_PLOTS = {
    "training": "Fig. 2 (and 8): a measure of every layer over training, above the loss",
    "phi": "Fig. 5: phi_feedforward of every layer over training, above the loss",
    "causal-plane": "Fig. 4: each layer's path through the causal plane, coloured by epoch",
    "animate": "Fig. 4 movie: the causal plane over training (.gif, or .mp4 with ffmpeg)",
}
_SNAPSHOT_PLOTS = {
    "edges": "per-edge EI_parts and sensitivity of the layers of one snapshot",
    "convergence": "Figs. 6-7 for trained layers: plug-in estimates against noise samples, "
                   "the converged values dashed",
}
_EXACT_PLOTS = {
    "edge": "Fig. 1a-c: exact EI of a single edge y = f(w x) against its weight",
    "surfaces": "Figs. 1d-f and 3: exact measures of a two-input layer over both weights",
}
_layer_list = _integers("layers", ",", "0,2")
_bin_list = _integers("bins", ",", "8,16,32,64")


def _names(text: str) -> tuple[str, ...]:
    """An argparse type for comma-separated names such as ``sigmoid,tanh``."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _add_plot_parser(subparsers) -> None:
    from .plot._data import MEASURES

    parser = subparsers.add_parser(
        "plot", help="draw one of the paper's figures into an image file",
        description="Draw a figure of the paper. Figures of runs measure the chosen snapshots "
                    "of HDF5 run files from 'fastei train' first (the paper's settings by "
                    "default: 10^7 samples a layer; --samples 1e5 is quicker).")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="kind")
    for kind, text in {**_RUN_PLOTS, **_SNAPSHOT_PLOTS, **_EXACT_PLOTS}.items():
        sub = kinds.add_parser(kind, help=text, description=text + ".")
        sub.add_argument("-o", "--output", required=True, type=Path,
                         help="file to write; its suffix names the format (.png, .pdf, .svg"
                              + ("; .gif or .mp4" if kind == "animate" else "") + ")")
        if kind in _RUN_PLOTS:
            sub.add_argument("runs", nargs="+", type=Path, metavar="RUN.h5",
                             help="run files (each labelled by its name)")
            sub.add_argument("--snapshots", type=_snapshot_list,
                             help="comma-separated positions to measure, negative from the "
                                  "end (default: all)")
        elif kind in _SNAPSHOT_PLOTS:
            sub.add_argument("run", type=Path, metavar="RUN.h5", help="run file")
            sub.add_argument("--snapshot", type=int, default=-1,
                             help="snapshot position, negative from the end (default: -1)")
        if kind not in _EXACT_PLOTS:
            sub.add_argument("--layers", type=_layer_list,
                             help="comma-separated layers to draw, e.g. 0,2 (default: all)")
        if kind == "training":
            sub.add_argument("--quantity", choices=MEASURES, default="ei",
                             help="the measure drawn (default: ei)")
        if kind in ("causal-plane", "animate"):
            sub.add_argument("--frame", choices=("plane", "rotated"), default="plane",
                             help="degeneracy against sensitivity (plane, default) or the "
                                  "paper's view turned by 45 degrees (rotated)")
        if kind == "animate":
            sub.add_argument("--fps", type=float, default=4, help="frames per second")
        if kind in _RUN_PLOTS or kind == "edges":
            _add_measure_options(sub)
        if kind == "convergence":
            sub.add_argument("--quantity", choices=("ei_parts", "ei", "sensitivity"),
                             default="ei_parts", help="the measure (default: ei_parts)")
            sub.add_argument("--max-samples", type=_count, default=10**6,
                             help="largest noise sample count, e.g. 1e6 (default)")
            sub.add_argument("--bins", type=int, default=8, help="bins per node (default: 8)")
            sub.add_argument("--noise-seed", type=int, default=0, help="noise seed (default: 0)")
        if kind == "edge":
            sub.add_argument("--activation", type=_names, default=("sigmoid", "tanh", "relu"),
                             help="comma-separated activations, one panel each "
                                  "(default: sigmoid,tanh,relu)")
            sub.add_argument("--bins", type=_bin_list, default=(8, 16, 32, 64),
                             help="comma-separated bin counts (default: 8,16,32,64)")
            sub.add_argument("--samples", type=_count,
                             help="also draw plug-in points from this many noise samples "
                                  "(the paper: 30000)")
        if kind == "surfaces":
            sub.add_argument("--activation", type=_names, default=("sigmoid",),
                             help="comma-separated activations, one row each (default: sigmoid)")
            sub.add_argument("--bins", type=int, default=8,
                             help="bins of inputs and output (default: 8; the paper: 64)")
            sub.add_argument("--quantities", type=_names, default=("ei",),
                             help="comma-separated measures, one column each (default: ei; "
                                  "Fig. 3: sensitivity,degeneracy,ei)")
            sub.add_argument("--points", type=int, default=41,
                             help="weights per axis from -10 to 10 (default: 41)")
        sub.set_defaults(handler=_run_plot)


def _run_plot(args) -> int:
    from . import figures

    kind = args.kind
    if kind in _RUN_PLOTS:
        common = dict(layers=args.layers, snapshots=args.snapshots, **_measure_options(args))
        if kind in ("training", "phi"):
            quantity = "phi_feedforward" if kind == "phi" else args.quantity
            path = figures.training_figure(args.runs, args.output, quantity=quantity, **common)
        elif kind == "causal-plane":
            path = figures.causal_plane_figure(args.runs, args.output, frame=args.frame,
                                               **common)
        else:
            path = figures.causal_plane_movie(args.runs, args.output, frame=args.frame,
                                              fps=args.fps, **common)
    elif kind == "edges":
        path = figures.edges_figure(args.run, args.output, snapshot=args.snapshot,
                                    layers=args.layers, **_measure_options(args))
    elif kind == "convergence":
        path = figures.convergence_figure(
            args.run, args.output, snapshot=args.snapshot, layers=args.layers,
            quantity=args.quantity, max_samples=args.max_samples, in_bins=args.bins,
            out_bins=args.bins, seed=args.noise_seed)
    elif kind == "edge":
        path = figures.single_edge_figure(args.output, activations=args.activation,
                                          bins=args.bins, samples=args.samples)
    else:
        path = figures.surfaces_figure(args.output, activations=args.activation,
                                       bins=args.bins, quantities=args.quantities,
                                       points=args.points)
    print(f"wrote {path}")
    return 0


def _add_reproduce_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="train, measure and draw every figure of the paper into a report",
        description="Train the paper's runs into DIR/runs/ (a run whose file is already "
                    "complete is kept), measure them, draw every figure of the paper into DIR "
                    "and write the self-contained report DIR/index.html. The measured values "
                    "are stored in the run files: a second call computes nothing and only "
                    "redraws, and a killed one finishes only what is missing. The paper's "
                    "settings take about 100 minutes on two cores; --quick about a minute for "
                    "'all'.")
    parser.add_argument("study", choices=("iris", "mnist", "all"),
                        help="the Iris runs, the MNIST runs (with the variants of Figs. 4 "
                             "and 8), or both; Figs. 1, 3, 6 and 7 are always drawn")
    parser.add_argument("--quick", action="store_true",
                        help="small but real settings: 10^5 samples, 6 snapshots a run, "
                             "fewer Iris epochs, coarser exact figures")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="report folder, e.g. report (created if missing)")
    parser.add_argument("--workers", type=int,
                        help="processes that train and measure (default: one per core)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=_run_reproduce)


def _run_reproduce(args) -> int:
    from .reproduce import paper_study, reproduce

    def say(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    result = reproduce(args.output, paper_study(args.study, quick=args.quick),
                       workers=args.workers, progress=say)
    seconds = result.seconds
    print(f"wrote {result.index}: {len(result.figures)} figures, {len(result.trained)} runs "
          f"trained and {len(result.reused)} reused, {result.computed} measuring tasks "
          f"computed and {result.stored} stored already, in {seconds['all']:.0f} s (training "
          f"{seconds['training']:.0f} s, measuring {seconds['measuring']:.0f} s, drawing "
          f"{seconds['drawing']:.0f} s)")
    return 0


def _add_warmup_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "warmup", help="compile the estimator kernels now (cached on disk)",
        description="Compile every Numba kernel on tiny inputs so that later runs start fast.")
    parser.set_defaults(handler=_run_warmup)


def _run_warmup(args) -> int:
    from .estimators import warmup

    start = time.perf_counter()
    warmup()
    print(f"kernels ready in {time.perf_counter() - start:.1f} s")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastei", description="Effective information of feedforward neural networks.")
    parser.add_argument("--version", action="version", version=f"fastei {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    _add_demo_parser(subparsers)
    _add_train_parser(subparsers)
    _add_estimate_parser(subparsers)
    _add_results_parser(subparsers)
    _add_data_parser(subparsers)
    _add_plot_parser(subparsers)
    _add_reproduce_parser(subparsers)
    _add_warmup_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the fastei command line; return the exit status."""
    args = _build_parser().parse_args(argv)
    keep_freed_memory()

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"fastei {args.command}: warning: {' '.join(str(message).split())}",
              file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            return args.handler(args)
    except KeyboardInterrupt as interrupt:
        detail = f"; {interrupt}" if str(interrupt) else ""
        print(f"fastei {args.command}: interrupted{detail}", file=sys.stderr)
        return _INTERRUPTED
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        # the system's own words ("[Errno 28] No space left ...") get a hint; ours carry one
        hint = _OS_HINTS.get(exc.errno, "") if message.startswith("[Errno") else ""
        print(f"fastei {args.command}: error: {message}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
