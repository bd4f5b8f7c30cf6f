"""Stored estimates, keyed by their settings (the layout is documented in docs/FORMAT.md).

This is the only module that knows the results layout. :class:`ResultStore` appends rows
to a run file (or a results file beside it) crash-safely, under the file's lock;
:func:`table` reads them back as a tidy table, one row per value.
"""

from __future__ import annotations

import csv
import hashlib
import io as _stdio
import json
import os
import struct
import warnings
from pathlib import Path

import numpy as np

from ._files import atomic_path, check_output_path, write_atomically
from ._lockfile import PathLock
from .io import DAMAGE, keep_open_until_exit, open_readonly, read_run, write_failure

__all__ = ["ESTIMATOR_VERSION", "MEASURES", "ResultStore", "result_key", "stored_values",
           "table", "write_table"]

ESTIMATOR_VERSION = 1
"""Version of the estimators' numbers: raise it when a change moves any stored value."""
MEASURES = ("ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward",
            "ei_standard_error")
"""Measures a result set can hold; a row stores the position of its measure here (append
new names at the end, so that stored rows keep their meaning)."""

FORMAT = "fastei-results"
SCHEMA_VERSION = 1
_ROOT = "results"
_SELF = "self"
_ROW = np.dtype([("snapshot", "<i8"), ("span_start", "<i8"), ("span_end", "<i8"),
                 ("measure", "<i1"), ("value", "<f8")])
_CHUNK_ROWS = 64
_LIBVER = ("v110", "v110")


def _h5py():
    import h5py

    return h5py


def result_key(settings: dict) -> str:
    """The name of a result set: a stable hash of its settings as canonical JSON.

    Parameters
    ----------
    settings : dict
        Every setting that changes a value (JSON types), ``estimator_version`` included.

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _source_key(store: Path, run: Path) -> str:
    """Where the rows of ``run`` lie in ``store``: ``self`` in the run file itself."""
    run = Path(run).resolve()
    if Path(store).resolve() == run:
        return _SELF
    return hashlib.sha256(str(run).encode()).hexdigest()[:16]


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def _lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 hash (``hashlittle``, seed 0): HDF5's metadata checksum."""
    mask = 0xFFFFFFFF
    a = b = c = (0xDEADBEEF + len(data)) & mask
    rest = data
    while len(rest) > 12:
        x, y, z = struct.unpack("<3I", rest[:12])
        a, b, c = (a + x) & mask, (b + y) & mask, (c + z) & mask
        for shift_a, shift_b, shift_c in ((4, 6, 8), (16, 19, 4)):
            a = ((a - c) & mask) ^ _rot(c, shift_a)
            c = (c + b) & mask
            b = ((b - a) & mask) ^ _rot(a, shift_b)
            a = (a + c) & mask
            c = ((c - b) & mask) ^ _rot(b, shift_c)
            b = (b + a) & mask
        rest = rest[12:]
    if not rest:
        return c
    x, y, z = struct.unpack("<3I", rest.ljust(12, b"\0"))
    a, b, c = (a + x) & mask, (b + y) & mask, (c + z) & mask
    c = ((c ^ b) - _rot(b, 14)) & mask
    a = ((a ^ c) - _rot(c, 11)) & mask
    b = ((b ^ a) - _rot(a, 25)) & mask
    c = ((c ^ b) - _rot(b, 16)) & mask
    a = ((a ^ c) - _rot(c, 4)) & mask
    b = ((b ^ a) - _rot(a, 14)) & mask
    return ((c ^ b) - _rot(b, 24)) & mask


def _clear_write_flags(path: Path) -> None:
    """Clear the "open for writing" flags a killed HDF5 writer leaves (as ``h5clear -s``).

    HDF5 refuses to open such a file for writing. Called only under the file's lock, so
    no fastei writer is alive; superblocks of version 2 and 3 (fastei's) are handled.
    """
    with open(path, "r+b") as file:
        head = file.read(48)
        if head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3) or head[9] != 8:
            return
        if head[11] == 0:
            return
        body = head[:11] + b"\0" + head[12:44]
        file.seek(0)
        file.write(body + struct.pack("<I", _lookup3(body)))
        file.flush()
        os.fsync(file.fileno())


def _check_kind(handle, path: Path) -> None:
    kind = handle.attrs.get("format")
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind not in (FORMAT, "fastei-snapshots"):
        raise ValueError(f"{str(path)!r} is neither a fastei run file nor a fastei results "
                         "file; give another --store file")


