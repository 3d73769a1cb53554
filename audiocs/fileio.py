"""Atomic file writes: write a temporary file in the same folder, then ``os.replace`` it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces ``path``, else is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", *, fsync: bool = True,
                 **open_kw) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``.

    ``fsync=False`` skips forcing the data to disk: still safe against a killed process,
    not against a power cut (use it for files that can be recomputed).
    """
    with atomic_path(path) as tmp, open(tmp, mode, **open_kw) as f:
        yield f
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def remove_temp_files(folder: Path) -> int:
    """Delete leftovers of interrupted atomic writes in ``folder``; returns how many."""
    stale = [p for p in folder.glob(f".*{_TMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink()
    return len(stale)
