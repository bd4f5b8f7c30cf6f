"""Output files written whole or not at all: a temporary name beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def check_output_path(path) -> Path:
    """Return ``path`` if a file can be written there, else raise a one-line ``OSError``.

    Called before long work, so that a bad output path fails at once rather than after.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name inside it")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write to folder {str(folder)!r}: permission denied; "
                              "choose a writable location")
    return path


def write_atomically(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it when complete.

    A failure (full disk, interrupt) leaves ``path`` as it was and no temporary file.
    """
    path = check_output_path(path)
    if isinstance(data, str):
        data = data.encode()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
