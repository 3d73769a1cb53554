"""The manifest: one CSV row per clip (id, path, label, label_name, fold, speaker, duration).

Relative paths are resolved against the manifest's folder on reading; extra columns (for
example ``split``) are kept in ``ManifestRow.extra`` and written back after the standard ones.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write

COLUMNS = ("id", "path", "label", "label_name", "fold", "speaker", "duration")


@dataclass
class ManifestRow:
    """One clip: label in 0..C-1, fold 0 = no fold, speaker may be empty, duration in seconds."""

    id: str
    path: str
    label: int
    label_name: str
    fold: int = 0
    speaker: str = ""
    duration: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


def _parse_row(record: dict[str, str], where: str) -> ManifestRow:
    def number(name: str, kind: type):
        text = (record[name] or "").strip()
        try:
            return kind(text)
        except ValueError:
            raise AudiocsError(f"{where}: column {name!r} must be {kind.__name__}, "
                               f"got {text!r}") from None

    label, fold, duration = number("label", int), number("fold", int), number("duration", float)
    if label < 0:
        raise AudiocsError(f"{where}: label must be >= 0, got {label}")
    if fold < 0:
        raise AudiocsError(f"{where}: fold must be >= 0 (0 = no fold), got {fold}")
    if not (math.isfinite(duration) and duration >= 0):
        raise AudiocsError(f"{where}: duration must be a finite number >= 0, got {duration}")
    for name in ("id", "path"):
        if not (record[name] or "").strip():
            raise AudiocsError(f"{where}: column {name!r} is empty")
    extra = {k: v or "" for k, v in record.items() if k not in COLUMNS}
    return ManifestRow(record["id"].strip(), record["path"].strip(), label,
                       record["label_name"] or "", fold, record["speaker"] or "", duration, extra)


def validate_rows(rows: Sequence[ManifestRow], source: str = "manifest",
                  first_line: int = 2) -> None:
    """Check unique ids and one name per label; errors name ``source`` and the line."""
    seen: dict[str, int] = {}
    names: dict[int, tuple[str, int]] = {}
    for line, row in enumerate(rows, start=first_line):
        where = f"{source} line {line}"
        if row.id in seen:
            raise AudiocsError(f"{where}: duplicate id {row.id!r} (first on line {seen[row.id]})")
        seen[row.id] = line
        if not isinstance(row.label, int) or isinstance(row.label, bool) or row.label < 0:
            raise AudiocsError(f"{where}: label must be an int >= 0, got {row.label!r}")
        if not isinstance(row.fold, int) or isinstance(row.fold, bool) or row.fold < 0:
            raise AudiocsError(f"{where}: fold must be an int >= 0, got {row.fold!r}")
        name, first = names.setdefault(row.label, (row.label_name, line))
        if name != row.label_name:
            raise AudiocsError(f"{where}: label {row.label} is named {row.label_name!r} but "
                               f"{name!r} on line {first}")


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read and validate a manifest CSV; relative clip paths are resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        raise AudiocsError(f"{path}: manifest not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise AudiocsError(f"{path}: missing columns {', '.join(missing)} "
                               f"(header: {','.join(header) or 'empty'})")
        rows = []
        for record in reader:
            where = f"{path} line {reader.line_num}"
            if None in record or None in record.values():
                raise AudiocsError(f"{where}: expected {len(header)} fields")
            row = _parse_row(record, where)
            if not Path(row.path).is_absolute():
                row.path = str(path.parent / row.path)
            rows.append(row)
    validate_rows(rows, str(path))
    return rows


def write_manifest(rows: Iterable[ManifestRow], path: str | Path) -> None:
    """Validate and write ``rows`` to ``path`` atomically (paths written as given)."""
    rows = list(rows)
    validate_rows(rows, str(path))
    extra_cols: dict[str, None] = {}
    for row in rows:
        extra_cols.update(dict.fromkeys(k for k in row.extra if k not in COLUMNS))
    with atomic_write(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*COLUMNS, *extra_cols])
        for r in rows:
            writer.writerow([r.id, r.path, r.label, r.label_name, r.fold, r.speaker,
                             repr(float(r.duration)), *(r.extra.get(k, "") for k in extra_cols)])


def class_names(rows: Iterable[ManifestRow]) -> list[str]:
    """Label names indexed by label (``class_<k>`` for a label with no row)."""
    names = {r.label: r.label_name for r in rows}
    size = max(names, default=-1) + 1
    return [names.get(k, f"class_{k}") for k in range(size)]


def rows_digest(rows: Iterable[ManifestRow]) -> str:
    """SHA-256 of the rows' content (ids, paths, labels, folds, ...), to detect a changed manifest."""
    h = hashlib.sha256()
    for r in rows:
        h.update(repr((r.id, r.path, r.label, r.label_name, r.fold, r.speaker, float(r.duration),
                       sorted(r.extra.items()))).encode())
    return h.hexdigest()
