"""Convolutions by the direct kernel vs the unrolled matrix, and the Tracker's cost in a loop.

Usage: ``python bench/bench_torch.py [--repeat 3] [--epochs 5]``

1. One 3x3 convolution of a small CNN, 1x12x12 -> 4x10x10 (144 inputs, 400 outputs,
   sigmoid): EI and EI_parts (10^5 joint samples) and sensitivity (2000 samples per input)
   measured through the layer's own kernel and through its unrolled 400 x 144 matrix. The
   values must be equal (same seed, same bits); the medians of ``--repeat`` runs after a
   warm-up call are printed with their ratio.
2. The Tracker in a PyTorch loop: an MNIST-size MLP (784-100-10, sigmoid, batch 64, SGD) on
   60,000 synthetic rows (MNIST's size; no download), one snapshot per epoch. Prints the
   median epoch time without the tracker, the median time of ``tracker.step`` and their
   ratio (the target is under 1 %).
"""

import argparse
import os
import statistics
import tempfile
import time

import numba
import numpy as np
from _timing import median_time

import fastei
from fastei.conv import Conv2d


def conv_layer():
    rng = np.random.default_rng(0)
    return Conv2d(rng.uniform(-1, 1, (4, 1, 3, 3)), rng.uniform(-0.5, 0.5, 4), (1, 12, 12),
                  activation="sigmoid")


def bench_conv(repeat):
    conv = conv_layer()
    dense = conv.to_dense()
    print(f"conv {conv.input_shape} -> {conv.output_shape}: {conv.n_in} inputs, "
          f"{conv.n_out} outputs; unrolled matrix {dense.weights.shape}, "
          f"{np.count_nonzero(dense.weights)} non-zero weights")
    calls = {"EI": lambda net: fastei.ei(net, samples=10**5),
             "EI_parts": lambda net: fastei.ei_parts(net, samples=10**5),
             "sensitivity": lambda net: fastei.sensitivity(net, samples=2000)}
    print(f"{'measure':>12} {'direct s':>9} {'unrolled s':>11} {'ratio':>6}  value (bits)")
    for name, call in calls.items():
        call(conv)  # warm-up: compile
        call(dense)
        direct, value = median_time(repeat, lambda: call(conv))  # noqa: B023
        unrolled, same = median_time(repeat, lambda: call(dense))  # noqa: B023
        assert value == same, (name, value, same)
        print(f"{name:>12} {direct:9.3f} {unrolled:11.3f} {unrolled / direct:6.2f}  "
              f"{value:.4f}", flush=True)


def bench_tracker(epochs):
    import torch

    torch.manual_seed(0)
    x = torch.rand(60_000, 784)
    y = torch.randint(0, 10, (60_000,))
    model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.Sigmoid(),
                                torch.nn.Linear(100, 10), torch.nn.Sigmoid())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_function = torch.nn.CrossEntropyLoss()

    def epoch():
        for start in range(0, 60_000, 64):
            optimizer.zero_grad()
            loss = loss_function(model(x[start:start + 64]), y[start:start + 64])
            loss.backward()
            optimizer.step()
        return loss.item()

    epoch_times, step_times = [], []
    with tempfile.TemporaryDirectory() as folder:
        with fastei.Tracker(os.path.join(folder, "run.h5"), every=1) as tracker:
            tracker.step(model, epoch=0, metrics={"train_loss": 0.0})  # file created here
            for k in range(1, epochs + 1):
                start = time.perf_counter()
                loss = epoch()
                epoch_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                tracker.step(model, epoch=k, metrics={"train_loss": loss})
                step_times.append(time.perf_counter() - start)
    epoch_time, step_time = statistics.median(epoch_times), statistics.median(step_times)
    print(f"MLP 784-100-10, 60,000 rows, batch 64, {epochs} epochs, torch threads "
          f"{torch.get_num_threads()}: epoch {epoch_time:.3f} s, tracker.step "
          f"{1000 * step_time:.1f} ms (median), {100 * step_time / epoch_time:.2f} % of an epoch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    bench_conv(args.repeat)
    bench_tracker(args.epochs)


if __name__ == "__main__":
    main()
