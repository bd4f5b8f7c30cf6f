"""The ``fastei estimate``, ``demo`` and ``warmup`` commands, in-process and as real processes."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import h5py
import pytest

import fastei
import fastei.results
from fastei.batch import estimate
from fastei.cli import main
from fastei.io import read_run
from fastei.results import table
from fastei.train import preset, train

FAST = ["--samples", "2e4", "--sensitivity-samples", "300"]


def test_estimate_prints_every_layer_and_records_values_and_settings(run_file, tmp_path, capsys):
    out_json = tmp_path / "m.json"
    argv = ["estimate", str(run_file), "--snapshots", "0,-1", "--json", str(out_json),
            "--noise-seed", "5", "--bins", "6", *FAST]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["snapshot", "epoch", "span", "EI", "EI_parts", "sensitivity",
                                "degeneracy", "phi"]
    assert [line.split()[:3] for line in lines[1:]] == [
        [s, e, k] for s, e in (("0", "0"), ("2", "20")) for k in ("0", "1", "2")]
    records = json.loads(out_json.read_text())
    network = read_run(run_file).snapshots[-1].network
    for record in records[3:]:
        expected = fastei.measure(network, span=record["span"][0], samples=20_000,
                                  sensitivity_samples=300, in_bins=6, out_bins=6, seed=5)
        assert (record["ei"], record["ei_parts"], record["sensitivity"]) == \
            (expected.ei, expected.ei_parts, expected.sensitivity)
        settings = record["settings"]
        assert settings["samples"] == 20_000 and settings["seed"] == 5
        assert settings["in_bins"] == settings["out_bins"] == 6
        assert settings["in_range"] == [0.0, 1.0] and settings["estimator_version"]
        assert settings["fastei_version"] == fastei.__version__
    row = [float(v) for v in lines[4].split()[3:]]
    assert row[0] == pytest.approx(records[3]["ei"], abs=5e-5)
    # degeneracy = sensitivity - EI and phi = EI - EI_parts, from the stored values
    assert row[3] == pytest.approx(records[3]["sensitivity"] - records[3]["ei"], abs=5e-5)
    assert row[4] == pytest.approx(records[3]["ei"] - records[3]["ei_parts"], abs=5e-5)


def test_batch_records_equal_library_calls(run_file, tmp_path):
    measures = ("ei", "degeneracy", "phi_feedforward")
    result = estimate(run_file, measures=measures, snapshots=[1], samples=5000,
                      sensitivity_samples=100, method="sampled", store=tmp_path / "r.h5")
    network = read_run(run_file).snapshots[1].network
    for record in result.records:
        m = fastei.measure(network, span=record["span"][0], samples=5000, sensitivity_samples=100)
        assert tuple(record[name] for name in measures) == \
            (m.ei, m.degeneracy, m.phi_feedforward)


def test_estimate_options_reach_the_estimator(run_file, tmp_path, capsys):
    out_json = tmp_path / "m.json"
    argv = ["estimate", str(run_file), "--snapshots", "-1", "--overflow", "drop",
            "--in-range=0.1,0.9", "--out-range", "0.2,0.8", "--max-memory", "64MB",
            "--json", str(out_json), *FAST]
    assert main(argv) == 0
    network = read_run(run_file).snapshots[-1].network
    options = dict(samples=20_000, sensitivity_samples=300, in_range=(0.1, 0.9),
                   out_range=(0.2, 0.8), overflow="drop", max_memory=64 * 10**6)
    for record in json.loads(out_json.read_text()):
        m = fastei.measure(network, span=record["span"][0], **options)
        assert (record["ei"], record["sensitivity"]) == (m.ei, m.sensitivity)
        assert record["settings"]["overflow"] == "drop"


def test_linear_output_layer_needs_and_takes_an_out_range(tmp_path, capsys):
    path = tmp_path / "linear.h5"
    train(preset("iris", epochs=2, snapshot_every=2, activation=("sigmoid", "sigmoid", "linear"),
                 seed=1), output=path)
    assert main(["estimate", str(path), "--snapshots", "-1", *FAST]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"fastei estimate: failed: {str(path)!r} snapshot 1 (epoch 2) span 2: out_range has no "
        "default: layer 2 uses the unbounded activation 'linear'; pass out_range=(lo, hi)")
    assert err[1].startswith("2 tasks done, 0 skipped as already stored, 1 failed")
    assert main(["estimate", str(path), "--snapshots", "-1", "--out-range=-2,2", *FAST]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--samples", "1.5"], "argument --samples: expected a positive whole number"),
    (["--samples", "0"], "argument --samples: expected a positive whole number"),
    (["--in-range", "0;1"], "argument --in-range: expected LO,HI such as 0,1"),
    (["--overflow", "wrap"], "argument --overflow: invalid choice: 'wrap'"),
])
def test_bad_options_are_refused_by_the_parser(run_file, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["estimate", str(run_file), *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--bins", "1"], "in_bins must be >= 2, got 1"),
    (["--max-memory", "lots"], "max_memory 'lots' is not understood"),
    (["--in-range=-1e308,1e308"], "hi - lo overflows float64"),
    (["--snapshots", "7"], "snapshot 7 is out of range"),
])
def test_bad_values_give_one_line_and_status_2(run_file, capsys, argv, message):
    assert main(["estimate", str(run_file), *argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_bad_json_targets_fail_before_any_work(run_file, tmp_path, capsys):
    for target, message in ((tmp_path, "is a folder; give a file name inside it"),
                            (tmp_path / "missing" / "m.json", "does not exist; create it first")):
        start = time.perf_counter()
        assert main(["estimate", str(run_file), "--json", str(target)]) == 2
        assert time.perf_counter() - start < 1.0  # 10**7 samples a layer were never drawn
        assert message in capsys.readouterr().err


def test_a_file_without_snapshots_is_an_error(tmp_path, capsys):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update(format="fastei-snapshots", schema_version=1, fastei_version="x",
                       config="{}")
        f.create_group("snapshots")
    assert main(["estimate", str(path)]) == 2
    assert "holds no complete snapshot yet; nothing to measure" in capsys.readouterr().err


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))


def test_full_disk_leaves_no_partial_json(run_file, tmp_path):
    out_json = tmp_path / "m.json"
    assert main(["estimate", str(run_file), "-q", *FAST]) == 0  # stored: nothing to write now
    result = subprocess.run(
        [sys.executable, "-m", "fastei.cli", "estimate", str(run_file), "--json", str(out_json),
         *FAST], capture_output=True, text=True, preexec_fn=_limit_file_size, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("fastei estimate: error: [Errno 27] File too large")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_ctrl_c_keeps_the_finished_layers(run_file, tmp_path):
    store = tmp_path / "results.h5"
    process = subprocess.Popen(
        [sys.executable, "-m", "fastei.cli", "estimate", str(run_file), "--store", str(store),
         "--samples", "3e7", "--sensitivity-samples", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)  # imports, then at most a few of the nine layers at 3e7 samples
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().startswith("fastei estimate: interrupted")
    assert out == ""
    stored = table(run_file, store=store) if store.exists() else []
    assert len(stored) % 3 == 0 and len(stored) < 27  # whole tasks only, not all of them


def test_demo_trains_and_measures(tmp_path, capsys):
    path = tmp_path / "demo.h5"
    assert main(["demo", "-o", str(path), *FAST]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("trained iris 4-5-5-3 (seed 1) in ")
    assert out[0].endswith(f"81 snapshots in {path}")
    assert len(out) == 1 + 1 + 6 + 1 and out[-1].startswith("measured in ")
    assert len(fastei.results.table(path)) == 6 * 3
    assert len(read_run(path).snapshots) == 81


def test_warmup_command(capsys):
    assert main(["warmup"]) == 0
    assert capsys.readouterr().out.startswith("kernels ready in ")
