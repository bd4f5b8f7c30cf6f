"""The NumPy trainer: presets, determinism, learning, gradients, options and errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastei import Network
from fastei.train import (
    INITS,
    LOSSES,
    TrainConfig,
    available_presets,
    loss_and_gradients,
    preset,
    train,
)

SHORT = {"epochs": 20, "snapshot_every": 10}


def _weights(run, index=-1):
    return [layer.weights for layer in run.snapshots[index].network.layers]


def test_presets_equal_the_spec_table():
    shared = {"activation": "sigmoid", "bias": False, "loss": "mse_sum", "learning_rate": 0.01,
              "init": "paper", "shuffle_labels": False, "seed": None, "data_path": None}
    iris = preset("iris").to_dict()
    assert iris == {**shared, "preset": "iris", "dataset": "iris", "widths": [4, 5, 5, 3],
                    "batch_size": 10, "epochs": 4000, "snapshot_every": 50}
    mnist = preset("mnist").to_dict()
    assert mnist == {**shared, "preset": "mnist", "dataset": "mnist",
                     "widths": [25, 6, 6, 6, 5], "batch_size": 50, "epochs": 500,
                     "snapshot_every": 10}
    variants = {"mnist-25-6-5": [25, 6, 5], "mnist-25-6-6-5": [25, 6, 6, 5],
                "mnist-25-6-6-6-6-6-5": [25, 6, 6, 6, 6, 6, 5]}
    assert available_presets() == sorted(["iris", "mnist", *variants])
    for name, widths in variants.items():
        assert preset(name).to_dict() == {**mnist, "preset": name, "widths": widths}


def test_preset_overrides_and_errors():
    config = preset("iris", activation="tanh", seed=3)
    assert (config.activation, config.seed, config.epochs) == ("tanh", 3, 4000)
    with pytest.raises(ValueError,
                       match=r"preset must be one of \['iris', 'mnist', .*\], got 'cifar'"):
        preset("cifar")


def test_same_seed_gives_identical_weights_and_metrics():
    a = train(preset("iris", seed=5, **SHORT))
    b = train(preset("iris", seed=5, **SHORT))
    c = train(preset("iris", seed=6, **SHORT))
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        assert_array_equal(wa, wb)
    assert [s.metrics for s in a.snapshots] == [s.metrics for s in b.snapshots]
    assert not np.array_equal(_weights(a)[0], _weights(c)[0])


def test_seed_none_is_drawn_and_recorded():
    run = train(preset("iris", epochs=3, snapshot_every=3))
    assert isinstance(run.config["seed"], int)
    again = train(TrainConfig.from_dict(run.config))
    assert_array_equal(_weights(again)[1], _weights(run)[1])


def test_snapshot_schedule_keeps_first_and_last():
    run = train(preset("iris", seed=1, epochs=25, snapshot_every=10))
    assert [(s.index, s.epoch, s.batches) for s in run.snapshots] == [
        (0, 0, 0), (1, 10, 100), (2, 20, 200), (3, 25, 250)]
    assert set(run.snapshots[0].metrics) == {"train_loss", "train_accuracy", "test_loss",
                                             "test_accuracy"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_iris_preset_learns(seed):
    # The paper's full setting: 4000 epochs of batch 10 (40,000 SGD steps), about 2 s.
    run = train(preset("iris", seed=seed))
    first, last = run.snapshots[0].metrics, run.snapshots[-1].metrics
    assert last["train_loss"] < 0.2 * first["train_loss"]
    assert last["test_accuracy"] > 0.9


def test_mnist_preset_runs_on_the_bundled_set():
    run = train(preset("mnist", seed=1, epochs=2, snapshot_every=1))
    assert run.snapshots[-1].network.widths == (25, 6, 6, 6, 5)
    assert run.snapshots[-1].batches == 2 * 2000 // 50
    assert run.snapshots[-1].metrics["train_loss"] < run.snapshots[0].metrics["train_loss"]


@pytest.mark.parametrize("init", INITS)
def test_init_bounds(init):
    run = train(preset("iris", seed=2, init=init, epochs=1, snapshot_every=1))
    for layer in run.snapshots[0].network.layers:
        fan_out, fan_in = layer.weights.shape
        bound = {"paper": fan_in ** -0.5, "xavier": (6 / (fan_in + fan_out)) ** 0.5,
                 "he": (6 / fan_in) ** 0.5}[init]
        assert np.abs(layer.weights).max() <= bound
        assert np.abs(layer.weights).max() > 0.5 * bound


def test_bias_option_trains_zero_initialised_biases():
    run = train(preset("iris", seed=2, bias=True, **SHORT))
    assert all(np.all(layer.bias == 0) for layer in run.snapshots[0].network.layers)
    assert all(np.any(layer.bias != 0) for layer in run.snapshots[-1].network.layers)
    assert all(layer.bias is None for layer in train(preset("iris", seed=2, **SHORT))
               .snapshots[0].network.layers)


def test_shuffle_labels_changes_only_the_training_labels():
    plain = train(preset("iris", seed=4, epochs=1, snapshot_every=1)).snapshots[0].metrics
    shuffled = train(preset("iris", seed=4, epochs=1, snapshot_every=1,
                            shuffle_labels=True)).snapshots[0].metrics
    assert shuffled["test_loss"] == plain["test_loss"]
    assert shuffled["train_loss"] != plain["train_loss"]


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains(loss):
    # cross-entropy over sigmoid outputs moves slowly at lr 0.01; give it a larger step
    run = train(preset("iris", seed=1, loss=loss, learning_rate=0.5, batch_size=10, **SHORT))
    assert run.snapshots[-1].metrics["train_loss"] < run.snapshots[0].metrics["train_loss"]


def test_progress_is_called_every_epoch():
    calls = []
    train(preset("iris", seed=1, epochs=4, snapshot_every=2),
          progress=lambda epoch, snap: calls.append((epoch, None if snap is None else snap.epoch)))
    assert calls == [(1, None), (2, 2), (3, None), (4, 4)]


def _numeric_gradient(network, x, targets, loss, k, which, eps=1e-6):
    layer = network.layers[k]
    array = layer.weights if which == "weights" else layer.bias
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        values = []
        for step in (eps, -eps):
            changed = array.copy()
            changed[index] += step
            layers = list(network.layers)
            layers[k] = type(layer)(changed if which == "weights" else layer.weights,
                                    changed if which == "bias" else layer.bias,
                                    layer.activation)
            values.append(loss_and_gradients(Network(layers), x, targets, loss=loss)[0])
        grad[index] = (values[0] - values[1]) / (2 * eps)
    return grad


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_gradients_match_finite_differences(loss, activation):
    rng = np.random.default_rng(11)
    widths = (3, 4, 2)
    network = Network.from_weights(
        [rng.normal(size=(n_out, n_in)) for n_in, n_out in zip(widths[:-1], widths[1:],
                                                                strict=True)],
        [rng.normal(size=n_out) for n_out in widths[1:]], activation)
    x = rng.uniform(size=(5, 3))
    targets = np.eye(2)[rng.integers(0, 2, size=5)]
    _, grads_w, grads_b = loss_and_gradients(network, x, targets, loss=loss)
    for k in range(len(network)):
        # central differences of smooth functions: error ~ eps^2, far below 1e-6
        assert_allclose(grads_w[k], _numeric_gradient(network, x, targets, loss, k, "weights"),
                        rtol=1e-6, atol=1e-8)
        assert_allclose(grads_b[k], _numeric_gradient(network, x, targets, loss, k, "bias"),
                        rtol=1e-6, atol=1e-8)


def test_loss_values_follow_their_definitions():
    network = Network.from_weights([np.zeros((2, 3))], activation="linear")
    x, targets = np.ones((4, 3)), np.tile([1.0, 0.0], (4, 1))
    assert loss_and_gradients(network, x, targets, loss="mse_sum")[0] == 4.0
    assert loss_and_gradients(network, x, targets, loss="mse_mean")[0] == 0.5
    assert_allclose(loss_and_gradients(network, x, targets, loss="cross_entropy")[0], np.log(2))


def test_loss_and_gradients_errors():
    network = Network.from_weights([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"loss must be one of \['mse_sum', 'mse_mean', "
                                         r"'cross_entropy'\], got 'hinge'"):
        loss_and_gradients(network, np.ones((1, 3)), np.ones((1, 2)), loss="hinge")
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\), got \(1, 2\)"):
        loss_and_gradients(network, np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"targets must have shape \(1, 2\), got \(1, 3\)"):
        loss_and_gradients(network, np.ones((1, 3)), np.ones((1, 3)))


@pytest.mark.parametrize(("changes", "error", "match"), [
    ({"dataset": "cifar"}, ValueError, r"dataset must be one of \['iris', 'mnist'\], got 'cifar'"),
    ({"widths": "4-5-3"}, TypeError, "widths must be a sequence of node counts"),
    ({"widths": (4,)}, ValueError, "widths needs at least an input and an output width"),
    ({"widths": (4, 0, 3)}, ValueError, "each width must be >= 1, got 0"),
    ({"activation": ("tanh",)}, ValueError, "activation has 1 entries for 3 layers"),
    ({"activation": "swish"}, ValueError, "unknown activation 'swish'"),
    ({"loss": "hinge"}, ValueError, r"loss must be one of \[.*\], got 'hinge'"),
    ({"init": "normal"}, ValueError,
     r"init must be one of \['paper', 'xavier', 'he'\], got 'normal'"),
    ({"learning_rate": "fast"}, TypeError, "learning_rate must be a number"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate must be a positive finite number"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
    ({"snapshot_every": -1}, ValueError, "snapshot_every must be >= 1"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    ({"data_path": "x.npz"}, ValueError, "data_path is only used with dataset='mnist'"),
])
def test_config_errors(changes, error, match):
    with pytest.raises(error, match=match):
        preset("iris", **changes)


def test_activation_without_derivative_is_rejected():
    from fastei.activations import Activation, register_activation

    register_activation(Activation("softsign-no-derivative", lambda z: z / (1 + np.abs(z)),
                                   (-1.0, 1.0)), replace=True)
    with pytest.raises(ValueError, match="has no derivative, so it cannot be trained"):
        preset("iris", activation="softsign-no-derivative")


def test_per_layer_activations_and_dict_round_trip():
    config = preset("iris", activation=["sigmoid", "tanh", "linear"], seed=1)
    assert config.activations == ("sigmoid", "tanh", "linear")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['colour'\]"):
        TrainConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_train_errors():
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        train({"dataset": "iris"})
    with pytest.raises(ValueError, match=r"widths \(4, 5, 2\) do not fit the iris data"):
        train(preset("iris", widths=(4, 5, 2)))
