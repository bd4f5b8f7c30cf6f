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

import contextlib
import ctypes
import json
import numbers
import os
import re
import signal
import threading
import time
import warnings
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._lockfile import PathLock
from ._version import __version__
from .conv import Conv2d
from .network import Dense, Network

__all__ = ["FORMAT", "SCHEMA_VERSION", "Run", "Snapshot", "SnapshotWriter", "load_network",
           "open_readonly", "read_run", "read_snapshot", "snapshot_count"]

FORMAT = "fastei-snapshots"
SCHEMA_VERSION = 2
_V1_GROUP = "snapshots"
_COUNT = "count"
# Oldest HDF5 format that supports single-writer/multiple-reader mode; also the newest we
# write, so that HDF5 1.10 and later read the files.
_LIBVER = ("v110", "v110")


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


def _row(network: Network, epoch: int, batches: int, metrics: dict) -> dict[str, np.ndarray]:
    """One snapshot as the values of its dataset rows, by dataset name."""
    row = {"epoch": np.int64(epoch), "batches": np.int64(batches)}
    if metrics:
        row["metrics"] = np.array([float(metrics[name]) for name in sorted(metrics)])
    for k, layer in enumerate(network.layers):
        if isinstance(layer, Conv2d):
            row[f"layer_{k}/kernel"] = layer.kernel
        else:
            row[f"layer_{k}/weights"] = layer.weights
        if layer.bias is not None:
            row[f"layer_{k}/bias"] = layer.bias
    return row


_Layout = namedtuple("layout", "widths activations biases metrics convolutions")


def _conv_attributes(layer) -> dict | None:
    """The attributes of a convolution's group (None for a dense layer)."""
    if not isinstance(layer, Conv2d):
        return None
    return {"kind": "conv2d", "input_shape": layer.input_shape, "stride": layer.stride,
            "padding": layer.padding, "groups": layer.groups, "keeps_range": layer.keeps_range}


def _layout(network: Network, metrics: dict) -> _Layout:
    """What every snapshot of one run file shares."""
    convolutions = tuple(_conv_attributes(layer) for layer in network.layers)
    return _Layout(network.widths, tuple(layer.activation.name for layer in network.layers),
                   tuple(layer.bias is not None for layer in network.layers),
                   tuple(sorted(metrics)),
                   tuple(None if c is None else tuple(c.items()) for c in convolutions))


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(
        f"{str(path)!r} already exists; choose another path or pass overwrite=True (--overwrite)"
    )


