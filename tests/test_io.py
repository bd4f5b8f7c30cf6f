"""HDF5 snapshot files: exact round trip, crash safety and one-line errors."""

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastei import Network, __version__
from fastei.io import (
    FORMAT,
    SCHEMA_VERSION,
    SnapshotWriter,
    load_network,
    read_run,
    read_snapshot,
    snapshot_count,
)
from fastei.train import preset, train


def _network(seed, bias=True):
    rng = np.random.default_rng(seed)
    return Network.from_weights([rng.normal(size=(5, 4)), rng.normal(size=(3, 5))],
                                [rng.normal(size=5) if bias else None, None],
                                ["tanh", "sigmoid"])


def _assert_same_network(a, b):
    assert a.widths == b.widths
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert_array_equal(la.weights, lb.weights)
        assert la.activation.name == lb.activation.name
        if la.bias is None:
            assert lb.bias is None
        else:
            assert_array_equal(la.bias, lb.bias)


def test_round_trip_is_exact(tmp_path):
    path = tmp_path / "run.h5"
    config = {"seed": 42, "widths": [4, 5, 3], "note": "x"}
    networks = [_network(k) for k in range(3)]
    metrics = [{"train_loss": 0.1 * k + 1 / 3, "test_accuracy": 0.5} for k in range(3)]
    with SnapshotWriter(path, config) as writer:
        for k, (net, m) in enumerate(zip(networks, metrics, strict=True)):
            assert writer.append(net, epoch=10 * k, batches=100 * k, metrics=m) == k
    run = read_run(path)
    assert run.config == config and run.fastei_version == __version__
    assert [(s.index, s.epoch, s.batches) for s in run.snapshots] == [(0, 0, 0), (1, 10, 100),
                                                                      (2, 20, 200)]
    for snap, net, m in zip(run.snapshots, networks, metrics, strict=True):
        _assert_same_network(snap.network, net)
        assert snap.metrics == m
    _assert_same_network(load_network(path), networks[-1])
    assert read_snapshot(path, 1).epoch == 10
    with h5py.File(path, "r") as handle:
        assert handle.attrs["format"] == FORMAT
        assert handle.attrs["schema_version"] == SCHEMA_VERSION == 2
        assert handle.attrs["seed"] == 42
    assert snapshot_count(path) == 3


def test_trainer_file_equals_returned_run(tmp_path):
    path = tmp_path / "iris.h5"
    run = train(preset("iris", seed=3, epochs=20, snapshot_every=10), output=path)
    stored = read_run(path)
    assert stored.config == run.config
    assert len(stored.snapshots) == len(run.snapshots) == 3
    for a, b in zip(stored.snapshots, run.snapshots, strict=True):
        assert (a.index, a.epoch, a.batches, a.metrics) == (b.index, b.epoch, b.batches, b.metrics)
        _assert_same_network(a.network, b.network)


