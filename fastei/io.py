"""Training runs stored as HDF5 snapshot files (the layout is documented in docs/FORMAT.md).

This is the only module that knows the layout. It reads and writes plain arrays and
:class:`~fastei.network.Network` objects; h5py is imported only when a file is touched.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from fastei import Network
>>> from fastei.io import SnapshotWriter, load_network
>>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
>>> with SnapshotWriter(path, {"note": "example"}) as writer:
...     _ = writer.append(Network.from_weights([np.eye(2)]), epoch=0, batches=0,
...                       metrics={"train_loss": 1.0})
>>> load_network(path).widths
(2, 2)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._version import __version__
from .network import Dense, Network

__all__ = ["FORMAT", "SCHEMA_VERSION", "Run", "Snapshot", "SnapshotWriter", "load_network",
           "read_run", "read_snapshot"]

FORMAT = "fastei-snapshots"
SCHEMA_VERSION = 1
_GROUP = "snapshots"


@dataclass(frozen=True)
class Snapshot:
    """The network at one point of a training run.

    Attributes
    ----------
    index : int
        Position in the run, from 0.
    epoch : int
        Epochs completed when the snapshot was taken (0: the initial weights).
    batches : int
        SGD steps completed.
    network : Network
        The weights, biases and activations, ready for the estimators.
    metrics : dict of str to float
        For runs from :func:`fastei.train.train`: ``train_loss``, ``train_accuracy``,
        ``test_loss``, ``test_accuracy``.
    """

    index: int
    epoch: int
    batches: int
    network: Network
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """A training run: its configuration and every complete snapshot, in order.

    Attributes
    ----------
    config : dict
        The configuration the run was made with (JSON types).
    fastei_version : str
        Version of fastei that wrote the run.
    snapshots : tuple of Snapshot
    """

    config: dict
    fastei_version: str
    snapshots: tuple[Snapshot, ...]


def _h5py():
    import h5py

    return h5py


class SnapshotWriter:
    """Append snapshots to a new HDF5 file, flushing the file after each one.

    A crash or an interrupt leaves a file that :func:`read_run` opens, with every
    snapshot whose ``append`` returned.

    Parameters
    ----------
    path : str or Path
        File to create.
    config : dict
        Run configuration, stored as JSON; its ``seed`` (if any) is also stored in
        every snapshot.
    overwrite : bool, default False
        Replace an existing file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    TypeError
        If ``config`` cannot be written as JSON.
    """

    def __init__(self, path, config: dict, *, overwrite: bool = False):
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{str(path)!r} already exists; choose another path or pass "
                "overwrite=True (--overwrite)"
            )
        try:
            config_json = json.dumps(config, sort_keys=True)
        except TypeError as exc:
            raise TypeError(f"config must hold only JSON types ({exc})") from None
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._seed = config.get("seed")
        self._count = 0
        self._file = _h5py().File(path, "w")
        attrs = self._file.attrs
        attrs["format"] = FORMAT
        attrs["schema_version"] = SCHEMA_VERSION
        attrs["fastei_version"] = __version__
        attrs["config"] = config_json
        self._file.create_group(_GROUP)
        self._file.flush()

    def append(self, network: Network, *, epoch: int, batches: int,
               metrics: dict[str, float] | None = None) -> int:
        """Write one snapshot and flush the file.

        Parameters
        ----------
        network : Network
            The network to store.
        epoch, batches : int
            Epochs and SGD steps completed.
        metrics : dict of str to float, optional
            Scalars to store with the snapshot.

        Returns
        -------
        int
            Index of the snapshot in the file.
        """
        index = self._count
        group = self._file[_GROUP].create_group(f"{index:06d}")
        group.attrs["index"] = index
        group.attrs["epoch"] = int(epoch)
        group.attrs["batches"] = int(batches)
        if self._seed is not None:
            group.attrs["seed"] = self._seed
        for k, layer in enumerate(network.layers):
            layer_group = group.create_group(f"layer_{k}")
            layer_group.attrs["activation"] = layer.activation.name
            layer_group.create_dataset("weights", data=layer.weights)
            if layer.bias is not None:
                layer_group.create_dataset("bias", data=layer.bias)
        metrics_group = group.create_group("metrics")
        for name, value in (metrics or {}).items():
            metrics_group.attrs[name] = float(value)
        group.attrs["complete"] = True
        self._file.flush()
        self._count += 1
        return index

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file.id.valid:
            self._file.close()

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _open(path):
    """Open a snapshot file for reading, turning every failure into a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"snapshot file {str(path)!r} does not exist")
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(
            f"{str(path)!r} is not a readable HDF5 file ({reason}); give a file written by fastei"
        ) from None
    if handle.attrs.get("format") != FORMAT:
        handle.close()
        raise ValueError(
            f"{str(path)!r} is an HDF5 file but not a fastei snapshot file (its 'format' "
            f"attribute is not {FORMAT!r}); see docs/FORMAT.md for the layout"
        )
    version = int(handle.attrs.get("schema_version", -1))
    if not 1 <= version <= SCHEMA_VERSION:
        handle.close()
        raise ValueError(
            f"{str(path)!r} has schema_version {version}; this fastei ({__version__}) reads "
            f"versions 1 to {SCHEMA_VERSION}, upgrade fastei to read it"
        )
    if _GROUP not in handle:
        handle.close()
        raise ValueError(f"{str(path)!r} has no '{_GROUP}' group; the file is damaged")
    return handle


