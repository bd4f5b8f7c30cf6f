"""Batch estimation: stored results, resume after SIGKILL, a second writer, Dask, failures."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import fastei
from fastei.batch import estimate
from fastei.cli import main
from fastei.io import open_readonly, read_run, snapshot_count
from fastei.results import table
from fastei.train import preset, train

FAST = dict(samples=20_000, sensitivity_samples=300)
CLI_FAST = ["--samples", "2e4", "--sensitivity-samples", "300"]


def _values(rows):
    return sorted((r["snapshot"], r["span_start"], r["span_end"], r["measure"], r["value"])
                  for r in rows)


def test_batch_values_equal_library_calls_and_are_not_computed_twice(run_file, tmp_path):
    store = tmp_path / "store.h5"
    first = estimate(run_file, spans=[0, 2, (0, 2)], store=store, **FAST)
    assert (first.done, first.skipped, first.failed) == (9, 0, [])
    for snap in read_run(run_file).snapshots:
        for span, ei_span in ((0, 0), (2, 2), ((0, 2), 0)):
            got = {r["measure"]: r["value"] for r in table(run_file, store=store)
                   if r["snapshot"] == snap.index and r["span_start"] == ei_span
                   and r["span_end"] == (span[1] if isinstance(span, tuple) else span)}
            assert got == {"ei": fastei.ei(snap.network, span=span, samples=20_000),
                           "ei_parts": fastei.ei_parts(snap.network, span=span, samples=20_000),
                           "sensitivity": fastei.sensitivity(snap.network, span=span,
                                                             samples=300)}
    again = estimate(run_file, spans=[0, 2, (0, 2)], store=store, **FAST)
    assert (again.done, again.skipped) == (0, 9) and again.records == first.records
    assert again.summary().startswith("0 tasks done, 9 skipped as already stored, 0 failed")
    other = estimate(run_file, spans=[0], measures=["ei"], store=store, in_bins=4, **FAST)
    assert other.done == 3 and other.key != first.key
    rows = table(run_file, store=store)
    assert len(rows) == 27 + 3 and {r["in_bins"] for r in rows} == {8, 4}


def test_single_measure_uses_its_own_estimator(run_file, tmp_path):
    result = estimate(run_file, measures=["sensitivity"], snapshots=[-1], spans=[-1],
                      store=tmp_path / "s.h5", **FAST)
    network = read_run(run_file).snapshots[-1].network
    assert result.records[0]["sensitivity"] == fastei.sensitivity(network, span=2, samples=300)


def _cli(*args):
    return [sys.executable, "-m", "fastei.cli", "estimate", *map(str, args)]


def test_sigkill_then_rerun_gives_the_uninterrupted_results(run_file, tmp_path):
    slow = ["--samples", "2e6", "--sensitivity-samples", "300", "-q"]
    store = tmp_path / "killed.h5"
    process = subprocess.Popen(_cli(run_file, "--store", store, *slow),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (store.exists() and table(run_file, store=store)):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    partial = table(run_file, store=store)
    assert 0 < len(partial) < 27 and len(partial) % 3 == 0
    with open_readonly(store) as handle:  # the file opens cleanly after the kill
        assert "results" in handle
    _assert_rerun_finishes(run_file, store, slow[:-1], len(partial) // 3, tmp_path)


def _assert_rerun_finishes(run_file, store, options, stored, tmp_path):
    """The same command again computes the 9 - ``stored`` missing tasks, and the store
    then holds the values of an uninterrupted run (2e6 samples, 300 per node)."""
    rerun = subprocess.run(_cli(run_file, "--store", store, *options), capture_output=True,
                           text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{9 - stored} tasks done, {stored} skipped" in rerun.stderr
    reference = tmp_path / "whole.h5"
    estimate(run_file, store=reference, samples=2_000_000, sensitivity_samples=300)
    assert _values(table(run_file, store=store)) == _values(table(run_file, store=reference))


def test_a_second_writer_is_refused_with_the_pid(run_file, tmp_path):
    store = tmp_path / "busy.h5"
    first = subprocess.Popen(_cli(run_file, "--store", store, "--samples", "3e7", "-q"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = store.with_name("busy.h5.lock")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
            time.sleep(0.05)
        second = subprocess.run(_cli(run_file, "--store", store, *CLI_FAST),
                                capture_output=True, text=True, timeout=60)
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert second.returncode == 2 and second.stderr.count("\n") == 1
    assert f"is being written by process {first.pid}" in second.stderr
    assert "--store FILE" in second.stderr
    table(run_file, store=store)  # intact


def test_dask_cluster_stores_the_same_values(run_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        result = estimate(run_file, spans=[0, 1], store=tmp_path / "dask.h5",
                          scheduler=cluster.scheduler_address, **FAST)
    assert result.done == 6 and not result.failed
    local = estimate(run_file, spans=[0, 1], store=tmp_path / "local.h5", workers=2, **FAST)
    assert local.records == result.records


def test_a_bad_snapshot_is_reported_and_the_others_stored(tmp_path, capsys):
    path = tmp_path / "nan.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs.update(format="fastei-snapshots", schema_version=1, fastei_version="external",
                       config="{}")
        for i in range(3):
            snap = f.create_group(f"snapshots/{i:06d}")
            snap.attrs.update(index=i, epoch=i, batches=i)
            weights = rng.normal(size=(3, 2))
            if i == 1:
                weights[0, 0] = np.nan
            snap.create_group("layer_0").attrs["activation"] = "sigmoid"
            snap["layer_0/weights"] = weights
            snap.attrs["complete"] = True
    store = tmp_path / "r.h5"
    assert main(["estimate", str(path), "--store", str(store), *CLI_FAST]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"fastei estimate: failed: {str(path)!r} is damaged: recovered 2 "
                             "of 3 snapshots; first problem: snapshots/000001")
    assert "non-finite value" in err[0]
    with pytest.warns(RuntimeWarning, match="recovered 2 of 3 snapshots"):
        assert {r["snapshot"] for r in table(path, store=store)} == {0, 2}


def test_csv_export_round_trips(run_file, tmp_path, capsys):
    store = tmp_path / "r.h5"
    estimate(run_file, spans=[1], store=store, **FAST)
    out = tmp_path / "t.csv"
    assert main(["results", str(run_file), "--store", str(store), "--csv", str(out)]) == 0
    with open(out, newline="") as file:
        rows = list(csv.DictReader(file))
    stored = table(run_file, store=store)
    assert len(rows) == len(stored) == 9
    for row, value in zip(rows, stored, strict=True):
        assert float(row["value"]) == value["value"] and int(row["epoch"]) == value["epoch"]
        assert float(row["test_accuracy"]) == value["test_accuracy"]
    assert main(["results", str(run_file), "--store", str(store), "--json",
                 str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text()) == stored


def test_estimate_measures_the_complete_snapshots_of_a_run_still_training(tmp_path):
    run, store = tmp_path / "live.h5", tmp_path / "results.h5"
    trainer = subprocess.Popen([sys.executable, "-m", "fastei.cli", "train", "--preset",
                                "mnist", "--epochs", "5000", "--snapshot-every", "20", "-q",
                                "-o", str(run)], stderr=subprocess.PIPE, text=True)
    measure = [run, "--store", store, "--spans", "0", "--measures", "ei", "--samples", "1e4"]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (run.exists() and snapshot_count(run) >= 3):
            time.sleep(0.05)
        first = subprocess.run(_cli(*measure), capture_output=True, text=True, timeout=120)
        assert trainer.poll() is None  # still training: the run file is being written
    finally:
        trainer.kill()
        trainer.communicate()
    assert first.returncode == 0, first.stderr
    measured = {r["snapshot"]: r["value"] for r in table(run, store=store)}
    snapshots = read_run(run).snapshots
    assert 3 <= len(measured) < len(snapshots)
    assert sorted(measured) == list(range(len(measured)))
    for index in (0, len(measured) - 1):
        assert measured[index] == fastei.ei(snapshots[index].network, samples=10_000)
    rerun = subprocess.run(_cli(*measure), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert (f"{len(snapshots) - len(measured)} tasks done, {len(measured)} skipped"
            in rerun.stderr)


def _session_ends(session, timeout=10.0):
    """Whether every process of a session is gone within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(session, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_stops_every_worker_at_once_and_the_rerun_finishes(run_file, tmp_path):
    store = tmp_path / "interrupted.h5"
    slow = ["--samples", "2e6", "--sensitivity-samples", "300", "--workers", "2"]
    # a session of its own, interrupted as a terminal does: SIGINT to every process of it
    process = subprocess.Popen(_cli(run_file, "--store", store, *slow, "-q"),
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (store.exists() and table(run_file, store=store)):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err == (f"fastei estimate: interrupted; every finished task is stored in {store}; "
                   "the same command computes only the rest\n")
    assert _session_ends(process.pid)  # no worker lives on
    partial = len(table(run_file, store=store)) // 3
    assert 0 < partial < 9
    _assert_rerun_finishes(run_file, store, slow, partial, tmp_path)


def _file_size_limit(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("limit", [1024, 2048, 3072])
def test_a_full_disk_while_the_store_is_set_up_is_one_line_and_no_crash(run_file, tmp_path,
                                                                       limit):
    # The new results file fits in the limit, the groups made for the run do not.
    store = tmp_path / "full.h5"
    full = subprocess.run(_cli(run_file, "--store", store, *CLI_FAST), capture_output=True,
                          text=True, timeout=120, preexec_fn=_file_size_limit(limit))
    assert full.returncode == 2  # not a crash at exit (-11)
    assert full.stderr == (f"fastei estimate: error: cannot store results in '{store}' (File "
                           "too large); the values stored before are kept; make room or "
                           "store elsewhere with --store FILE\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.h5"]  # no lock left
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the result set made for the run may be damaged
        assert table(run_file, store=store) == []
    again = subprocess.run(_cli(run_file, "--store", store, *CLI_FAST), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert f"cannot open '{store}' to store results (" in again.stderr
    assert "move it aside" in again.stderr
    results = subprocess.run([sys.executable, "-m", "fastei.cli", "results", str(run_file),
                              "--store", str(store)], capture_output=True, text=True, timeout=60)
    assert results.returncode == 0 and results.stdout.strip() == ""
    assert results.stderr == "" or (  # the set made for the run may be damaged
        results.stderr.startswith(f"fastei results: warning: '{store}' is damaged: result "
                                  "set ") and results.stderr.count("\n") == 1)

def test_converged_measures_one_at_a_time_or_together_with_the_standard_error(run_file, tmp_path):
    network = read_run(run_file).snapshots[-1].network
    reference = fastei.measure(network, span=1, method="converged", cells=200,
                               points_per_cell=64)
    stratified = fastei.ei_stratified(network, span=1, cells=200, points_per_cell=64)
    options = dict(snapshots=[-1], spans=[1], method="converged", cells=200, points_per_cell=64)
    alone = [estimate(run_file, measures=[name], store=tmp_path / f"{name}.h5", **options)
             .records[0][name] for name in ("ei", "ei_parts", "sensitivity", "degeneracy",
                                            "phi_feedforward", "ei_standard_error")]
    assert alone == [reference.ei, reference.ei_parts, reference.sensitivity,
                     reference.degeneracy, reference.phi_feedforward,
                     stratified.standard_error]
    assert stratified.standard_error > 0
    together = estimate(run_file, measures=["ei", "ei_standard_error", "ei_parts"],
                        store=tmp_path / "all.h5", **options)
    assert [together.records[0][m] for m in ("ei", "ei_standard_error", "ei_parts")] == [
        reference.ei, stratified.standard_error, reference.ei_parts]
    # the stratified budget keys the converged values only
    other = estimate(run_file, measures=["ei"], store=tmp_path / "all.h5",
                     **{**options, "cells": 100})
    assert other.done == 1 and other.key != together.key
    assert other.records[0]["settings"]["cells"] == 100
    assert "cells" not in estimate(run_file, spans=[0], snapshots=[0], store=tmp_path / "s.h5",
                                   **FAST).records[0]["settings"]
    with pytest.raises(ValueError, match="ei_standard_error is the standard error of the "
                                         "converged EI; it needs method='converged'"):
        estimate(run_file, measures=["ei_standard_error"], store=tmp_path / "x.h5")
    failed = estimate(run_file, measures=["ei"], store=tmp_path / "y.h5",
                      **{**options, "spans": [(0, 1)]}).failed
    assert failed and failed[0].endswith("method='converged' measures one layer; give "
                                         "single-layer spans")


def test_worker_processes_take_tanh_and_relu_networks(tmp_path):
    values = {}
    for activation in ("tanh", "relu"):
        path = tmp_path / f"{activation}.h5"
        train(preset("mnist", epochs=1, activation=activation, seed=1), output=path)
        options = dict(spans=[0, -1], samples=20_000, sensitivity_samples=300,
                       overflow="drop" if activation == "relu" else "clip")
        pooled = estimate(path, workers=2, store=tmp_path / f"{activation}-2.h5", **options)
        inline = estimate(path, store=tmp_path / f"{activation}-1.h5", **options)
        assert (pooled.done, pooled.failed) == (4, []) and pooled.records == inline.records
        values[activation] = pooled.records
    assert values["tanh"] != values["relu"]


def _children(pid):
    """PIDs of the living processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_worker_processes_end_when_the_batch_is_killed(run_file, tmp_path):
    process = subprocess.Popen(_cli(run_file, "--store", tmp_path / "k.h5", "--workers", "2",
                                    "--samples", "3e7", "-q"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    children = []
    while time.monotonic() < deadline and len(children) < 2:
        time.sleep(0.1)
        children = _children(process.pid)
    assert len(children) >= 2  # two workers (and multiprocessing's resource tracker)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.1)
    left = [c for c in children if Path(f"/proc/{c}").exists()
            and Path(f"/proc/{c}/stat").read_text().rpartition(")")[2].split()[0] != "Z"]
    assert left == []


_REALLOCATE = """
import resource, sys
import numpy as np
from fastei._heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(8 << 20)  # 64 MB written, then freed
before = faults()
np.ones(8 << 20)
print(faults() - before)
"""


def test_workers_keep_freed_memory_instead_of_faulting_in_fresh_pages():
    # What batch workers and the command line ask of malloc: the second array of a size
    # reuses the first one's pages (a count allocates such arrays for every chunk).
    def faults(mode):
        child = subprocess.run([sys.executable, "-c", _REALLOCATE, mode], capture_output=True,
                               text=True, timeout=120, check=True)
        return int(child.stdout)

    kept, default = faults("keep"), faults("default")
    assert kept < 10 < default