@pytest.mark.parametrize("flush_partial", [False, True])
def test_crash_mid_write_leaves_complete_snapshots(tmp_path, flush_partial):
    # A writer process dies (no close, no cleanup) while writing its fourth snapshot.
    path = tmp_path / "crash.h5"
    script = textwrap.dedent(f"""
        import os
        import numpy as np
        from fastei import Network
        from fastei.io import SnapshotWriter
        writer = SnapshotWriter({str(path)!r}, {{"seed": 1}})
        for k in range(3):
            writer.append(Network.from_weights([np.full((2, 2), k)]), epoch=k, batches=k)
        for name in ("epoch", "layer_0/weights"):
            writer._datasets[name].resize(4, axis=0)
            writer._datasets[name][3] = 3
        if {flush_partial}:
            writer._file.flush()
        os._exit(1)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 1
    run = read_run(path)
    assert [s.epoch for s in run.snapshots] == [0, 1, 2]
    assert_array_equal(load_network(path).layers[0].weights, np.full((2, 2), 2.0))


def test_interrupted_training_keeps_its_snapshots(tmp_path):
    path = tmp_path / "interrupted.h5"

    def interrupt(epoch, snapshot):
        if epoch == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(preset("iris", seed=1, epochs=100, snapshot_every=10), output=path,
              progress=interrupt)
    assert [s.epoch for s in read_run(path).snapshots] == [0, 10, 20]


def _write_v1(path, weights, activations, n_snapshots=1, complete=True):
    """The schema-1 snippet of docs/FORMAT.md, one group per snapshot."""
    with h5py.File(path, "w") as f:
        f.attrs.update(format="fastei-snapshots", schema_version=1, fastei_version="external",
                       config=json.dumps({"note": "my run"}))
        for i in range(n_snapshots):
            snap = f.create_group(f"snapshots/{i:06d}")
            snap.attrs.update(index=i, epoch=i, batches=10 * i)
            for k, (w, act) in enumerate(zip(weights, activations, strict=True)):
                layer = snap.create_group(f"layer_{k}")
                layer.attrs["activation"] = act
                layer.create_dataset("weights", data=w)
            snap.create_group("metrics")
            snap.attrs["complete"] = complete
    return path


def test_file_written_by_another_tool(tmp_path):
    path = _write_v1(tmp_path / "external.h5", [np.ones((3, 2)), np.ones((1, 3))],
                     ["relu", "linear"])
    network = load_network(path)
    assert network.widths == (2, 3, 1)
    assert [layer.activation.name for layer in network.layers] == ["relu", "linear"]
    assert read_run(path).config == {"note": "my run"}


def test_schema_2_written_by_another_tool(tmp_path):
    # The schema-2 snippet in docs/FORMAT.md: contiguous datasets, no metrics.
    path = tmp_path / "external2.h5"
    stacked = [np.stack([np.full((3, 2), i) for i in range(4)]), np.ones((4, 1, 3))]
    with h5py.File(path, "w") as f:
        f.attrs.update(format="fastei-snapshots", schema_version=2, fastei_version="external",
                       config=json.dumps({"note": "my run"}))
        n = len(stacked[0])
        f["epoch"], f["batches"] = [0, 1, 2, 3], [0, 10, 20, 30]
        for k, (w, act) in enumerate(zip(stacked, ["relu", "linear"], strict=True)):
            f[f"layer_{k}/weights"] = w
            f[f"layer_{k}"].attrs["activation"] = act
        f["count"] = n
    run = read_run(path)
    assert [(s.index, s.epoch, s.batches, s.metrics) for s in run.snapshots] == [
        (i, i, 10 * i, {}) for i in range(4)]
    assert_array_equal(run.snapshots[2].network.layers[0].weights, np.full((3, 2), 2.0))
    assert snapshot_count(path) == 4


def test_every_snapshot_of_a_file_has_the_first_ones_layout(tmp_path):
    with SnapshotWriter(tmp_path / "run.h5", {}) as writer:
        writer.append(_network(0), epoch=0, batches=0, metrics={"b": 1.0, "a": 2.0})
        writer.append(_network(1), epoch=1, batches=1, metrics={"a": 3.0, "b": 4.0})
        with pytest.raises(ValueError, match=r"snapshot 2 does not fit .*: its layout\(widths="
                                             r"\(4, 5, 3\), .*biases=\(False, False\).* differs "
                                             r"from the first snapshot's .*; write a different "
                                             r"network to a new file"):
            writer.append(_network(2, bias=False), epoch=2, batches=2,
                          metrics={"a": 0.0, "b": 0.0})
    assert [s.metrics for s in read_run(tmp_path / "run.h5").snapshots] == [
        {"a": 2.0, "b": 1.0}, {"a": 3.0, "b": 4.0}]


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_run(tmp_path / "missing.h5")
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(ValueError, match="is not a readable HDF5 file") as excinfo:
        read_run(text)
    _one_line(excinfo)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match="HDF5 file but not a fastei snapshot file") as excinfo:
        read_snapshot(foreign)
    _one_line(excinfo)


def _valid_file(path):
    with SnapshotWriter(path, {"seed": 0}) as writer:
        writer.append(_network(0), epoch=0, batches=0)
    return path


@pytest.mark.parametrize(("version", "damage", "match"), [
    (2, lambda f: f.attrs.__setitem__("schema_version", 99), "has schema_version 99"),
    (2, lambda f: f.attrs.__setitem__("schema_version", "two"),
     "has unreadable root attributes \\(invalid literal for int"),
    (1, lambda f: f.__delitem__("snapshots"), "is damaged .*object 'snapshots' doesn't exist"),
    (2, lambda f: f.__delitem__("epoch"), "is damaged .*object 'epoch' doesn't exist"),
    (2, lambda f: f.__delitem__("layer_0"), "has no 'layer_0' group"),
    (1, lambda f: f.__delitem__("snapshots/000000/layer_0"), "has no 'layer_0' group"),
    (1, lambda f: f.__delitem__("snapshots/000000/layer_1/weights"),
     "no intact snapshot \\(snapshots/000000: layer_1 has no 'weights' dataset"),
])
def test_damaged_files_give_one_line_errors(tmp_path, version, damage, match):
    path = tmp_path / "run.h5"
    if version == 1:
        _write_v1(path, [np.ones((3, 2)), np.ones((1, 3))], ["relu", "linear"])
    else:
        _valid_file(path)
    with h5py.File(path, "a") as f:
        damage(f)
    with pytest.raises(ValueError, match=match) as excinfo:
        read_run(path)
    _one_line(excinfo)


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda f: f["count"].__setitem__((), 0), "count is 0 but the datasets hold 3 rows"),
    (lambda f: f.__delitem__("count"), "count: Unable to synchronously open object"),
])
def test_damaged_count_keeps_the_rows_that_were_surely_complete(tmp_path, damage, problem):
    # The last row may be the one in flight, so only the rows before it are certain.
    path = tmp_path / "run.h5"
    with SnapshotWriter(path, {}) as writer:
        for k in range(3):
            writer.append(_network(k), epoch=k, batches=k)
    with h5py.File(path, "a") as f:
        damage(f)
    with pytest.warns(RuntimeWarning, match=f"recovered 2 of 2 snapshots; first problem: "
                                            f"{problem}"):
        assert [s.epoch for s in read_run(path).snapshots] == [0, 1]


def test_snapshot_index_out_of_range(tmp_path):
    path = _valid_file(tmp_path / "run.h5")
    assert read_snapshot(path, -1).index == 0
    with pytest.raises(ValueError, match="snapshot index 1 is out of range: .* holds 1 complete"):
        read_snapshot(path, 1)
    SnapshotWriter(tmp_path / "empty.h5", {}).close()
    assert not (tmp_path / "empty.h5").exists()
    path = _write_v1(tmp_path / "v1.h5", [np.ones((1, 2))], ["relu"], complete=False)
    with pytest.raises(ValueError, match="holds no complete snapshot yet"):
        read_snapshot(path)


def test_writer_errors(tmp_path):
    path = _valid_file(tmp_path / "run.h5")
    with pytest.raises(FileExistsError, match="already exists; choose another path"):
        SnapshotWriter(path, {})
    with SnapshotWriter(path, {"seed": 1}, overwrite=True) as writer:
        writer.append(_network(1, bias=False), epoch=5, batches=50)
    assert read_snapshot(path).epoch == 5
    with pytest.raises(ValueError, match="the writer of .* is closed; open a new SnapshotWriter"):
        writer.append(_network(1, bias=False), epoch=6, batches=60)
    with pytest.raises(TypeError, match="config must hold only JSON types"):
        SnapshotWriter(tmp_path / "other.h5", {"array": np.zeros(2)})
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name such as"):
        SnapshotWriter(tmp_path, {})
    with pytest.raises(OSError, match=r"cannot write .*run.h5/x.h5' \(.*\); choose a folder "
                                      "you can write to") as excinfo:
        SnapshotWriter(path / "x.h5", {})
    _one_line(excinfo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_seed_must_fit_in_64_bits(tmp_path):
    path = tmp_path / "run.h5"
    with pytest.raises(ValueError, match=f"seed {2**64} does not fit in 64 bits; use a seed "
                                         f"from 0 to {2**64 - 1}"):
        SnapshotWriter(path, {"seed": 2**64})
    with pytest.raises(TypeError, match="the config's seed must be an integer or None, got 1.5"):
        SnapshotWriter(path, {"seed": 1.5})
    assert not list(tmp_path.iterdir())
    for seed in (2**64 - 1, -(2**63)):
        with SnapshotWriter(path, {"seed": seed}, overwrite=True) as writer:
            writer.append(_network(0), epoch=0, batches=0)
        with h5py.File(path, "r") as handle:
            assert int(handle.attrs["seed"]) == seed
        assert read_run(path).config["seed"] == seed


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "run.h5"
    with SnapshotWriter(path, {}) as first:
        assert (tmp_path / "run.h5.lock").read_text() == f"{os.getpid()}\n"
        refused = (f"'{path}' is being written by process {os.getpid()} \\(it holds "
                   f"'{path}.lock'\\); wait for that run to end or choose another file")
        for overwrite in (False, True):
            with pytest.raises(BlockingIOError, match=refused):
                SnapshotWriter(path, {}, overwrite=overwrite)
        first.append(_network(0), epoch=0, batches=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]
    with SnapshotWriter(path, {}, overwrite=True) as second:
        second.append(_network(1), epoch=1, batches=1)
    assert read_snapshot(path).epoch == 1


def test_overwrite_replaces_the_file_at_the_first_snapshot(tmp_path):
    path = _valid_file(tmp_path / "run.h5")
    old = path.read_bytes()
    SnapshotWriter(path, {"seed": 2}, overwrite=True).close()
    assert path.read_bytes() == old
    with SnapshotWriter(path, {"seed": 2}, overwrite=True) as writer:
        assert path.read_bytes() == old
        writer.append(_network(5), epoch=0, batches=0)
        assert not (tmp_path / "run.h5.partial").exists()
        assert read_run(path).config == {"seed": 2}
        writer.append(_network(6), epoch=1, batches=1)
    assert [s.epoch for s in read_run(path).snapshots] == [0, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_file_made_by_someone_else_meanwhile_is_kept(tmp_path):
    path = tmp_path / "run.h5"
    with SnapshotWriter(path, {}) as writer:
        path.write_text("someone else's\n")
        with pytest.raises(FileExistsError, match="already exists; choose another path"):
            writer.append(_network(0), epoch=0, batches=0)
    assert path.read_text() == "someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_write_error_is_one_line_and_keeps_the_earlier_snapshots(tmp_path):
    # A file-size limit makes the writes that grow the file fail with EFBIG, as a full disk
    # fails them with ENOSPC; the process stays usable and the file keeps what was finished.
    path = tmp_path / "run.h5"
    with SnapshotWriter(path, {}) as writer:
        for k in range(3):
            writer.append(_network(k), epoch=k, batches=k)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, hard))
        try:
            with pytest.raises(OSError, match=r"^cannot write snapshot (\d+) to '.*run.h5' \(File "
                                              r"too large\); the \1 snapshots before it are kept; "
                                              r"make room") as excinfo:
                for k in range(3, 100):
                    writer.append(_network(k), epoch=k, batches=k)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, handler)
    assert excinfo.value.errno == errno.EFBIG
    _one_line(excinfo)
    kept = int(str(excinfo.value).split()[3])
    assert kept >= 3
    assert [s.epoch for s in read_run(path).snapshots] == list(range(kept))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_file_cut_short_keeps_its_intact_snapshots(tmp_path):
    # A full disk cuts the last snapshot's index entries; the others stay readable.
    path = tmp_path / "run.h5"
    networks = [_network(k) for k in range(5)]
    with SnapshotWriter(path, {"seed": 0}) as writer:
        for k, net in enumerate(networks):
            writer.append(net, epoch=k, batches=k, metrics={"train_loss": k})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.warns(RuntimeWarning, match=r"is damaged: recovered 4 of 5 snapshots; first "
                                            r"problem: /\S+\[4\]: ") as record:
        run = read_run(path)
    assert len(record) == 1
    for snap, net in zip(run.snapshots, networks[:4], strict=True):
        _assert_same_network(snap.network, net)
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(ValueError, match="is damaged and holds no intact snapshot .*; write "
                                         "the run again") as excinfo:
        read_run(path)
    _one_line(excinfo)