def _seed_attribute(seed):
    """The run's seed as the 64-bit integer stored in the file (None: no seed)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"the config's seed must be an integer or None, got {seed!r}")
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"seed {seed} does not fit in 64 bits; use a seed from 0 to {2**64 - 1}")
    return np.uint64(seed) if seed >= 2**63 else np.int64(seed)


def _fixed(text):
    """Text (or a sequence of texts) as fixed-length strings: HDF5 keeps those in the
    object header, under its checksum, and variable-length ones in a heap without one."""
    if isinstance(text, str):
        return np.bytes_(text.encode())
    return np.array([item.encode() for item in text])


@contextlib.contextmanager
def _interrupts_held():
    """Hold Ctrl-C (SIGINT) while h5py works, and deliver it when the block ends.

    An interrupt raised inside h5py (in one of its weakref callbacks) can leave the process
    hung; held, it arrives between two whole snapshots. Only the main thread gets signals,
    and a handler installed outside Python cannot be put back, so those cases are left as
    they are.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power loss."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotWriter:
    """Append snapshots to a new HDF5 file; each ``append`` is on disk when it returns.

    The writer takes a lock beside ``path`` (``<path>.lock``, holding its PID) before it
    touches anything, so a second writer of the same file is refused. The file is written
    under a temporary name (``<path>.partial``) and takes its place when the first snapshot
    is on disk: a run that fails before that leaves an existing file as it was. A crash, a
    kill or an interrupt leaves a file that :func:`read_run` opens, with every snapshot
    whose ``append`` returned.

    Parameters
    ----------
    path : str or Path
        File to create.
    config : dict
        Run configuration, stored as JSON; its ``seed`` (if any) is also stored as an
        attribute.
    overwrite : bool, default False
        Replace an existing file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    IsADirectoryError
        If ``path`` is a folder.
    BlockingIOError
        If another process is writing ``path``.
    OSError
        If its folder cannot be created or written.
    TypeError
        If ``config`` cannot be written as JSON or its seed is not an integer.
    ValueError
        If the seed does not fit in 64 bits.
    """

    def __init__(self, path, config: dict, *, overwrite: bool = False):
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(
                f"{str(path)!r} is a folder; give a file name such as {str(path / 'run.h5')!r}"
            )
        if path.exists() and not overwrite:
            raise _exists_error(path)
        try:
            self._config_json = json.dumps(config, sort_keys=True)
        except TypeError as exc:
            raise TypeError(f"config must hold only JSON types ({exc})") from None
        self._seed = _seed_attribute(config.get("seed"))
        self._lock = PathLock(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except BlockingIOError:
            raise
        except OSError as exc:
            raise type(exc)(f"cannot write {str(path)!r} ({exc.strerror or exc}); choose a "
                            "folder you can write to") from None
        self.path = path
        self._partial = path.with_name(path.name + ".partial")
        self._overwrite = overwrite
        self._count = 0
        self._file = None
        self._datasets = {}
        self._layout = None
        self._closed = False

    def append(self, network: Network, *, epoch: int, batches: int,
               metrics: dict[str, float] | None = None) -> int:
        """Write one snapshot, flush it and the count of snapshots, and sync both to disk.

        Parameters
        ----------
        network : Network
            The network to store; every snapshot of a file has the same widths,
            activations and biases.
        epoch, batches : int
            Epochs and SGD steps completed.
        metrics : dict of str to float, optional
            Scalars to store with the snapshot; every snapshot has the same names.

        Returns
        -------
        int
            Index of the snapshot in the file.

        Raises
        ------
        ValueError
            If the snapshot's widths, activations, biases or metric names differ from
            the first snapshot's.
        """
        if self._closed:
            raise ValueError(f"the writer of {str(self.path)!r} is closed; open a new "
                             "SnapshotWriter to write another run")
        metrics = dict(metrics or {})
        layout = _layout(network, metrics)
        row = _row(network, epoch, batches, metrics)
        index = self._count
        if self._layout is not None and layout != self._layout:
            raise ValueError(
                f"snapshot {index} does not fit {str(self.path)!r}: its {layout} differs from "
                f"the first snapshot's {self._layout}; write a different network to a new file"
            )
        with _interrupts_held():
            try:
                if self._file is None:
                    self._create(row, layout)
                for name, value in row.items():
                    dataset = self._datasets[name]
                    dataset.resize(index + 1, axis=0)
                    dataset[index] = value
                self._sync()
                self._datasets[_COUNT][()] = index + 1
                self._sync()
            except (OSError, RuntimeError) as exc:
                raise self._abandon(exc, index) from None
            if index == 0:
                self._commit()
            self._count += 1
        return index

    def _create(self, row: dict[str, np.ndarray], layout: _Layout) -> None:
        """Create the file with one extendable dataset per row entry, then start SWMR mode."""
        self._file = handle = _h5py().File(self._partial, "w", libver=_LIBVER)
        self._layout = layout
        attrs = handle.attrs
        attrs["format"] = FORMAT
        attrs["schema_version"] = SCHEMA_VERSION
        attrs["fastei_version"] = _fixed(__version__)
        attrs["config"] = _fixed(self._config_json)
        if self._seed is not None:
            attrs["seed"] = self._seed
        for name, value in row.items():
            self._datasets[name] = handle.create_dataset(
                name, shape=(0, *value.shape), maxshape=(None, *value.shape),
                chunks=(1, *value.shape), dtype=value.dtype, fletcher32=True)
        layers = zip(layout.activations, layout.convolutions, strict=True)
        for k, (activation, conv) in enumerate(layers):
            attrs = handle[f"layer_{k}"].attrs
            attrs["activation"] = _fixed(activation)
            for name, value in conv or ():
                attrs[name] = _fixed(value) if isinstance(value, str) else value
        if "metrics" in row:
            self._datasets["metrics"].attrs["names"] = _fixed(layout.metrics)
        self._datasets[_COUNT] = handle.create_dataset(_COUNT, data=np.int64(0))
        handle.swmr_mode = True

    def _sync(self) -> None:
        """Flush HDF5's buffers (in SWMR order) and make the kernel write them to disk."""
        self._file.flush()
        os.fsync(self._file.id.get_vfd_handle())

    def _abandon(self, exc: BaseException, index: int) -> OSError:
        """Stop writing after a failed write, and the one-line error that says so.

        HDF5 cannot close a file whose writes fail (the process crashes when it tries, at
        the latest at exit), so the handles are kept open until the process ends and the
        file stays as the failed write left it: like after a kill at that moment, readers
        find every snapshot before ``index``.
        """
        keep_open_until_exit(self._file, *self._datasets.values())
        self._file, self._datasets = None, {}
        self.close()
        code, reason = write_failure(exc)
        kept = (f"the {index} snapshots before it are kept" if index
                else "an existing file is as it was")
        error = OSError(f"cannot write snapshot {index} to {str(self.path)!r} ({reason}); "
                        f"{kept}; make room (disk space, file-size limit) or write elsewhere")
        error.errno = code
        return error

    def _commit(self) -> None:
        """Give the file its name, now that it holds a snapshot."""
        if not self._overwrite and self.path.exists():
            self.close()
            raise _exists_error(self.path)
        os.replace(self._partial, self.path)
        _sync_folder(self.path.parent)

    def close(self) -> None:
        """Close the file, remove it if it never got its name, release the lock (idempotent)."""
        if self._file is not None:
            with _interrupts_held():
                self._file.close()
                self._file = None
                self._datasets = {}
        if not self._count:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._partial)
        self._lock.release()
        self._closed = True

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# What h5py raises when a file's bytes do not hold what its structure promises, and what
# building a Network from damaged numbers raises.
DAMAGE = (OSError, KeyError, RuntimeError, ValueError, TypeError)
# A reader racing the writer can catch a block of metadata while it is being rewritten;
# damage that is still there on the last of these reads is real.
_READ_ATTEMPTS = 3
_RETRY_SECONDS = 0.01


