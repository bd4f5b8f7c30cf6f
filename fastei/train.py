"""A small NumPy trainer for the paper's experiments: dense layers, plain SGD, snapshots.

A run is a function of its :class:`TrainConfig`, seed included: the same configuration
gives bit-for-bit the same weights. :func:`preset` returns the paper's settings by name.

Examples
--------
>>> from fastei.train import preset, train
>>> run = train(preset("iris", epochs=20, snapshot_every=10, seed=1))
>>> [s.epoch for s in run.snapshots]
[0, 10, 20]
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._validation import check_choice, check_int
from ._version import __version__
from .activations import get_activation
from .datasets import Dataset, available_datasets, load_dataset
from .io import Run, Snapshot, SnapshotWriter
from .network import Network

__all__ = ["INITS", "LOSSES", "TrainConfig", "available_presets", "loss_and_gradients", "preset",
           "train"]

INITS = ("paper", "xavier", "he")


def _squared_error(out, targets):
    return ((out - targets) ** 2).sum(axis=1)


def _squared_error_grad(out, targets):
    return 2.0 * (out - targets)


def _cross_entropy(out, targets):
    shifted = out - out.max(axis=1, keepdims=True)
    return np.log(np.exp(shifted).sum(axis=1)) - (shifted * targets).sum(axis=1)


def _cross_entropy_grad(out, targets):
    shifted = np.exp(out - out.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True) - targets


# name -> (per-example loss, its gradient w.r.t. the outputs, average over the batch?)
_LOSSES = {
    "mse_sum": (_squared_error, _squared_error_grad, False),
    "mse_mean": (lambda o, t: _squared_error(o, t) / o.shape[1],
                 lambda o, t: _squared_error_grad(o, t) / o.shape[1], True),
    "cross_entropy": (_cross_entropy, _cross_entropy_grad, True),
}
LOSSES = tuple(_LOSSES)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run.

    The defaults are the paper's shared settings (sigmoid, no bias, MSE summed over the
    batch, SGD at learning rate 0.01, uniform fan-in init) on the Iris architecture.

    Parameters
    ----------
    dataset : {"iris", "mnist"}, default "iris"
        Bundled data set (see :mod:`fastei.datasets`).
    widths : tuple of int, default (4, 5, 5, 3)
        Node counts from input to output; the ends must match the data set.
    activation : str or tuple of str, default "sigmoid"
        Activation of every layer, or one per layer; it needs a derivative.
    bias : bool, default False
        Give every layer a bias (initialised to zero).
    loss : {"mse_sum", "mse_mean", "cross_entropy"}, default "mse_sum"
        Squared error summed over outputs and batch (PyTorch ``MSELoss(reduction="sum")``),
        averaged over outputs and batch (``reduction="mean"``), or softmax cross-entropy of
        the network outputs averaged over the batch (``CrossEntropyLoss()``).
    learning_rate : float, default 0.01
        SGD step size.
    batch_size : int, default 10
        Rows per SGD step; the last batch of an epoch may be smaller.
    epochs : int, default 4000
        Passes over the training set, each in a fresh random order.
    snapshot_every : int, default 50
        Epochs between snapshots; the initial and the final weights are always kept.
    init : {"paper", "xavier", "he"}, default "paper"
        ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, Glorot uniform
        ``U(+-sqrt(6/(fan_in+fan_out)))`` or He uniform ``U(+-sqrt(6/fan_in))``.
    seed : int or None, default None
        Seed of the data split, init, batch order and label permutation. ``None`` draws
        one; :func:`train` records the seed it used.
    shuffle_labels : bool, default False
        Train on a fixed random permutation of the training labels (memorisation
        studies); test labels stay true.
    data_path : str or None, default None
        Reduced-MNIST file to use instead of the bundled one (``fastei data mnist``).
    preset : str or None, default None
        Name of the preset this configuration started from (informational).
    """

    dataset: str = "iris"
    widths: tuple[int, ...] = (4, 5, 5, 3)
    activation: str | tuple[str, ...] = "sigmoid"
    bias: bool = False
    loss: str = "mse_sum"
    learning_rate: float = 0.01
    batch_size: int = 10
    epochs: int = 4000
    snapshot_every: int = 50
    init: str = "paper"
    seed: int | None = None
    shuffle_labels: bool = False
    data_path: str | None = None
    preset: str | None = None

    def __post_init__(self):
        check_choice(self.dataset, "dataset", available_datasets())
        if isinstance(self.widths, (str, bytes)) or not hasattr(self.widths, "__iter__"):
            raise TypeError(f"widths must be a sequence of node counts, got {self.widths!r}")
        widths = tuple(check_int(w, "each width", 1) for w in self.widths)
        if len(widths) < 2:
            raise ValueError(f"widths needs at least an input and an output width, got {widths}")
        object.__setattr__(self, "widths", widths)
        if not isinstance(self.activation, str):
            activation = tuple(self.activation)
            if len(activation) != len(widths) - 1:
                raise ValueError(
                    f"activation has {len(activation)} entries for {len(widths) - 1} layers; "
                    "give one name or one per layer"
                )
            object.__setattr__(self, "activation", activation)
        for act in self.activations:
            if get_activation(act).derivative is None:
                raise ValueError(
                    f"activation {act!r} has no derivative, so it cannot be trained; "
                    "register it with derivative=..."
                )
        check_choice(self.loss, "loss", LOSSES)
        check_choice(self.init, "init", INITS)
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"learning_rate must be a number, got {rate!r}")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"learning_rate must be a positive finite number, got {rate}")
        object.__setattr__(self, "learning_rate", float(rate))
        for name in ("batch_size", "epochs", "snapshot_every"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, 1))
        if self.seed is not None:
            object.__setattr__(self, "seed", check_int(self.seed, "seed", 0))
        if self.data_path is not None and self.dataset != "mnist":
            raise ValueError(
                f"data_path is only used with dataset='mnist', not {self.dataset!r}; drop it"
            )

    @property
    def activations(self) -> tuple[str, ...]:
        """One activation name per layer."""
        if isinstance(self.activation, str):
            return (self.activation,) * (len(self.widths) - 1)
        return self.activation

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The configuration as JSON types (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Rebuild a configuration from :meth:`to_dict` output (e.g. ``Run.config``).

        Raises
        ------
        ValueError
            If ``values`` holds a key that is not a field.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"unknown TrainConfig fields {unknown}; known fields are {sorted(fields)}"
            )
        return cls(**values)


