"""PyTorch interop: from_torch on real models, and the Tracker in real training loops."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastei
from fastei.activations import Activation, register_activation
from fastei.cli import main
from fastei.conv import Conv2d, average_pool
from fastei.io import open_readonly, read_run

torch = pytest.importorskip("torch", reason="PyTorch interop needs pip install 'fastei[torch]'")
nn = torch.nn

if "softsign" not in fastei.available_activations():
    register_activation(Activation("softsign", lambda z: z / (1.0 + np.abs(z)), (-1.0, 1.0)))


def array(tensor):
    return tensor.detach().double().numpy()


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Dropout(0.3), nn.Linear(5, 4),
                         nn.Softsign(), nn.Linear(4, 4, bias=False), nn.ReLU(),
                         nn.Linear(4, 3), nn.Sigmoid())


def cnn():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
        nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Tanh()), nn.Flatten(),
        nn.Linear(6 * 3 * 3, 5), nn.BatchNorm1d(5), nn.Sigmoid())
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):  # statistics as if trained
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model


class Subclassed(nn.Module):
    """A model written as a class, with functional activations and a view."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(2, 4, 3, groups=2)
        self.hidden = nn.Linear(4 * 4 * 4, 5)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        x = torch.tanh(self.hidden(x))
        return torch.sigmoid(self.out(x))


def fold(weights, bias, norm):
    """Batch norm folded by hand into the layer before it."""
    scale = array(norm.weight) / np.sqrt(array(norm.running_var) + norm.eps)
    shape = (-1,) + (1,) * (weights.ndim - 1)
    return weights * scale.reshape(shape), (bias - array(norm.running_mean)) * scale + array(
        norm.bias)


def by_hand(name, model):
    """The network of each test model, built from its weights with fastei's classes."""
    if name == "mlp":
        linear = [m for m in model if isinstance(m, nn.Linear)]
        return fastei.Network.from_weights(
            [array(m.weight) for m in linear],
            [None if m.bias is None else array(m.bias) for m in linear],
            ["tanh", "softsign", "relu", "sigmoid"])
    if name == "cnn":
        conv1, norm2d, pool = model[0], model[1], model[3]
        conv2, linear, norm1d = model[4][0], model[6], model[7]
        kernel, bias = fold(array(conv1.weight), array(conv1.bias), norm2d)
        first = Conv2d(kernel, bias, (1, 12, 12), activation="relu")
        pooled = average_pool(first.output_shape, pool.kernel_size)
        second = Conv2d(array(conv2.weight), array(conv2.bias), pooled.output_shape, 2, 1,
                        activation="tanh")
        weights, bias = fold(array(linear.weight), array(linear.bias), norm1d)
        return fastei.Network([first, pooled, second, fastei.Dense(weights, bias, "sigmoid")])
    first = Conv2d(array(model.conv.weight), array(model.conv.bias), (2, 6, 6), groups=2,
                   activation="relu")
    return fastei.Network([first, fastei.Dense(array(model.hidden.weight),
                                               array(model.hidden.bias), "tanh"),
                           fastei.Dense(array(model.out.weight), array(model.out.bias),
                                        "sigmoid")])


MODELS = {"mlp": (mlp, (6,)), "cnn": (cnn, (1, 12, 12)), "subclassed": (Subclassed, (2, 6, 6))}


@pytest.mark.parametrize("name", MODELS)
def test_forward_pass_equals_pytorchs_and_estimates_equal_the_hand_built_network(name):
    make, shape = MODELS[name]
    model = make().eval()
    network = fastei.from_torch(model, input_shape=shape)
    x = torch.rand(200, *shape) * 2 - 1
    with torch.no_grad():
        expected = array(model(x)).reshape(200, -1)
    np.testing.assert_allclose(network.forward(array(x).reshape(200, -1)), expected,
                               rtol=0, atol=1e-6)
    hand = by_hand(name, model)
    assert network.widths == hand.widths
    last = len(network) - 1
    for function, span in ((fastei.ei, 0), (fastei.ei_parts, last), (fastei.sensitivity, last)):
        options = dict(samples=3000, seed=4, in_range=(-1, 1))
        if len(network) > 1 and span == last:
            options["span"] = (last - 1, last)
        assert function(network, **options) == function(hand, **options)


