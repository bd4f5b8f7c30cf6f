"""Save a figure whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from .._files import atomic_path

__all__ = ["save_figure"]


def save_figure(fig, path, **options) -> Path:
    """Save ``fig`` to ``path`` in the format its suffix names, atomically.

    Parameters
    ----------
    fig : matplotlib Figure or Axes
        An Axes saves its figure.
    path : str or path-like
        Output file; ``.png``, ``.pdf``, ``.svg`` or any format matplotlib writes.
    **options
        Passed to :meth:`matplotlib.figure.Figure.savefig` (e.g. ``dpi=200``).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the suffix names no format matplotlib writes.
    OSError
        If the folder does not exist or cannot be written (one line).
    """
    fig = getattr(fig, "figure", fig)  # an Axes' figure; a Figure is its own
    path = Path(os.fspath(path))
    suffix = path.suffix.lower().lstrip(".")
    formats = fig.canvas.get_supported_filetypes()
    if suffix not in formats:
        raise ValueError(f"cannot save {str(path)!r}: end the name in one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format=suffix, **options)
    return path