def _complete_names(handle) -> list[str]:
    group = handle[_GROUP]
    return sorted(name for name in group if group[name].attrs.get("complete", False))


def _read_group(group, where: str) -> Snapshot:
    layers = []
    k = 0
    while f"layer_{k}" in group:
        layer = group[f"layer_{k}"]
        if "weights" not in layer:
            raise ValueError(f"{where}/layer_{k} has no 'weights' dataset; the file is damaged")
        bias = layer["bias"][()] if "bias" in layer else None
        layers.append(Dense(layer["weights"][()], bias, str(layer.attrs["activation"])))
        k += 1
    if not layers:
        raise ValueError(f"{where} has no 'layer_0' group; the file is damaged")
    metrics = {}
    if "metrics" in group:
        metrics = {name: float(value) for name, value in group["metrics"].attrs.items()}
    attrs = group.attrs
    return Snapshot(int(attrs["index"]), int(attrs["epoch"]), int(attrs["batches"]),
                    Network(layers), metrics)


def read_run(path) -> Run:
    """Read a run: its configuration and every complete snapshot.

    Parameters
    ----------
    path : str or Path
        A file written by :class:`SnapshotWriter` (or by another tool following
        docs/FORMAT.md).

    Returns
    -------
    Run

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a fastei snapshot file, or a snapshot lacks a required group.
    """
    with _open(path) as handle:
        snapshots = tuple(_read_group(handle[_GROUP][name], f"{_GROUP}/{name}")
                          for name in _complete_names(handle))
        return Run(json.loads(handle.attrs["config"]), str(handle.attrs["fastei_version"]),
                   snapshots)


def read_snapshot(path, index: int = -1) -> Snapshot:
    """Read one complete snapshot.

    Parameters
    ----------
    path : str or Path
        Snapshot file.
    index : int, default -1
        Position among the complete snapshots; negative counts from the end.

    Returns
    -------
    Snapshot

    Raises
    ------
    ValueError
        If the file is not a fastei snapshot file or has no snapshot ``index``.
    """
    with _open(path) as handle:
        names = _complete_names(handle)
        if not names:
            raise ValueError(f"{os.fspath(path)!r} holds no complete snapshot yet")
        if not -len(names) <= index < len(names):
            raise ValueError(
                f"snapshot index {index} is out of range: {os.fspath(path)!r} holds "
                f"{len(names)} complete snapshots; use 0..{len(names) - 1} or -1 for the last"
            )
        name = names[index]
        return _read_group(handle[_GROUP][name], f"{_GROUP}/{name}")


def load_network(path, index: int = -1) -> Network:
    """The network of snapshot ``index`` (default: the last), ready for the estimators.

    See :func:`read_snapshot` for parameters and errors.
    """
    return read_snapshot(path, index).network
