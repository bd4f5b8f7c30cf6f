"""Record a training loop you wrote yourself (PyTorch or NumPy) as a fastei run file.

The :class:`Tracker` copies the model's weights when asked (no hooks, nothing in the
training changes) and appends them through :class:`fastei.io.SnapshotWriter`, so the file
is the one ``fastei train`` writes: crash-safe, each snapshot on disk when ``step``
returns, readable by ``fastei estimate``, the batch engine and the plots.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_int
from .io import SnapshotWriter
from .network import Layer, Network, as_network

__all__ = ["Tracker"]


class Tracker:
    """Write a snapshot of a model every ``every`` epochs to an HDF5 run file.

    Parameters
    ----------
    path : str or Path
        Run file to create (see docs/FORMAT.md).
    every : int, default 1
        Write a snapshot when the epoch is a multiple of ``every`` (epoch 0: the initial
        weights).
    config : dict, optional
        The run's configuration (JSON types), stored in the file; an integer ``seed`` in
        it is stored as the run's seed.
    input_shape : int or tuple of int, optional
        Shape of one input, for models that start with a convolution (see
        :func:`fastei.from_torch`).
    overwrite : bool, default False
        Replace an existing file.

    Raises
    ------
    FileExistsError, BlockingIOError, OSError, TypeError, ValueError
        As :class:`fastei.io.SnapshotWriter` (an existing file, another writer, a bad
        configuration), or for ``every`` below 1.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from fastei import Network, Tracker
    >>> from fastei.io import read_run
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> weights = [np.full((3, 4), 0.1), np.full((2, 3), 0.1)]
    >>> with Tracker(path, every=2, config={"lr": 0.1}) as tracker:
    ...     for epoch in range(5):
    ...         weights = [w * 1.1 for w in weights]          # one epoch of training
    ...         _ = tracker.step(weights, epoch=epoch, metrics={"train_loss": 1.0 / (1 + epoch)})
    >>> [s.epoch for s in read_run(path).snapshots]
    [0, 2, 4]
    """

    def __init__(self, path, *, every: int = 1, config: dict | None = None,
                 input_shape=None, overwrite: bool = False):
        self.every = check_int(every, "every", 1)
        self.input_shape = input_shape
        self._writer = SnapshotWriter(path, dict(config or {}), overwrite=overwrite)
        self.path = self._writer.path

    def step(self, model, *, epoch: int, batches: int | None = None,
             metrics: dict[str, float] | None = None, force: bool = False) -> int | None:
        """Write a snapshot of ``model`` if ``epoch`` is a multiple of ``every`` (or ``force``).

        Parameters
        ----------
        model : torch.nn.Module, Network, or weight arrays
            The model now; a PyTorch model goes through :func:`fastei.from_torch`.
        epoch : int
            Epochs completed (0: before training).
        batches : int, optional
            SGD steps completed; stored as -1 when not given.
        metrics : dict of str to float, optional
            Scalars to store (e.g. ``train_loss``, ``test_accuracy``); every snapshot of
            a file has the same names. Numbers and one-element tensors are accepted.
        force : bool, default False
            Write whatever the epoch (e.g. the last one).

        Returns
        -------
        int or None
            The snapshot's index in the file, or None when none was written.

        Raises
        ------
        ValueError
            If the network or the metric names differ from the first snapshot's, or the
            tracker is closed.
        OSError
            If the snapshot cannot be written (the snapshots before it are kept).
        """
        epoch = check_int(epoch, "epoch", 0)
        if not force and epoch % self.every:
            return None
        batches = -1 if batches is None else check_int(batches, "batches", 0)
        values = {str(name): float(value) for name, value in (metrics or {}).items()}
        return self._writer.append(self._network(model), epoch=epoch, batches=batches,
                                   metrics=values)

    def _network(self, model) -> Network:
        if isinstance(model, (Network, Layer, list, tuple, np.ndarray)):
            return as_network(model)
        from .pytorch import from_torch

        return from_torch(model, self.input_shape)

    def close(self) -> None:
        """Close the file and release its lock (idempotent)."""
        self._writer.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
