"""Measure every layer of the snapshots of a training run."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .estimators import measure
from .io import read_run

__all__ = ["LayerRecord", "measure_run", "format_table"]


@dataclass(frozen=True)
class LayerRecord:
    """The measures of one layer of one snapshot, in bits."""

    snapshot: int
    epoch: int
    layer: int
    ei: float
    ei_parts: float
    sensitivity: float
    degeneracy: float
    phi_feedforward: float

    def to_dict(self) -> dict:
        """The record as a plain dictionary (for JSON)."""
        return asdict(self)


def measure_run(path, *, snapshots=None, samples=10**7, sensitivity_samples=5000,
                in_bins=8, out_bins=8, seed=0, progress=None) -> list[LayerRecord]:
    """Measure each layer of the chosen snapshots of a run file, layer by layer.

    Layer ``k > 0`` is perturbed over the range of layer ``k - 1``'s activation, layer 0
    over (0, 1), as in the paper.

    Parameters
    ----------
    path : str or path-like
        HDF5 snapshot file (see docs/FORMAT.md).
    snapshots : sequence of int, optional
        Snapshot positions (negative counts from the end); default every snapshot.
    samples, sensitivity_samples, in_bins, out_bins, seed, progress
        As in :func:`fastei.measure`.

    Returns
    -------
    list of LayerRecord

    Raises
    ------
    ValueError
        If a snapshot position is out of range (or the file is not a fastei run).
    """
    run = read_run(path)
    count = len(run.snapshots)
    positions = range(count) if snapshots is None else snapshots
    records = []
    for position in positions:
        if not -count <= position < count:
            raise ValueError(
                f"snapshot {position} is out of range: {path} holds {count} snapshots "
                f"(0..{count - 1}, or negative from the end)")
        snap = run.snapshots[position]
        for layer in range(len(snap.network)):
            m = measure(snap.network, span=layer, samples=samples,
                        sensitivity_samples=sensitivity_samples, in_bins=in_bins,
                        out_bins=out_bins, seed=seed, progress=progress)
            records.append(LayerRecord(snap.index, snap.epoch, layer, m.ei, m.ei_parts,
                                       m.sensitivity, m.degeneracy, m.phi_feedforward))
    return records


def format_table(records) -> str:
    """A fixed-width text table of layer records, one line per layer."""
    header = (f"{'snapshot':>8} {'epoch':>6} {'layer':>5} {'EI':>8} {'EI_parts':>8} "
              f"{'sensitivity':>11} {'degeneracy':>10} {'phi':>8}")
    lines = [header]
    for r in records:
        lines.append(f"{r.snapshot:>8} {r.epoch:>6} {r.layer:>5} {r.ei:>8.4f} {r.ei_parts:>8.4f} "
                     f"{r.sensitivity:>11.4f} {r.degeneracy:>10.4f} {r.phi_feedforward:>8.4f}")
    return "\n".join(lines)
