"""Replace a file atomically, with an exact mode: the one write path of the credential store and Mosquitto's files.

A reader (the broker re-reading `credentials.json`, Mosquitto reloading on SIGHUP) sees the old file or the new one,
never half of either. The temporary file is made by `mkstemp` (a fresh name, created 0600 with O_EXCL, so neither a
stale temp file from a crash nor the umask decides the mode), set to `mode` with fchmod before any byte is written,
fsynced, renamed over the target, and the rename is fsynced through the folder. On an error the temp file is removed
and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, text: str, mode: int) -> None:
    """Replace `path` with `text` (UTF-8), leaving it with exactly permission bits `mode` (0o600 for secrets)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the folder's entry is on disk; some filesystems cannot fsync a folder.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
