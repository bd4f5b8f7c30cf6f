"""Why the redundant-layer MNIST network (25-6-6-6-6-6-5, paper Fig. 4d) stays at chance.

Usage: ``nice -n 19 python bench/redundant_layers.py EXPERIMENT [--seeds 1,2,3] [--epochs N]
[--every N]``

Experiments (each a table on stdout; docs/REPLICATION.md holds the numbers):

- ``signal``: at initialisation, how much of the input reaches each layer (the standard
  deviation over the training images of each node's activation, averaged over nodes) and
  the gradient norm of each layer's weights on one batch, for 3 to 6 layers.
- ``depth``: SGD steps until the training accuracy first exceeds 0.5, by depth, at the
  paper's settings (snapshots every 10 epochs, so steps are exact to 400).
- ``settings``: the redundant network for ``--epochs`` (default 500) epochs with one
  setting changed at a time: learning rate, initialisation, loss, batch size, bias.
- ``long``: the redundant network at the paper's settings for ``--epochs`` epochs (e.g.
  20000 = 800,000 steps), accuracy every 10 epochs.
- ``spread``: the redundant network at the paper's settings for ``--epochs`` epochs, a
  snapshot every ``--every`` epochs: each layer's activation spread (as in ``signal``) and
  mean absolute weight.
- ``datasize``: steps to accuracy 0.5 of the 25-6-6-6-5 network trained on the first 500,
  1,000 or 2,000 bundled training images (20,000 steps each).

Everything is the trainer of ``fastei.train`` (plain NumPy SGD, float64) on the bundled
reduced MNIST (2,000 train / 500 test images).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fastei.datasets import Dataset, load_dataset, save_dataset
from fastei.train import loss_and_gradients, preset, train

REDUNDANT = "mnist-25-6-6-6-6-6-5"
DEPTHS = {2: (25, 6, 5), 3: (25, 6, 6, 5), 4: (25, 6, 6, 6, 5), 5: (25, 6, 6, 6, 6, 5),
          6: (25, 6, 6, 6, 6, 6, 5)}
SETTINGS = (("paper", {}),
            ("lr 0.003", {"learning_rate": 0.003}), ("lr 0.03", {"learning_rate": 0.03}),
            ("lr 0.1", {"learning_rate": 0.1}),
            ("init xavier", {"init": "xavier"}), ("init he", {"init": "he"}),
            ("loss cross_entropy", {"loss": "cross_entropy"}),
            ("loss mse_mean", {"loss": "mse_mean"}),
            ("batch 10", {"batch_size": 10}), ("bias", {"bias": True}))
ESCAPE_ACCURACY = 0.5


def trained(config):
    """Train ``config`` in memory; return the run, the seconds taken and the escape step."""
    start = time.perf_counter()
    run = train(config)
    seconds = time.perf_counter() - start
    escape = next((s.batches for s in run.snapshots
                   if s.metrics["train_accuracy"] > ESCAPE_ACCURACY), None)
    return run, seconds, escape


def report(label, seed, run, seconds, escape):
    last = run.snapshots[-1]
    print(f"{label:<22} seed {seed}  steps to acc>{ESCAPE_ACCURACY}: "
          f"{'never' if escape is None else escape:>7}  after {last.batches:>7} steps: "
          f"train acc {last.metrics['train_accuracy']:.3f} test acc "
          f"{last.metrics['test_accuracy']:.3f} loss {last.metrics['train_loss']:.3f} "
          f"({seconds:.0f} s)", flush=True)


def spreads(network, x):
    """Each layer's activation spread over the images ``x`` (std per node, averaged)."""
    found = []
    for layer in network.layers:
        x = layer.activation.func(x @ layer.weights.T)
        found.append(x.std(axis=0).mean())
    return found


def signal(args):
    data = load_dataset("mnist")
    targets = np.eye(data.n_classes)[data.y_train[:50]]
    print("layers init    std of each layer's activation over the images | |grad W| per layer")
    for depth in (3, 4, 6):
        for init in ("paper", "he"):
            network = train(preset("mnist", widths=DEPTHS[depth], init=init, seed=args.seeds[0],
                                   epochs=1)).snapshots[0].network
            spread = spreads(network, data.x_train)
            _, grads, _ = loss_and_gradients(network, data.x_train[:50], targets)
            print(f"{depth:>6} {init:<6} " + " ".join(f"{v:.1e}" for v in spread) + " | "
                  + " ".join(f"{np.linalg.norm(g):.1e}" for g in grads), flush=True)


def depth(args):
    for layers, widths in DEPTHS.items():
        for seed in args.seeds:
            run, seconds, escape = trained(preset("mnist", widths=widths, seed=seed,
                                                  epochs=args.epochs, snapshot_every=10))
            report(f"{layers} layers", seed, run, seconds, escape)


def settings(args):
    for label, changes in SETTINGS:
        for seed in args.seeds:
            run, seconds, escape = trained(preset(REDUNDANT, seed=seed, epochs=args.epochs,
                                                  snapshot_every=10, **changes))
            report(label, seed, run, seconds, escape)


def long(args):
    for seed in args.seeds:
        run, seconds, escape = trained(preset(REDUNDANT, seed=seed, epochs=args.epochs,
                                              snapshot_every=10))
        report("paper, long", seed, run, seconds, escape)


def spread(args):
    data = load_dataset("mnist")
    run = train(preset(REDUNDANT, seed=args.seeds[0], epochs=args.epochs,
                       snapshot_every=args.every))
    print("steps     train acc | activation spread per layer | mean |weight| per layer")
    for snap in run.snapshots:
        print(f"{snap.batches:>7} {snap.metrics['train_accuracy']:.3f} | "
              + " ".join(f"{v:.1e}" for v in spreads(snap.network, data.x_train)) + " | "
              + " ".join(f"{np.abs(layer.weights).mean():.2f}" for layer in snap.network.layers),
              flush=True)


def datasize(args):
    data = load_dataset("mnist")
    with tempfile.TemporaryDirectory() as folder:
        for rows in (500, 1000, 2000):
            subset = Dataset("mnist", data.x_train[:rows], data.y_train[:rows], data.x_test,
                             data.y_test, data.n_classes)
            path = save_dataset(subset, Path(folder) / f"mnist-{rows}.npz")
            for seed in args.seeds:
                run, seconds, escape = trained(preset(
                    "mnist", seed=seed, epochs=20_000 * 50 // rows, snapshot_every=5,
                    data_path=str(path)))
                report(f"{rows} train images", seed, run, seconds, escape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=("signal", "depth", "settings", "long", "spread",
                                               "datasize"))
    parser.add_argument("--seeds", default="1,2,3",
                        type=lambda text: [int(s) for s in text.split(",")])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--every", type=int, default=1250, help="epochs between snapshots")
    args = parser.parse_args()
    globals()[args.experiment](args)


if __name__ == "__main__":
    main()
