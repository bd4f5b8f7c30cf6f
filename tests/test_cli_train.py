"""The ``fastei train`` and ``fastei data`` commands, called in-process."""

import numpy as np
import pytest

import fastei.train
from fastei.cli import main
from fastei.io import read_run

SHORT = ["--epochs", "20", "--snapshot-every", "10"]


def test_train_writes_a_run_and_prints_a_summary(tmp_path, capsys):
    path = tmp_path / "runs" / "iris-1.h5"
    assert main(["train", "--preset", "iris", "--seed", "1", "-o", str(path), *SHORT]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("iris 4-5-5-3 seed 1: 20 epochs in ")
    assert out.endswith(f"3 snapshots in {path}") and "\n" not in out
    run = read_run(path)
    assert run.config["seed"] == 1 and [s.epoch for s in run.snapshots] == [0, 10, 20]


def test_every_option_reaches_the_config(tmp_path, capsys):
    path = tmp_path / "run.h5"
    argv = ["train", "--preset", "iris", "-o", str(path), "--seed", "2", "--widths", "4-7-3",
            "--activation", "tanh,linear", "--bias", "--loss", "cross_entropy", "--init", "he",
            "--lr", "0.05", "--batch-size", "20", "--epochs", "4", "--snapshot-every", "2",
            "--shuffle-labels", "--quiet"]
    assert main(argv) == 0
    assert capsys.readouterr().out == ""
    config = read_run(path).config
    assert {key: config[key] for key in (
        "widths", "activation", "bias", "loss", "init", "learning_rate", "batch_size", "epochs",
        "snapshot_every", "shuffle_labels", "seed")} == {
        "widths": [4, 7, 3], "activation": ["tanh", "linear"], "bias": True,
        "loss": "cross_entropy", "init": "he", "learning_rate": 0.05, "batch_size": 20,
        "epochs": 4, "snapshot_every": 2, "shuffle_labels": True, "seed": 2}


def test_same_seed_same_file_contents(tmp_path):
    paths = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for path in paths:
        assert main(["train", "--seed", "7", "-o", str(path), "-q", *SHORT]) == 0
    a, b = (read_run(p).snapshots[-1].network.layers[0].weights for p in paths)
    np.testing.assert_array_equal(a, b)


def test_input_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "run.h5"
    assert main(["train", "-o", str(path), "-q", *SHORT]) == 0
    assert main(["train", "-o", str(path), "-q", *SHORT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastei train: error: ") and "already exists" in err
    assert err.count("\n") == 1
    assert main(["train", "-o", str(path), "--overwrite", "-q", "--lr", "-1"]) == 2
    assert "learning_rate must be a positive finite number" in capsys.readouterr().err
    assert main(["train", "-o", str(path), "--overwrite", "-q", "--widths", "4-5-2"]) == 2
    assert "do not fit the iris data" in capsys.readouterr().err


def test_failed_overwrite_leaves_the_old_file_byte_identical(tmp_path, capsys):
    path = tmp_path / "keep.h5"
    assert main(["train", "--seed", "5", "-o", str(path), "-q", *SHORT]) == 0
    old = path.read_bytes()
    for bad, message in ((["--seed", str(2**64)], f"seed {2**64} does not fit in 64 bits"),
                         (["--lr", "-1"], "learning_rate must be a positive finite number")):
        assert main(["train", "-o", str(path), "--overwrite", "-q", *SHORT, *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("fastei train: error: ") and message in err
        assert err.count("\n") == 1
        assert path.read_bytes() == old
    assert main(["train", "--seed", "6", "-o", str(path), "--overwrite", "-q", *SHORT]) == 0
    assert read_run(path).config["seed"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.h5"]


def test_bad_widths_syntax_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["train", "-o", "x.h5", "--widths", "4-x-3"])
    assert excinfo.value.code == 2
    assert "widths must be '-'-separated integers such as 4-5-5-3" in capsys.readouterr().err


def test_interrupt_returns_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fastei.train, "train", interrupted)
    assert main(["train", "-o", str(tmp_path / "run.h5"), "-q"]) == 130
    assert "interrupted;" in capsys.readouterr().err


def test_data_describes_bundled_sets(capsys):
    assert main(["data", "mnist"]) == 0
    assert capsys.readouterr().out == (
        "mnist (bundled): 2000 train / 500 test rows, 25 features, 5 classes\n")
    assert main(["data", "iris"]) == 0
    assert "100 train / 50 test rows, 4 features, 3 classes" in capsys.readouterr().out


def test_data_builds_mnist_from_idx_and_train_uses_it(mnist_idx_dir, tmp_path, capsys):
    out = tmp_path / "full.npz"
    assert main(["data", "mnist", "--idx", str(mnist_idx_dir), "-o", str(out),
                 "--n-train", "20"]) == 0
    assert "20 train / 10 test rows" in capsys.readouterr().out
    run_path = tmp_path / "mnist.h5"
    assert main(["train", "--preset", "mnist", "--data", str(out), "--batch-size", "5",
                 "--epochs", "2", "-o", str(run_path), "-q"]) == 0
    run = read_run(run_path)
    assert run.config["data_path"] == str(out) and run.snapshots[-1].batches == 8


def test_data_errors(tmp_path, capsys):
    assert main(["data", "iris", "--idx", str(tmp_path)]) == 2
    assert "--idx builds reduced MNIST only" in capsys.readouterr().err
    assert main(["data", "mnist", "--idx", str(tmp_path / "none")]) == 2
    assert "no MNIST training files in" in capsys.readouterr().err
