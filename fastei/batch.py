"""Measure every layer of the snapshots of a training run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from .estimators import measure
from .io import read_run

__all__ = ["LayerRecord", "format_table", "iter_measure_run", "measure_run"]


@dataclass(frozen=True)
class LayerRecord:
    """The measures of one layer of one snapshot, in bits, with their settings."""

    snapshot: int
    epoch: int
    layer: int
    ei: float
    ei_parts: float
    sensitivity: float
    degeneracy: float
    phi_feedforward: float
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The record as a plain dictionary (for JSON)."""
        return asdict(self)


def iter_measure_run(path, *, snapshots=None, **options) -> Iterator[LayerRecord]:
    """Measure each layer of the chosen snapshots of a run file, yielding one record a layer.

    Layer ``k > 0`` is perturbed over the range of layer ``k - 1``'s activation, layer 0
    over (0, 1), as in the paper, unless ``in_range`` says otherwise.

    Parameters
    ----------
    path : str or path-like
        HDF5 snapshot file (see docs/FORMAT.md).
    snapshots : sequence of int, optional
        Snapshot positions (negative counts from the end); default every snapshot.
    **options
        Keyword options of :func:`fastei.measure` (``span`` is each layer in turn).

    Yields
    ------
    LayerRecord

    Raises
    ------
    ValueError
        If the file holds no complete snapshot, a position is out of range, or an option
        is invalid.
    """
    run = read_run(path)
    count = len(run.snapshots)
    if count == 0:
        raise ValueError(f"{str(path)!r} holds no complete snapshot yet; nothing to measure")
    positions = range(count) if snapshots is None else snapshots
    for position in positions:
        if not -count <= position < count:
            raise ValueError(
                f"snapshot {position} is out of range: {str(path)!r} holds {count} snapshots "
                f"(0..{count - 1}, or negative from the end)")
    for position in positions:
        snap = run.snapshots[position]
        for layer in range(len(snap.network)):
            m = measure(snap.network, span=layer, **options)
            yield LayerRecord(snap.index, snap.epoch, layer, m.ei, m.ei_parts, m.sensitivity,
                              m.degeneracy, m.phi_feedforward, m.settings)


def measure_run(path, *, snapshots=None, **options) -> list[LayerRecord]:
    """Every record of :func:`iter_measure_run`, as a list."""
    return list(iter_measure_run(path, snapshots=snapshots, **options))


def format_table(records) -> str:
    """A fixed-width text table of layer records, one line per layer."""
    header = (f"{'snapshot':>8} {'epoch':>6} {'layer':>5} {'EI':>8} {'EI_parts':>8} "
              f"{'sensitivity':>11} {'degeneracy':>10} {'phi':>8}")
    lines = [header]
    for r in records:
        lines.append(f"{r.snapshot:>8} {r.epoch:>6} {r.layer:>5} {r.ei:>8.4f} {r.ei_parts:>8.4f} "
                     f"{r.sensitivity:>11.4f} {r.degeneracy:>10.4f} {r.phi_feedforward:>8.4f}")
    return "\n".join(lines)