class _Damaged(ValueError):
    """A part of the file every snapshot needs is unreadable (read again before trusting)."""


def keep_open_until_exit(*handles) -> None:
    """Never close these HDF5 objects: closing one whose writes failed crashes the process
    (at the latest at exit), so they stay open until the process ends."""
    for handle in handles:
        if handle is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))


def write_failure(exc: BaseException) -> tuple[int | None, str]:
    """The errno of a failed HDF5 or OS write (None if unknown) and a short reason, such
    as ``File too large``."""
    code = getattr(exc, "errno", None)
    found = re.search(r"errno = (\d+)", str(exc))
    if code is None and found:
        code = int(found.group(1))
    return code, os.strerror(code) if code else _reason(exc)


def _reason(exc: BaseException) -> str:
    """The first line of an error message, without h5py's quotes."""
    lines = str(exc).strip("'\"").splitlines()
    return lines[0] if lines else type(exc).__name__


class _FileView:
    """A read-only file object for h5py's ``fileobj`` driver.

    Through it HDF5 skips its check that no process is writing the file (a reader of a
    live or crashed run needs that), and it pretends the file never ends, so that a file
    cut short by a full disk still opens; reads past the real end give zeros, which the
    checksums of schema-2 files reject.
    """

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDONLY)
        self._position = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: 2**62}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view):
            data = os.pread(self._fd, len(view) - done, self._position + done)
            if not data:
                view[done:] = bytes(len(view) - done)
                break
            view[done:done + len(data)] = data
            done += len(data)
        self._position += len(view)
        return len(view)

    def read(self, size: int) -> bytes:
        buffer = bytearray(size)
        self.readinto(buffer)
        return bytes(buffer)

    def flush(self) -> None:
        """Nothing to flush: the view is read-only."""

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class _Contents:
    """What a read of a run file found."""

    config: dict
    fastei_version: str
    snapshots: list[Snapshot]
    expected: int
    problems: list[str]