def test_mode_of_the_model_does_not_matter():
    model = cnn().train()
    x = np.random.default_rng(0).uniform(size=(3, 144))
    network = fastei.from_torch(model, input_shape=(1, 12, 12))
    assert model.training
    np.testing.assert_array_equal(network.forward(x), fastei.from_torch(
        model.eval(), input_shape=(1, 12, 12)).forward(x))


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 3)

    def forward(self, x):
        return torch.relu(self.layer(x)) + x


class Softmaxed(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 3)

    def forward(self, x):
        return torch.softmax(self.layer(x), dim=1)


@pytest.mark.parametrize("model, shape, error, match", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), (1, 6, 6), ValueError,
     r"from_torch: MaxPool2d at position 1 \('1'\) is not supported; fastei converts Linear"),
    (Skip(), None, ValueError,
     r"from_torch: add at position 2 \('add'\) combines values other than the previous step's "
     r"output \(a skip connection or a branch\)"),
    (Softmaxed(), None, ValueError, r"from_torch: softmax at position 1 \('softmax'\) is not "
     "supported"),
    (nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.BatchNorm1d(3)), None, ValueError,
     r"BatchNorm1d at position 2 \('2'\) does not directly follow a Linear or Conv2d layer"),
    (nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Tanh()), None, ValueError,
     r"Tanh at position 2 \('2'\) follows another activation \(relu\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(4, 2)), (1, 4, 4), ValueError,
     r"Linear at position 1 \('1'\) gets an input of shape \(2, 2, 2\); put an nn.Flatten"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), None, ValueError,
     r"Conv2d at position 0 \('0'\) needs the input's shape; pass input_shape"),
    (nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), None, ValueError,
     r"Linear at position 1 \('1'\) expects inputs of shape \(5,\) but gets \(4,\)"),
    (nn.Sequential(nn.Dropout()), None, ValueError, "has no Linear or Conv2d layer"),
    (nn.Sequential(nn.Linear(3, 3)), (1, 2), ValueError,
     r"input_shape must be \(features,\) or \(channels, height, width\)"),
    ("not a model", None, TypeError, "model must be a torch.nn.Module, got str"),
])
def test_unsupported_models_get_one_line_errors_naming_the_module(model, shape, error, match):
    with pytest.raises(error, match=match) as info:
        fastei.from_torch(model, input_shape=shape)
    assert "\n" not in str(info.value)


def test_import_fastei_leaves_torch_alone_and_names_the_extra_without_it():
    script = textwrap.dedent("""
        import sys
        import fastei
        assert "torch" not in sys.modules
        sys.modules["torch"] = None   # as if PyTorch were not installed
        try:
            fastei.from_torch(object())
        except ImportError as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("from_torch needs PyTorch; install it with pip install "
                                     "'fastei[torch]'")


# --------------------------------------------------------------------------- the tracker

LOOP = """
import sys, torch, fastei
from torch import nn
torch.manual_seed(0)
x = torch.rand(256, 4)
y = (x[:, 0] > x[:, 1]).long()
model = nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 2), nn.Sigmoid())
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
with fastei.Tracker(sys.argv[1], every=1, config={"seed": 0, "lr": 0.5}) as tracker:
    for epoch in range(int(sys.argv[2])):
        if epoch:
            for batch in range(0, 256, 32):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x[batch:batch + 32]), y[batch:batch + 32])
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean()
        tracker.step(model, epoch=epoch, batches=8 * epoch,
                     metrics={"train_loss": loss.item() if epoch else 1.0,
                              "train_accuracy": accuracy})
        print(epoch, flush=True)
