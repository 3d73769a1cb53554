"""Atomic writes: all or nothing, and files get the usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from audiocs.fileio import atomic_write, remove_temp_files


def test_atomic_write_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "table.md"
    with atomic_write(target) as f:
        f.write("first")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half-written")
            raise RuntimeError("crash")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]  # no temp file left


def test_atomic_write_honours_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "out.csv") as f:
            f.write("id\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o644


def test_remove_temp_files_deletes_only_leftovers(tmp_path):
    (tmp_path / ".table.md.abc123.tmp").write_text("stale")
    (tmp_path / "table.md").write_text("kept")
    assert remove_temp_files(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]