_PRESETS = {
    "iris": TrainConfig(dataset="iris", widths=(4, 5, 5, 3), batch_size=10, epochs=4000,
                        snapshot_every=50),
    "mnist": TrainConfig(dataset="mnist", widths=(25, 6, 6, 6, 5), batch_size=50, epochs=500,
                         snapshot_every=10),
}
for _widths in ((25, 6, 5), (25, 6, 6, 5), (25, 6, 6, 6, 6, 6, 5)):
    _PRESETS["mnist-" + "-".join(map(str, _widths))] = _PRESETS["mnist"].replace(widths=_widths)
_PRESETS = {name: config.replace(preset=name) for name, config in _PRESETS.items()}
del _widths


def available_presets() -> list[str]:
    """Names accepted by :func:`preset`."""
    return sorted(_PRESETS)


def preset(name: str, **overrides) -> TrainConfig:
    """The paper's settings for one experiment, optionally with some fields changed.

    ``"iris"`` is 4-5-5-3 (batch 10, 4000 epochs, snapshot every 50); ``"mnist"`` is
    25-6-6-6-5 on reduced MNIST (batch 50, 500 epochs, snapshot every 10), with the
    architecture variants ``"mnist-25-6-5"``, ``"mnist-25-6-6-5"`` and
    ``"mnist-25-6-6-6-6-6-5"``. All: sigmoid, no bias, MSE summed over the batch, SGD at
    learning rate 0.01, ``U(+-1/sqrt(fan_in))`` init. The tanh and relu variants are
    ``preset(name, activation="tanh")``.

    Parameters
    ----------
    name : str
        One of :func:`available_presets`.
    **overrides
        :class:`TrainConfig` fields to change.

    Returns
    -------
    TrainConfig
    """
    check_choice(name, "preset", available_presets())
    return _PRESETS[name].replace(**overrides)


