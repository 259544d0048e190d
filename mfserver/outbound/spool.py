"""Spool files: the bytes of each queued message, one file per queue id under DATA/queue/.

Implementation notes:
- A file is written to `tmp/`, fsynced, renamed into place and the directory fsynced before
  `write()` returns: once the database row that names it commits, the message survives a crash.
- The order is always file first, row second (enqueue) and row first, file second (removal). A
  crash between the two leaves at worst a file without a row, never a row without a file;
  `orphans()` finds such files for `sweep`.
- The directories are 0700 and the files 0600: queued mail is private.
- Every function here blocks: callers run them in the thread pool.
"""

from __future__ import annotations

import os
from pathlib import Path

from mfserver.store.maildir import fsync_directory

DIR_MODE = 0o700
FILE_MODE = 0o600


class Spool:
    """The directory of spool files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path / "tmp"

    def prepare(self) -> None:
        for directory in (self.path, self._tmp):
            if not directory.is_dir():
                directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                fsync_directory(directory.parent)

    def file(self, queue_id: str) -> Path:
        return self.path / queue_id

    def write(self, queue_id: str, message: bytes) -> None:
        """Store `message` durably as the spool file of `queue_id`."""
        self.prepare()
        temporary = self._tmp / queue_id
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(message)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, self.file(queue_id))
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(self.path)

    def read(self, queue_id: str) -> bytes:
        """The message bytes; FileNotFoundError when the file is gone (deleted meanwhile)."""
        return self.file(queue_id).read_bytes()

    def remove(self, queue_id: str) -> None:
        self.file(queue_id).unlink(missing_ok=True)

    def stale(self, older_than: float) -> list[str]:
        """Spool files last changed before `older_than` (Unix time); unfinished temporary files
        that old (an enqueue that died mid-write) are removed on the way."""
        names = []
        for directory in (self.path, self._tmp):
            if not directory.is_dir():
                continue
            for entry in os.scandir(directory):
                if not entry.is_file() or entry.stat().st_mtime >= older_than:
                    continue
                if directory == self._tmp:
                    os.unlink(entry.path)
                else:
                    names.append(entry.name)
        return names