class ResultStore:
    """Rows of estimates appended to one HDF5 file; each ``append`` is on disk when it returns.

    The store takes ``<path>.lock`` (a second writer is refused with a one-line error naming
    the file and the PID holding it), creates the groups of every result set it will write
    while no reader needs them, then appends in single-writer/multiple-reader mode with
    ``fsync``: rows first, ``count`` last, so a kill loses nothing that was appended.

    Parameters
    ----------
    path : str or Path
        A fastei run file, or a results file (created when missing).
    settings : dict
        The settings of the result set (every setting that changes a value).
    runs : sequence of path-like
        The run files whose rows this store will hold.

    Raises
    ------
    BlockingIOError
        If another process writes ``path``; store elsewhere with ``store=``.
    ValueError
        If ``path`` is an HDF5 file of another kind.
    """

    def __init__(self, path, settings: dict, runs):
        self.path = Path(path)
        self.key = result_key(settings)
        self._lock = PathLock(self.path)
        try:
            self._lock.acquire()
        except BlockingIOError as exc:
            raise BlockingIOError(f"{exc}; or store the results elsewhere with --store "
                                  "FILE (store=)") from None
        try:
            self._open(settings, runs)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, settings: dict, runs) -> None:
        h5py = _h5py()
        if not self.path.exists():
            with atomic_path(self.path) as temporary, \
                    h5py.File(temporary, "w", libver=_LIBVER) as handle:
                handle.attrs["format"] = np.bytes_(FORMAT.encode())
                handle.attrs["schema_version"] = SCHEMA_VERSION
                handle.flush()  # a full disk raises here, not in a close that cannot
        _clear_write_flags(self.path)
        try:
            self._file = handle = h5py.File(self.path, "a", libver=_LIBVER)
        except OSError as exc:
            raise OSError(
                f"cannot open {str(self.path)!r} to store results ({write_failure(exc)[1]}); "
                "if a full disk or a crash damaged it, move it aside ('fastei results "
                "--store' reads what it holds) and run again, or store elsewhere with "
                "--store FILE") from None
        self._rows, self._counts, self.stored, self._groups = {}, {}, {}, []
        try:
            _check_kind(handle, self.path)
            group = handle.require_group(f"{_ROOT}/{self.key}")
            if "settings" not in group.attrs:
                group.attrs["settings"] = np.bytes_(json.dumps(settings, sort_keys=True).encode())
                group.attrs["measures"] = np.array([m.encode() for m in MEASURES])
            self._groups.append(group)
            # every object made here stays open until the flush below: closing one whose
            # writes fail (a full disk) would crash the process
            for run in runs:
                source = _source_key(self.path, run)
                if source in group:
                    part = group[source]
                    rows, count = part["rows"], part["count"]
                else:
                    part = group.create_group(source)
                    part.attrs["source"] = np.bytes_(str(Path(run).resolve()).encode())
                    rows = part.create_dataset("rows", shape=(0,), maxshape=(None,),
                                               dtype=_ROW, chunks=(_CHUNK_ROWS,),
                                               fletcher32=True)
                    count = part.create_dataset("count", data=np.int64(0))
                self._groups.append(part)
                self._rows[run], self._counts[run] = rows, count
                self.stored[run] = rows[:int(count[()])]
            handle.flush()
            handle.swmr_mode = True
        except (OSError, RuntimeError) as exc:
            raise self._abandon(exc) from None
        except BaseException:
            handle.close()
            raise

    def append(self, run, snapshot: int, span: tuple[int, int], values: dict) -> None:
        """Store the values of one task, then its count; return once both are on disk.

        Parameters
        ----------
        run : path-like
            The run file, as given to the constructor.
        snapshot : int
            Index of the snapshot in the run.
        span : (int, int)
            First and last layer of the span.
        values : dict of str to float
            Value of each measure (names from :data:`MEASURES`).
        """
        rows = np.array([(snapshot, span[0], span[1], MEASURES.index(name), value)
                         for name, value in values.items()], dtype=_ROW)
        dataset, count = self._rows[run], self._counts[run]
        try:
            start = int(count[()])
            dataset.resize(start + len(rows), axis=0)
            dataset[start:] = rows
            self._sync()
            count[()] = start + len(rows)
            self._sync()
        except (OSError, RuntimeError) as exc:
            raise self._abandon(exc) from None

    def _abandon(self, exc: BaseException) -> OSError:
        """Stop writing after a failed write, and the one-line error that says so.

        HDF5 cannot close a file whose writes fail (the process crashes when it tries), so
        its handles are kept open until the process ends, as :mod:`fastei.io` does; the
        file is then as a kill at that moment would leave it.
        """
        keep_open_until_exit(self._file, *self._groups, *self._rows.values(),
                             *self._counts.values())
        self._file, self._rows, self._counts, self._groups = None, {}, {}, []
        self.close()
        code, reason = write_failure(exc)
        error = OSError(f"cannot store results in {str(self.path)!r} ({reason}); the values "
                        "stored before are kept; make room or store elsewhere with --store FILE")
        error.errno = code
        return error

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.id.get_vfd_handle())

    def close(self) -> None:
        """Close the file and release the lock (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._lock.release()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def stored_values(rows) -> dict:
    """Stored rows as ``{(snapshot, (start, end), measure): value}``."""
    return {(int(r["snapshot"]), (int(r["span_start"]), int(r["span_end"])),
             MEASURES[int(r["measure"])]): float(r["value"]) for r in rows}


def _read_sets(store: Path, run: Path) -> list[tuple[dict, np.ndarray]]:
    """Every result set of ``run`` in ``store``: its settings and its counted rows."""
    source = _source_key(store, run)
    found, problems = [], []
    with open_readonly(store) as handle:
        try:
            names = list(handle.get(_ROOT, {}))
        except DAMAGE as exc:
            raise ValueError(f"{str(store)!r} is damaged: its result sets cannot be listed "
                             f"({write_failure(exc)[1]}); move it aside and measure again"
                             ) from None
        for name in names:
            try:
                group = handle[f"{_ROOT}/{name}"]
                if source in group:
                    part = group[source]
                    count = int(part["count"][()])
                    settings = group.attrs["settings"]
                    settings = settings.decode() if isinstance(settings, bytes) else settings
                    found.append((json.loads(settings), part["rows"][:count]))
            except DAMAGE as exc:
                problems.append(f"result set {name} ({write_failure(exc)[1]})")
    if problems:
        warnings.warn(f"{str(store)!r} is damaged: {'; '.join(problems)} cannot be read; the "
                      f"other {len(found)} result sets of this run are given", stacklevel=3)
    return found


def table(path_or_paths, store=None) -> list[dict]:
    """Every stored value of one or more runs as a tidy table, ready for pandas.

    Parameters
    ----------
    path_or_paths : path-like or sequence of path-like
        Run files.
    store : path-like, optional
        Results file the values were stored in; default each run file itself.

    Returns
    -------
    list of dict
        One row per file x snapshot x span x measure x result set: ``file``, ``snapshot``,
        ``epoch``, ``span_start``, ``span_end``, ``measure``, ``value``, the settings, then
        the snapshot's training metrics. ``pandas.DataFrame(table(...))`` makes a frame.

    Raises
    ------
    FileNotFoundError
        If a run file or the store does not exist.
    ValueError
        If a file is not a fastei file.
    """
    paths = [path_or_paths] if isinstance(path_or_paths, (str, os.PathLike)) else path_or_paths
    rows = []
    for path in map(Path, paths):
        snapshots = {s.index: s for s in read_run(path).snapshots}
        for settings, stored in _read_sets(Path(store or path), path):
            for (index, span, name), value in stored_values(stored).items():
                snapshot = snapshots.get(index)
                rows.append({"file": str(path), "snapshot": index,
                             "epoch": None if snapshot is None else snapshot.epoch,
                             "span_start": span[0], "span_end": span[1], "measure": name,
                             "value": value, **settings,
                             **({} if snapshot is None else snapshot.metrics)})
    return rows


def _csv_text(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    buffer = _stdio.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()})
    return buffer.getvalue()


def write_table(paths, *, store=None, csv_path=None, json_path=None) -> str:
    """Write :func:`table` to a CSV or JSON file atomically, or return it as CSV text.

    Parameters
    ----------
    paths : sequence of path-like
        Run files.
    store : path-like, optional
        Results file; default each run file.
    csv_path, json_path : path-like, optional
        Output file (at most one); written whole or not at all.

    Returns
    -------
    str
        The CSV text when no output file is given, else a line saying what was written.
    """
    if csv_path is not None and json_path is not None:
        raise ValueError("give --csv or --json, not both")
    target = csv_path if csv_path is not None else json_path
    if target is not None:
        check_output_path(target)
    rows = table(paths, store=store)
    if target is None:
        return _csv_text(rows).rstrip("\n")
    text = _csv_text(rows) if csv_path is not None else json.dumps(rows, indent=1)
    write_atomically(target, text)
    return f"{len(rows)} values written to {target}"

