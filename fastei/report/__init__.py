"""A self-contained HTML report: figures embedded as data URIs, tables of numbers, settings.

:func:`write_report` fills the Jinja2 template shipped in ``templates/index.html.j2``
(autoescaped) from plain data, :class:`Section` objects holding :class:`Figure` and
:class:`Table` objects, and writes one ``index.html`` that needs no other file and loads
nothing from the network.
"""

from .html import Figure, Section, Table, format_cell, write_report

__all__ = ["Figure", "Section", "Table", "format_cell", "write_report"]
