"""Fill the report template from plain data and write ``index.html`` atomically."""

from __future__ import annotations

import base64
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .._files import write_atomically
from .._version import __version__

__all__ = ["Figure", "Section", "Table", "format_cell", "write_report"]

_IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg",
                ".jpeg": "image/jpeg", ".webp": "image/webp"}
_MISSING = "–"


@dataclass(frozen=True)
class Figure:
    """An image file for the report and what it shows.

    Attributes
    ----------
    path : str or path-like
        A ``.png``, ``.gif``, ``.jpg`` or ``.webp`` file; it is embedded in the page.
    caption : str
        What the figure shows and with which settings (plain text, escaped).
    title : str, default ""
        A short heading, e.g. ``"Fig. 2a: EI of the Iris networks over training"``.
    """

    path: str | os.PathLike
    caption: str
    title: str = ""


@dataclass(frozen=True)
class Table:
    """A table of numbers for the report.

    Attributes
    ----------
    title : str
    columns : sequence of str
        Column headings.
    rows : sequence of sequences
        One entry per column; numbers are written by :func:`format_cell`, text as is.
    caption : str, default ""
        What the numbers are (plain text, escaped).
    """

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence]
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """A heading with its text, figures and tables, in that order.

    Attributes
    ----------
    title : str
    text : str, default ""
        Paragraphs separated by blank lines (plain text, escaped).
    figures : sequence of Figure, default ()
    tables : sequence of Table, default ()
    """

    title: str
    text: str = ""
    figures: Sequence[Figure] = field(default_factory=tuple)
    tables: Sequence[Table] = field(default_factory=tuple)


def format_cell(value) -> str:
    """How a table entry is written: floats to 3 decimals (or 3 significant digits when
    tiny or huge), integers whole, ``None`` and NaN as a dash, text unchanged.

    Examples
    --------
    >>> [format_cell(v) for v in (2.0, 0.00012, 12345678.0, 7, None, "n/a")]
    ['2.000', '0.00012', '1.23e+07', '7', '–', 'n/a']
    """
    if value is None:
        return _MISSING
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return _MISSING
    if value != 0 and not 1e-3 <= abs(value) < 1e6:
        return f"{value:.3g}"
    return f"{value:.3f}"


def _data_uri(path: Path) -> str:
    kind = _IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot embed {str(path)!r} in the report: give a "
                         f"{', '.join(_IMAGE_TYPES)} image")
    if not path.is_file():
        raise FileNotFoundError(f"figure {str(path)!r} does not exist; draw it before "
                                "writing the report")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


def _table(table: Table, where: str) -> dict:
    columns = [str(c) for c in table.columns]
    rows = []
    for number, row in enumerate(table.rows):
        row = list(row)
        if len(row) != len(columns):
            raise ValueError(f"{where}, table {table.title!r}: row {number} has {len(row)} "
                             f"entries for {len(columns)} columns; give one per column")
        rows.append([format_cell(value) for value in row])
    return {"title": table.title, "columns": columns, "rows": rows,
            "caption": _paragraphs(table.caption)}


def _section(section: Section, number: int) -> dict:
    if not isinstance(section, Section):
        raise TypeError(f"sections must hold fastei.report.Section objects, got "
                        f"{type(section).__name__} at position {number - 1}")
    where = f"section {section.title!r}"
    figures = []
    for figure in section.figures:
        path = Path(os.fspath(figure.path))
        figures.append({"title": figure.title, "caption": _paragraphs(figure.caption),
                        "name": path.name, "src": _data_uri(path)})
    return {"id": f"section-{number}", "title": section.title,
            "text": _paragraphs(section.text), "figures": figures,
            "tables": [_table(table, where) for table in section.tables]}


def _render(sections, title, summary, settings) -> str:
    import jinja2

    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping from name to value, got "
                        f"{type(settings).__name__}")
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fastei.report", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment.get_template("index.html.j2").render(
        title=title, summary=_paragraphs(summary),
        settings=[(str(name), format_cell(value)) for name, value in (settings or {}).items()],
        sections=[_section(s, n) for n, s in enumerate(sections, start=1)],
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_report(directory, sections, *, title="fastei report", summary="",
                 settings=None) -> Path:
    """Write ``directory/index.html``: one self-contained page with every figure and table.

    Images are embedded as base64 ``data:`` URIs, so the page can be moved or mailed on
    its own; it has no script and loads nothing from elsewhere. All text is escaped.
    The file is written under a temporary name and renamed, so it appears whole or not
    at all.

    Parameters
    ----------
    directory : str or path-like
        Folder of the report (created if missing).
    sections : sequence of Section
        The body, in order; each gets an entry in the table of contents.
    title : str, default "fastei report"
    summary : str, default ""
        Paragraphs under the title (separated by blank lines).
    settings : mapping, optional
        Name -> value of every setting the results depend on, shown as a table.

    Returns
    -------
    Path
        The ``index.html`` written.

    Raises
    ------
    ValueError
        If a figure is not an image type the page can embed or a table row has the
        wrong length.
    TypeError
        If ``sections`` holds something other than a :class:`Section`, or ``settings``
        is not a mapping.
    FileNotFoundError
        If a figure file is missing.
    OSError
        If the folder cannot be made or written.

    Examples
    --------
    >>> import tempfile
    >>> from fastei.report import Section, Table, write_report
    >>> folder = tempfile.mkdtemp()
    >>> table = Table("Final EI", ["layer", "EI (bits)"], [[0, 2.31], [1, 3.57]])
    >>> write_report(folder, [Section("Iris", "Three seeds.", tables=[table])]).name
    'index.html'
    """
    directory = Path(os.fspath(directory))
    html = _render(sections, title, summary, settings)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    write_atomically(path, html)
    return path
