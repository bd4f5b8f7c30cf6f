"""Small data sets bundled with fastei (installed as ``fastei._data``)."""
