"""Atomic file writes: write a temporary file in the same folder, then ``os.replace`` it."""

from __future__ import annotations

import os
import secrets
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
    while True:  # like mkstemp, but with the usual 0o666 & ~umask mode instead of 0o600
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{_TMP_SUFFIX}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
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
