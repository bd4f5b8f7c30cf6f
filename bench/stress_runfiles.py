"""Stress the run files: kill real training runs at random moments, corrupt a finished file.

Usage: ``python bench/stress_runfiles.py [--kills 200] [--parallel 4] [--corruptions 50]
[--seed 0]``

Kills: ``--kills`` runs of ``python -m fastei.cli train --preset iris --snapshot-every 1
--epochs 4000``, ``--parallel`` at a time, each killed with SIGKILL a random time (0 to 1 s)
after its file appeared. Just before the kill a reader counts the file's snapshots; after it,
``fastei.io.read_run`` must open the file, return at least that many snapshots, and each must
equal bit for bit the same snapshot of an uninterrupted run with the same seed.

Corruptions: one finished run file, copied ``--corruptions`` times, each copy with 1 to 64
random bytes overwritten at a random offset. ``read_run`` must either return snapshots equal to
the originals (warning once when it lost some) or raise a one-line ValueError.

The delays and offsets come from ``--seed``, so a rerun repeats them (the moments the kernel
delivers the kills still vary). Exits with status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastei.io import read_run, snapshot_count
from fastei.train import preset, train

TRAIN = [sys.executable, "-m", "fastei.cli", "train", "--preset", "iris", "--snapshot-every",
         "1", "--epochs", "4000", "-q"]
SEEDS = 4


@dataclass
class Outcome:
    """What ``read_run`` made of one killed or corrupted file."""

    path: Path
    expected: int
    note: str = ""
    snapshots: tuple = ()
    warnings: tuple = ()
    error: BaseException | None = None


def read(path: Path, expected: int, note: str = "") -> Outcome:
    """Read ``path`` with ``read_run``, keeping its warnings and any exception."""
    outcome = Outcome(path, expected, note)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome.snapshots = read_run(path).snapshots
        except Exception as exc:  # every exception is an outcome to report
            outcome.error = exc
    outcome.warnings = tuple(str(w.message) for w in caught)
    return outcome


def _start(path: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen([*TRAIN, "--seed", str(seed), "-o", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_runs(folder: Path, kills: int, parallel: int, rng: random.Random,
              max_delay: float = 1.0) -> list[Outcome]:
    """Kill ``kills`` training runs, ``parallel`` at a time; see the module docstring.

    Run ``i`` trains with seed ``i % SEEDS`` and writes ``folder / f"kill-{i}.h5"``; its
    outcome's ``expected`` is the snapshot count read just before the kill.
    """
    pending = list(range(kills))
    running = {}  # i -> (process, path, delay, time the file appeared or None)
    outcomes = []
    while pending or running:
        while pending and len(running) < parallel:
            i = pending.pop(0)
            path = folder / f"kill-{i}.h5"
            running[i] = [_start(path, i % SEEDS), path, rng.uniform(0.0, max_delay), None]
        for i, entry in list(running.items()):
            process, path, delay, born = entry
            if process.poll() is not None:
                raise RuntimeError(f"run {i} ended (status {process.returncode}) before its "
                                   "kill; give it more epochs")
            if born is None:
                if path.exists():
                    entry[3] = time.monotonic()
                continue
            seen = snapshot_count(path)
            if time.monotonic() - born >= delay:
                process.send_signal(signal.SIGKILL)
                process.wait()
                outcomes.append(read(path, seen))
                del running[i]
        time.sleep(0.005)
    return sorted(outcomes, key=lambda o: int(o.path.stem.split("-")[1]))


def reference(seed: int, epochs: int):
    """The first ``epochs + 1`` snapshots of an uninterrupted run with ``seed``."""
    return train(preset("iris", seed=seed, epochs=max(epochs, 1), snapshot_every=1)).snapshots


def same_snapshot(a, b) -> bool:
    """Whether two snapshots are equal bit for bit (weights, biases, activations, metrics)."""
    if (a.index, a.epoch, a.batches, a.metrics) != (b.index, b.epoch, b.batches, b.metrics):
        return False
    return all(np.array_equal(x.weights, y.weights) and x.activation.name == y.activation.name
               and (x.bias is None) == (y.bias is None)
               and (x.bias is None or np.array_equal(x.bias, y.bias))
               for x, y in zip(a.network.layers, b.network.layers, strict=True))


def check_kills(outcomes: list[Outcome]) -> list[str]:
    """What is wrong with the killed runs' files (empty when nothing)."""
    longest = [0] * SEEDS
    for i, outcome in enumerate(outcomes):
        longest[i % SEEDS] = max(longest[i % SEEDS], len(outcome.snapshots))
    references = [reference(seed, n) for seed, n in enumerate(longest)]
    problems = []
    for i, outcome in enumerate(outcomes):
        name = outcome.path.name
        if outcome.error is not None or outcome.warnings:
            problems.append(f"{name}: {outcome.error or outcome.warnings[0]}")
        elif len(outcome.snapshots) < outcome.expected:
            problems.append(f"{name}: {len(outcome.snapshots)} snapshots, but a reader "
                            f"counted {outcome.expected} before the kill")
        elif not all(same_snapshot(s, r) for s, r in zip(outcome.snapshots,
                                                         references[i % SEEDS], strict=False)):
            problems.append(f"{name}: a snapshot differs from the uninterrupted run")
    return problems