@contextlib.contextmanager
def _opened(path: Path):
    """A fastei run file open for reading, and its schema version.

    Every failure to read what all snapshots need becomes a one-line error: ``_Damaged``
    when HDF5 cannot read a part, ValueError when the file is not a fastei run file.
    """
    where = repr(str(path))
    with _hdf5(path, _Damaged) as handle:
        try:
            fmt = _text(handle.attrs.get("format"))
            version = int(handle.attrs.get("schema_version", -1))
        except DAMAGE as exc:
            raise _Damaged(f"{where} has unreadable root attributes ({_reason(exc)}); the "
                           "file is damaged") from None
        if fmt != FORMAT:
            raise ValueError(
                f"{where} is an HDF5 file but not a fastei snapshot file (its 'format' "
                f"attribute is not {FORMAT!r}); see docs/FORMAT.md for the layout"
            )
        if not 1 <= version <= SCHEMA_VERSION:
            raise ValueError(
                f"{where} has schema_version {version}; this fastei ({__version__}) reads "
                f"versions 1 to {SCHEMA_VERSION}, upgrade fastei to read it"
            )
        try:
            yield handle, version
        except _Damaged:
            raise
        except DAMAGE as exc:
            raise _Damaged(f"{where} is damaged ({_reason(exc)}); write the run again or "
                           "see docs/FORMAT.md for the layout") from None


@contextlib.contextmanager
def _hdf5(path: Path, error: type[ValueError]):
    """Any HDF5 file open for reading through a plain file object (so a file being written
    or left by a killed writer opens too); ``error`` when HDF5 cannot read it."""
    view = _FileView(path)
    try:
        try:
            handle = _h5py().File(view, "r")
        except DAMAGE as exc:
            raise error(f"{str(path)!r} is not a readable HDF5 file ({_reason(exc)}); give a "
                        "file written by fastei") from None
        with handle:
            yield handle
    finally:
        view.close()


