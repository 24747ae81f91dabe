"""Files written whole or not at all.

Every file linrfm writes (predictions, models, checkpoints, study summaries and plots) goes
through :func:`atomic_write`: the content is written to a temporary file in the target's
folder, flushed to disk, and moved onto the target with :func:`os.replace`, which is atomic
on POSIX and Windows. Until that move the previous file (if any) is untouched; on any error,
a ``KeyboardInterrupt`` included, the temporary file is removed and the error re-raised.

Appending to a cache (the studies' CSVs) cannot be made atomic this way; :func:`append_line`
writes one whole line in one call and flushes it, and readers drop a torn last line
(see :mod:`linrfm.experiments._runner`).
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "atomic_open", "atomic_write_text", "append_line", "TMP_SUFFIX"]

#: the suffix of the temporary files (``.<name>.<random>.tmp``), for tests and clean-ups
TMP_SUFFIX = ".tmp"


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


@contextmanager
def atomic_open(path, mode: str = "wb", **kwargs):
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    ``mode`` is ``'wb'`` or ``'w'`` (text; ``kwargs`` such as ``newline`` or ``encoding``
    are passed to :func:`open`). On any exception the temporary file is removed and
    ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes new files only: mode 'w' or 'wb'; got {mode!r}.")
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, mode.replace("w", "x"), **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path, write, mode: str = "wb", **kwargs) -> None:
    """Call ``write(fh)`` on a new file in ``path``'s folder, then move it onto ``path``."""
    with atomic_open(path, mode, **kwargs) as fh:
        write(fh)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda fh: fh.write(text), mode="w", encoding="utf-8")


def append_line(path, line: str) -> None:
    """Append one line (``line`` must end with a newline) in a single write, then flush it
    to disk: an interruption leaves at most this line torn, never an earlier one."""
    if not line.endswith("\n"):
        raise ValueError("append_line needs a whole line, ending with a newline.")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        data = line.encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)