"""


def test_a_pytorch_loop_with_the_tracker_writes_a_file_fastei_estimate_measures(tmp_path):
    path = tmp_path / "run.h5"
    result = subprocess.run([sys.executable, "-c", LOOP, str(path), "4"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run = read_run(path)
    assert run.config == {"seed": 0, "lr": 0.5}
    assert [s.epoch for s in run.snapshots] == [0, 1, 2, 3]
    assert [s.batches for s in run.snapshots] == [0, 8, 16, 24]
    assert set(run.snapshots[-1].metrics) == {"train_loss", "train_accuracy"}
    assert run.snapshots[-1].network.widths == (4, 5, 2)
    assert not np.array_equal(run.snapshots[0].network.layers[0].weights,
                              run.snapshots[-1].network.layers[0].weights)
    records = tmp_path / "records.json"
    assert main(["estimate", str(path), "--samples", "2e4", "--sensitivity-samples", "300",
                 "-q", "--json", str(records)]) == 0
    values = json.loads(records.read_text())
    assert [(r["snapshot"], r["span"]) for r in values] == [
        (snapshot, [layer, layer]) for snapshot in range(4) for layer in range(2)]
    assert values[5]["ei"] == fastei.ei(run.snapshots[2].network, span=1, samples=20_000,
                                        seed=0)


def test_killing_the_loop_midway_keeps_the_finished_snapshots(tmp_path):
    path = tmp_path / "run.h5"
    process = subprocess.Popen([sys.executable, "-c", LOOP, str(path), "100000"],
                               stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):   # each line is printed after its snapshot is on disk
            assert process.stdout.readline().strip()
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        process.stdout.close()
    run = read_run(path)
    assert len(run.snapshots) >= 3
    assert [s.epoch for s in run.snapshots] == list(range(len(run.snapshots)))
    fastei.ei(run.snapshots[-1].network, samples=1000)


def test_tracker_files_of_an_mlp_have_the_layout_of_fastei_train(tmp_path):
    from fastei.train import TrainConfig, train

    config = TrainConfig(widths=(4, 5, 3), bias=True, epochs=2, snapshot_every=1, seed=3)
    run = train(config, output=tmp_path / "train.h5")
    with fastei.Tracker(tmp_path / "tracker.h5", config=config.to_dict()) as tracker:
        for snapshot in run.snapshots:
            tracker.step(snapshot.network, epoch=snapshot.epoch, batches=snapshot.batches,
                         metrics=snapshot.metrics)

    def layout(path):
        found = {}
        with open_readonly(path) as handle:
            found["/"] = sorted(handle.attrs)
            handle.visititems(lambda name, item: found.update({name: (
                sorted(item.attrs), getattr(item, "shape", None), getattr(item, "dtype", None),
                getattr(item, "chunks", None), getattr(item, "maxshape", None),
                getattr(item, "fletcher32", None))}))
        return found

    assert layout(tmp_path / "tracker.h5") == layout(tmp_path / "train.h5")
    tracked = read_run(tmp_path / "tracker.h5")
    assert tracked.config == run.config
    for ours, theirs in zip(tracked.snapshots, run.snapshots, strict=True):
        assert ours.metrics == theirs.metrics
        for a, b in zip(ours.network.layers, theirs.network.layers, strict=True):
            np.testing.assert_array_equal(a.weights, b.weights)


def test_tracker_records_a_cnn_every_few_epochs(tmp_path):
    model = cnn()
    with fastei.Tracker(tmp_path / "cnn.h5", every=2, input_shape=(1, 12, 12)) as tracker:
        written = [tracker.step(model, epoch=epoch) for epoch in range(5)]
        assert tracker.step(model, epoch=5, force=True) == 3
    assert written == [0, None, 1, None, 2]
    snapshots = read_run(tmp_path / "cnn.h5").snapshots
    assert [s.epoch for s in snapshots] == [0, 2, 4, 5] and snapshots[0].batches == -1
    x = np.random.default_rng(1).uniform(size=(4, 144))
    np.testing.assert_array_equal(snapshots[-1].network.forward(x),
                                  fastei.from_torch(model, (1, 12, 12)).forward(x))
    records = tmp_path / "records.json"
    assert main(["estimate", str(tmp_path / "cnn.h5"), "--snapshots", "-1", "--samples", "1e4",
                 "--sensitivity-samples", "50", "-q", "--json", str(records)]) == 0
    assert [r["span"] for r in json.loads(records.read_text())] == [[k, k] for k in range(4)]


def test_tracker_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="every must be >= 1, got 0"):
        fastei.Tracker(tmp_path / "a.h5", every=0)
    with fastei.Tracker(tmp_path / "b.h5") as tracker:
        tracker.step(mlp(), epoch=0, metrics={"loss": 1.0})
        with pytest.raises(ValueError, match="snapshot 1 does not fit") as info:
            tracker.step(mlp(), epoch=1, metrics={"accuracy": 1.0})
        assert "\n" not in str(info.value)
        with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
            tracker.step(mlp(), epoch=-1)
    with pytest.raises(FileExistsError, match="already exists"):
        fastei.Tracker(tmp_path / "b.h5")