def _text(value) -> str:
    """A string attribute: fastei's fixed-length ones read as bytes, others as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _v1_snapshot(group) -> Snapshot:
    layers = []
    k = 0
    while f"layer_{k}" in group:
        layer = group[f"layer_{k}"]
        if "weights" not in layer:
            raise ValueError(f"layer_{k} has no 'weights' dataset; the file is damaged")
        bias = layer["bias"][()] if "bias" in layer else None
        layers.append(Dense(layer["weights"][()], bias, _text(layer.attrs["activation"])))
        k += 1
    if not layers:
        raise ValueError("has no 'layer_0' group; the file is damaged")
    metrics = {}
    if "metrics" in group:
        metrics = {name: float(value) for name, value in group["metrics"].attrs.items()}
    attrs = group.attrs
    return Snapshot(int(attrs["index"]), int(attrs["epoch"]), int(attrs["batches"]),
                    Network(layers), metrics)


def _v1_contents(handle, contents: _Contents) -> None:
    """Schema 1: every group of ``snapshots/`` whose ``complete`` attribute is true."""
    group = handle[_V1_GROUP]
    for name in sorted(group):
        try:
            snapshot_group = group[name]
            if not snapshot_group.attrs.get("complete", False):
                continue
            contents.snapshots.append(_v1_snapshot(snapshot_group))
        except DAMAGE as exc:
            contents.problems.append(f"{_V1_GROUP}/{name}: {_reason(exc)}")
        contents.expected += 1


def _v2_columns(handle, where: str) -> tuple[dict, list[tuple], list[str]]:
    """The datasets of a schema-2 file by row name (see ``_row``), each layer's activation
    and convolution attributes (None for a dense layer), and the metric names."""
    columns = {"epoch": handle["epoch"], "batches": handle["batches"]}
    names = []
    if "metrics" in handle:
        columns["metrics"] = handle["metrics"]
        names = [_text(name) for name in columns["metrics"].attrs["names"]]
    activations = []
    while f"layer_{len(activations)}" in handle:
        k = len(activations)
        group = handle[f"layer_{k}"]
        conv = None
        if _text(group.attrs.get("kind", "dense")) == "conv2d":
            columns[f"layer_{k}/kernel"] = group["kernel"]
            conv = {name: tuple(int(v) for v in group.attrs[name])
                    for name in ("input_shape", "stride", "padding")}
            conv.update(groups=int(group.attrs["groups"]),
                        keeps_range=bool(group.attrs["keeps_range"]))
        else:
            columns[f"layer_{k}/weights"] = group["weights"]
        if "bias" in group:
            columns[f"layer_{k}/bias"] = group["bias"]
        activations.append((_text(group.attrs["activation"]), conv))
    if not activations:
        raise _Damaged(f"{where} has no 'layer_0' group; the file is damaged")
    return columns, activations, names


def _v2_stop(handle, columns: dict, problems: list[str]) -> int:
    """How many rows hold complete snapshots.

    The datasets were opened before ``count`` is read here, so ``count`` is at least the
    rows they held less the one in flight, unless it is damaged (``count`` has no checksum).
    """
    written = min(len(column) for column in columns.values())
    try:
        count = int(handle[_COUNT][()])
    except DAMAGE as exc:
        problems.append(f"{_COUNT}: {_reason(exc)}")
        return max(written - 1, 0)
    if count < written - 1:
        problems.append(f"{_COUNT} is {count} but the datasets hold {written} rows")
        return written - 1
    return min(count, written)


def _rows(column, stop: int, problems: list[str]) -> list:
    """Rows ``0..stop-1`` of a dataset; None for each row that fails its checksum."""
    try:
        return list(column[:stop])
    except DAMAGE:
        pass
    rows = []
    for i in range(stop):
        try:
            rows.append(column[i])
        except DAMAGE as exc:
            problems.append(f"{column.name}[{i}]: {_reason(exc)}")
            rows.append(None)
    return rows


def _layer(row: dict, k: int, activation: str, conv: dict | None):
    """Layer ``k`` of one schema-2 row."""
    bias = row.get(f"layer_{k}/bias")
    if conv is None:
        return Dense(row[f"layer_{k}/weights"], bias, activation)
    return Conv2d(row[f"layer_{k}/kernel"], bias, activation=activation, **conv)


def _v2_snapshots(handle, where: str, contents: _Contents) -> None:
    """Schema 2: rows ``0..contents.expected - 1`` of the per-quantity datasets."""
    columns, activations, names = _v2_columns(handle, where)
    stop, problems = contents.expected, contents.problems
    rows = {name: _rows(column, stop, problems) for name, column in columns.items()}
    for i in range(stop):
        row = {name: values[i] for name, values in rows.items()}
        if any(value is None for value in row.values()):
            continue
        try:
            layers = [_layer(row, k, activation, conv)
                      for k, (activation, conv) in enumerate(activations)]
            metrics = dict(zip(names, map(float, row.get("metrics", ())), strict=True))
            contents.snapshots.append(Snapshot(i, int(row["epoch"]), int(row["batches"]),
                                               Network(layers), metrics))
        except DAMAGE as exc:
            problems.append(f"snapshot {i}: {_reason(exc)}")


def _read_contents(path: Path, *, data: bool = True) -> _Contents:
    """One read of a run file: header, and every intact snapshot unless ``data`` is False."""
    where = repr(str(path))
    with _opened(path) as (handle, version):
        contents = _Contents(json.loads(_text(handle.attrs["config"])),
                             _text(handle.attrs["fastei_version"]), [], 0, [])
        if version == 1:
            _v1_contents(handle, contents)
            return contents
        contents.expected = _v2_stop(handle, _v2_columns(handle, where)[0], contents.problems)
    if data:
        # HDF5 reads where the file ends from its superblock when it opens the file; rows
        # counted after that may lie beyond, so they are read through a second opening.
        with _opened(path) as (handle, _):
            _v2_snapshots(handle, where, contents)
    return contents


def _load(path, *, data: bool = True) -> _Contents:
    """Read a run file; while it shows damage, read it again after a short wait (a writer
    may have been rewriting the block just read). Warn about damage that stays."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"snapshot file {str(path)!r} does not exist")
    for attempt in range(_READ_ATTEMPTS):
        last = attempt == _READ_ATTEMPTS - 1
        try:
            with _interrupts_held():
                contents = _read_contents(path, data=data)
        except _Damaged as exc:
            if last:
                raise ValueError(str(exc)) from None
        else:
            if not contents.problems or last:
                break
        time.sleep(_RETRY_SECONDS * 2**attempt)
    if contents.problems:
        found, problem = len(contents.snapshots), contents.problems[0]
        if not found:
            raise ValueError(f"{str(path)!r} is damaged and holds no intact snapshot "
                             f"({problem}); write the run again")
        warnings.warn(f"{str(path)!r} is damaged: recovered {found} of {contents.expected} "
                      f"snapshots; first problem: {problem}", RuntimeWarning, stacklevel=3)
    return contents