def _init_weights(widths, init: str, rng: np.random.Generator) -> list[np.ndarray]:
    weights = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        bound = {"paper": 1.0 / math.sqrt(fan_in),
                 "xavier": math.sqrt(6.0 / (fan_in + fan_out)),
                 "he": math.sqrt(6.0 / fan_in)}[init]
        weights.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)))
    return weights


def _backprop(weights, biases, activations, x, targets, loss: str):
    """Batch loss and its gradients for raw arrays (no validation)."""
    per_example, per_example_grad, average = _LOSSES[loss]
    inputs, pre = [], []
    h = x
    for w, b, act in zip(weights, biases, activations, strict=True):
        inputs.append(h)
        z = h @ w.T if b is None else h @ w.T + b
        pre.append(z)
        h = act.func(z)
    scale = 1.0 / len(x) if average else 1.0
    value = float(per_example(h, targets).sum()) * scale
    delta = per_example_grad(h, targets) * scale
    grads_w, grads_b = [None] * len(weights), [None] * len(weights)
    for k in range(len(weights) - 1, -1, -1):
        delta = delta * activations[k].derivative(pre[k])
        grads_w[k] = delta.T @ inputs[k]
        if biases[k] is not None:
            grads_b[k] = delta.sum(axis=0)
        if k:
            delta = delta @ weights[k]
    return value, grads_w, grads_b


