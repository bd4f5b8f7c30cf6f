"""Wall time of the paper's training presets: fastei's NumPy trainer, and PyTorch when installed.

Usage: ``python bench/bench_train.py [--repeat 3] [--json record.json]``

Times the Iris preset (4000 epochs, batch 10, 40,000 SGD steps) and the MNIST preset on the
bundled reduced set (500 epochs, batch 50, 20,000 steps); each is the best of ``--repeat`` runs
after a short warm-up. The PyTorch version trains the same architecture from the same initial
weights and data with ``nn.Linear(bias=False)``, ``MSELoss(reduction="sum")`` and ``optim.SGD``
(float32, PyTorch's default) in a loop over shuffled index batches, and reports the same
test accuracy, so a speed-up that changes the answer shows.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

import fastei
from fastei.datasets import load_dataset
from fastei.train import preset, train


def best_time(repeat, function, *args):
    """Best wall time of ``repeat`` calls of ``function(*args)`` and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def torch_train(torch, config, weights, data, seed):
    """Train the preset's network in PyTorch from ``weights``; return its test accuracy."""
    torch.manual_seed(seed)
    activation = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    layers = []
    for w in weights:
        linear = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
        layers += [linear, activation[config.activation]()]
    network = torch.nn.Sequential(*layers)
    optimiser = torch.optim.SGD(network.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    x = torch.from_numpy(data.x_train).float()
    targets = torch.eye(data.n_classes)[torch.from_numpy(data.y_train)]
    for _ in range(config.epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), config.batch_size):
            rows = order[start:start + config.batch_size]
            optimiser.zero_grad()
            loss_fn(network(x[rows]), targets[rows]).backward()
            optimiser.step()
    with torch.no_grad():
        out = network(torch.from_numpy(data.x_test).float())
    return float((out.argmax(dim=1).numpy() == data.y_test).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best is kept)")
    parser.add_argument("--json", help="also write the results and the machine to this file")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    record = {"fastei": fastei.__version__, "numpy": np.__version__,
              "torch": None if torch is None else torch.__version__,
              "torch_threads": None if torch is None else torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
              "python": platform.python_version(), "results": []}
    train(preset("iris", seed=0, epochs=5))  # warm-up: imports, data loading
    print(f"{'preset':8} {'steps':>7} {'fastei s':>9} {'test acc':>9} {'torch s':>8} "
          f"{'test acc':>9} {'torch/fastei':>13}")
    for name in ("iris", "mnist"):
        config = preset(name, seed=1)
        seconds, run = best_time(args.repeat, train, config)
        last = run.snapshots[-1]
        row = {"preset": name, "steps": last.batches, "fastei_s": seconds,
               "fastei_test_accuracy": last.metrics["test_accuracy"]}
        line = f"{name:8} {last.batches:7d} {seconds:9.2f} {row['fastei_test_accuracy']:9.3f}"
        if torch is not None:
            split = np.random.SeedSequence(config.seed).spawn(4)[0]
            data = load_dataset(config.dataset, seed=split)
            weights = [layer.weights for layer in run.snapshots[0].network.layers]
            torch_s, accuracy = best_time(args.repeat, torch_train, torch, config, weights, data,
                                          config.seed)
            row.update(torch_s=torch_s, torch_test_accuracy=accuracy, ratio=torch_s / seconds)
            line += f" {torch_s:8.2f} {accuracy:9.3f} {torch_s / seconds:13.2f}"
        print(line)
        record["results"].append(row)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