def corrupt_copies(original: Path, folder: Path, count: int,
                   rng: random.Random) -> list[Outcome]:
    """Read ``count`` copies of ``original``, each with random bytes at a random offset."""
    data = original.read_bytes()
    expected = len(read_run(original).snapshots)
    outcomes = []
    for i in range(count):
        offset = rng.randrange(len(data))
        damage = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        path = folder / f"corrupt-{i}.h5"
        path.write_bytes(data[:offset] + damage + data[offset + len(damage):])
        outcomes.append(read(path, expected, f" (offset {offset}, {len(damage)} bytes)"))
    return outcomes


def check_corruptions(outcomes: list[Outcome], originals) -> list[str]:
    """What is wrong with what was read from the corrupted copies (empty when nothing)."""
    problems = []
    for outcome in outcomes:
        name, error = outcome.path.name + outcome.note, outcome.error
        if error is not None:
            if type(error) is not ValueError or "\n" in str(error):
                problems.append(f"{name}: {type(error).__name__}: {error}")
        elif len(outcome.warnings) != (len(outcome.snapshots) < outcome.expected):
            problems.append(f"{name}: {len(outcome.warnings)} warnings for "
                            f"{len(outcome.snapshots)} of {outcome.expected} snapshots")
        elif not all(same_snapshot(s, originals[s.index]) for s in outcome.snapshots):
            problems.append(f"{name}: a recovered snapshot differs from the original")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--corruptions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        start = time.perf_counter()
        kills = kill_runs(folder, args.kills, args.parallel, rng)
        kill_problems = check_kills(kills)
        print(f"SIGKILL: {sum(o.error is None for o in kills)} of {len(kills)} files opened; "
              f"{sum(len(o.snapshots) for o in kills)} snapshots recovered, "
              f"{sum(o.expected for o in kills)} counted by a reader just before the kills; "
              f"{len(kills) - len(kill_problems)} files passed every check "
              f"({time.perf_counter() - start:.0f} s)")
        original = folder / "finished.h5"
        subprocess.run([*TRAIN, "--seed", "0", "--epochs", "100", "-o", str(original)],
                       check=True)
        corrupted = corrupt_copies(original, folder, args.corruptions, rng)
        corruption_problems = check_corruptions(corrupted, read_run(original).snapshots)
        n = corrupted[0].expected
        damaged = [o for o in corrupted if o.error is None and o.warnings]
        print(f"corruption: {len(corrupted)} copies of a {n}-snapshot file: "
              f"{sum(o.error is None and not o.warnings for o in corrupted)} opened with every "
              f"snapshot, {len(damaged)} with {sum(len(o.snapshots) for o in damaged)} of "
              f"{len(damaged) * n} snapshots and one warning, "
              f"{sum(o.error is not None for o in corrupted)} refused with one ValueError line; "
              f"{len(corrupted) - len(corruption_problems)} passed every check")
    problems = kill_problems + corruption_problems
    for problem in problems:
        print("FAILED", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