def read_run(path) -> Run:
    """Read a run: its configuration and every complete snapshot.

    Reads files of schema versions 1 and 2, also while another process is writing them
    (then it returns the snapshots complete at that moment). From a damaged file it
    returns every snapshot that is still intact and warns once.

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
        If it is not a fastei snapshot file, or it is damaged and no snapshot is intact.

    Warns
    -----
    RuntimeWarning
        If the file is damaged but some snapshots are intact: how many were recovered.
    """
    contents = _load(path)
    return Run(contents.config, contents.fastei_version, tuple(contents.snapshots))


def read_snapshot(path, index: int = -1) -> Snapshot:
    """Read one complete snapshot.

    Parameters
    ----------
    path : str or Path
        Snapshot file.
    index : int, default -1
        Position among the complete (and, in a damaged file, intact) snapshots; negative
        counts from the end.

    Returns
    -------
    Snapshot

    Raises
    ------
    ValueError
        If the file is not a fastei snapshot file or has no snapshot ``index``.
    """
    snapshots = _load(path).snapshots
    if not snapshots:
        raise ValueError(f"{os.fspath(path)!r} holds no complete snapshot yet")
    if not -len(snapshots) <= index < len(snapshots):
        raise ValueError(
            f"snapshot index {index} is out of range: {os.fspath(path)!r} holds "
            f"{len(snapshots)} complete snapshots; use 0..{len(snapshots) - 1} or -1 for the last"
        )
    return snapshots[index]


def load_network(path, index: int = -1) -> Network:
    """The network of snapshot ``index`` (default: the last), ready for the estimators.

    See :func:`read_snapshot` for parameters and errors.
    """
    return read_snapshot(path, index).network


def snapshot_count(path) -> int:
    """Number of complete snapshots a run file records, without reading their data.

    Cheap enough to poll while another process writes the file. In a damaged file
    :func:`read_run` may find fewer intact ones.

    Parameters
    ----------
    path : str or Path
        Snapshot file.

    Returns
    -------
    int

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a fastei snapshot file, or its structure is damaged.
    """
    return _load(path, data=False).expected


@contextlib.contextmanager
def open_readonly(path):
    """An HDF5 file (a run file or a results file) open for reading as an ``h5py.File``.

    Opens, like fastei's readers, a file being written or left by a killed writer.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a readable HDF5 file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    with _hdf5(path, ValueError) as handle:
        yield handle
