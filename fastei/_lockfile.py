"""One writer per output file: an exclusive ``flock`` on a lock file beside it.

The kernel drops the lock when its holder exits or is killed, so a crashed run never
blocks the next one; the file holds the holder's PID for the message of a refused writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class PathLock:
    """Exclusive ownership of ``target``, held through ``<target>.lock``.

    Parameters
    ----------
    target : Path
        The file to own.
    """

    def __init__(self, target: Path):
        self.target = target
        self.path = target.with_name(target.name + ".lock")
        self._fd = None

    def acquire(self) -> None:
        """Take the lock, or refuse at once if another process holds it.

        Raises
        ------
        BlockingIOError
            If another process holds the lock; the message names it by PID.
        OSError
            If the lock file cannot be created (read-only or missing folder, ...).
        """
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise BlockingIOError(
                    f"{str(self.target)!r} is being written by process {holder} (it holds "
                    f"{str(self.path)!r}); wait for that run to end or choose another file"
                ) from None
            # A holder that released the lock removed the file first; lock the file now there.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None