def loss_and_gradients(network, x, targets, *, loss: str = "mse_sum"):
    """Loss of ``network`` on one batch and its gradients by backpropagation.

    Parameters
    ----------
    network : Network
        Network whose activations have derivatives.
    x : array_like, shape (n, n_in)
        Inputs.
    targets : array_like, shape (n, n_out)
        One-hot (or any real) targets.
    loss : {"mse_sum", "mse_mean", "cross_entropy"}, default "mse_sum"
        See :class:`TrainConfig`.

    Returns
    -------
    value : float
        The batch loss that SGD descends.
    grads_w : list of ndarray
        Gradient for each layer's weights, shape ``(n_out, n_in)``.
    grads_b : list of ndarray or None
        Gradient for each layer's bias (None for layers without one).
    """
    check_choice(loss, "loss", LOSSES)
    x = np.asarray(x, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != network.widths[0]:
        raise ValueError(f"x must have shape (n, {network.widths[0]}), got {x.shape}")
    if targets.shape != (len(x), network.widths[-1]):
        raise ValueError(
            f"targets must have shape ({len(x)}, {network.widths[-1]}), got {targets.shape}"
        )
    layers = network.layers
    return _backprop([lay.weights for lay in layers], [lay.bias for lay in layers],
                     [lay.activation for lay in layers], x, targets, loss)


def _resolve_seed(seed) -> int:
    return int(np.random.default_rng().integers(2**63)) if seed is None else seed


def _check_shapes(config: TrainConfig, data: Dataset) -> None:
    expected = (data.n_features, data.n_classes)
    if (config.widths[0], config.widths[-1]) != expected:
        raise ValueError(
            f"widths {config.widths} do not fit the {data.name} data ({data.n_features} features, "
            f"{data.n_classes} classes); start at {expected[0]} and end at {expected[1]}"
        )


def train(config: TrainConfig, *, output=None, overwrite: bool = False,
          progress: Callable[[int, Snapshot | None], None] | None = None) -> Run:
    """Train a network with plain SGD and keep snapshots of its weights.

    Parameters
    ----------
    config : TrainConfig
        What to train and how (see :func:`preset` for the paper's settings).
    output : str or Path, optional
        HDF5 file to write the run to; every snapshot is on disk before training goes on
        (see :class:`fastei.io.SnapshotWriter`).
    overwrite : bool, default False
        Replace an existing ``output`` (once the first snapshot is written).
    progress : callable, optional
        Called after every epoch as ``progress(epochs_done, snapshot_or_None)``.

    Returns
    -------
    Run
        The resolved configuration (seed filled in) and every snapshot; the network of the
        last snapshot is the trained one. With ``shuffle_labels`` the training metrics are
        measured against the permuted labels the network was trained on.

    Raises
    ------
    ValueError
        If the widths do not fit the data, or the seed does not fit in 64 bits.
    FileExistsError
        If ``output`` exists and ``overwrite`` is False.
    BlockingIOError
        If another process is writing ``output``.
    OSError
        If ``output`` cannot be written (read-only folder, full disk); the snapshots
        written before stay readable.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(
            f"config must be a TrainConfig (see fastei.train.preset), got {type(config).__name__}"
        )
    config = config.replace(seed=_resolve_seed(config.seed))
    split_seq, init_seq, order_seq, label_seq = np.random.SeedSequence(config.seed).spawn(4)
    dataset = load_dataset(config.dataset, seed=split_seq, path=config.data_path)
    _check_shapes(config, dataset)

    eye = np.eye(dataset.n_classes)
    y_train = dataset.y_train
    if config.shuffle_labels:
        y_train = np.random.default_rng(label_seq).permutation(y_train)
    x_train, t_train = dataset.x_train, eye[y_train]
    t_test = eye[dataset.y_test]
    activations = [get_activation(name) for name in config.activations]
    weights = _init_weights(config.widths, config.init, np.random.default_rng(init_seq))
    biases = [np.zeros(w.shape[0]) if config.bias else None for w in weights]
    per_example = _LOSSES[config.loss][0]
    order_rng = np.random.default_rng(order_seq)
    n_rows, batch = len(x_train), config.batch_size
    batches_done = 0
    snapshots = []

    def evaluate(network, x, targets, labels):
        out = network.forward(x)
        return float(per_example(out, targets).mean()), float((out.argmax(axis=1) == labels).mean())

    def snapshot(epoch, writer):
        network = Network.from_weights([w.copy() for w in weights],
                                       [None if b is None else b.copy() for b in biases],
                                       activations)
        train_loss, train_acc = evaluate(network, x_train, t_train, y_train)
        test_loss, test_acc = evaluate(network, dataset.x_test, t_test, dataset.y_test)
        metrics = {"train_loss": train_loss, "train_accuracy": train_acc,
                   "test_loss": test_loss, "test_accuracy": test_acc}
        if writer is not None:
            writer.append(network, epoch=epoch, batches=batches_done, metrics=metrics)
        snapshots.append(Snapshot(len(snapshots), epoch, batches_done, network, metrics))
        return snapshots[-1]

    writer = None if output is None else SnapshotWriter(output, config.to_dict(),
                                                        overwrite=overwrite)
    try:
        snapshot(0, writer)
        for epoch in range(1, config.epochs + 1):
            order = order_rng.permutation(n_rows)
            for start in range(0, n_rows, batch):
                rows = order[start:start + batch]
                _, grads_w, grads_b = _backprop(weights, biases, activations, x_train[rows],
                                                t_train[rows], config.loss)
                for k in range(len(weights)):
                    weights[k] -= config.learning_rate * grads_w[k]
                    if biases[k] is not None:
                        biases[k] -= config.learning_rate * grads_b[k]
                batches_done += 1
            taken = None
            if epoch % config.snapshot_every == 0 or epoch == config.epochs:
                taken = snapshot(epoch, writer)
            if progress is not None:
                progress(epoch, taken)
    finally:
        if writer is not None:
            writer.close()
    return Run(config.to_dict(), __version__, tuple(snapshots))
