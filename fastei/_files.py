"""Output files written whole or not at all: a temporary name beside the target, then a rename."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
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


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``, renamed over it when the block finishes.

    The temporary name keeps the suffix of ``path``, so writers that choose a format by
    suffix (matplotlib, Pillow) work on it. The file gets the permissions of any new file
    (0o666 less the umask), not the owner-only 0o600 of :func:`tempfile.mkstemp`, so a
    report can be served or shared. A failure leaves ``path`` as it was and no temporary
    file.
    """
    path = check_output_path(path)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}"
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield Path(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_atomically(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it when complete.

    A failure (full disk, interrupt) leaves ``path`` as it was and no temporary file.
    """
    if isinstance(data, str):
        data = data.encode()
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
