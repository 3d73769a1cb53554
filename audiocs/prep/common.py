"""Logic shared by every corpus: labels, fold splits, metadata tables, checks, the manifest step.

A corpus module parses its layout into a list of ``ManifestRow`` and hands it to
:func:`prepare_once`, which writes ``manifest.csv`` and a completion marker into the output
folder; a re-run with the same options over an unchanged corpus skips the work.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from audiocs.audio import AudioError, audio_duration
from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.manifest import ManifestRow, rows_digest, write_manifest

MANIFEST_NAME = "manifest.csv"
MARKER_NAME = ".prepared.json"
_SHOW = 5  # names listed in a report before "... and N more"


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value ("speaker2" < "speaker10")."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def index_labels(names: Iterable[str]) -> dict[str, int]:
    """Map each distinct name to 0..C-1 in natural sort order."""
    return {name: i for i, name in enumerate(sorted(set(names), key=natural_key))}


def group_folds(groups: Iterable[str], n_folds: int | None = None) -> dict[str, int]:
    """Assign whole groups (e.g. speakers) to folds 1..n_folds, round-robin in natural order.

    With ``n_folds=None`` every group is its own fold (leave one group out).
    """
    ordered = sorted(set(groups), key=natural_key)
    n = len(ordered) if n_folds is None else n_folds
    if n < 1:
        raise ValueError(f"n_folds must be >= 1, got {n}")
    return {g: i % n + 1 for i, g in enumerate(ordered)}


def probe_duration(path: str | Path) -> float:
    """Seconds of audio from the header; 0.0 when missing or unreadable (the cache rejects it)."""
    try:
        return audio_duration(path)
    except AudioError:
        return 0.0


def with_durations(rows: list[ManifestRow]) -> list[ManifestRow]:
    """Set each row's duration from its file header (progress bar); returns `rows`."""
    for row in tqdm(rows, desc="reading headers", unit="file", disable=len(rows) < 1000):
        row.duration = probe_duration(row.path)
    return rows


def read_table(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Read a metadata CSV; raises AudiocsError naming the file when it or a column is missing."""
    if not path.is_file():
        raise AudiocsError(f"{path}: metadata file not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise AudiocsError(f"{path}: missing column(s) {', '.join(missing)}")
        return list(reader)


def as_int(path: Path, line: int, row: dict[str, str], column: str) -> int:
    """Integer value of one metadata cell; raises AudiocsError naming file, line and column."""
    try:
        return int(row[column])
    except (TypeError, ValueError):
        raise AudiocsError(
            f"{path}:{line}: column {column} is not an integer: {row[column]!r}") from None


def listing(names: Sequence[str]) -> str:
    """First few names and a count of the rest, for one-line reports."""
    shown = ", ".join(names[:_SHOW])
    return shown + (f" ... and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


@dataclass
class Expected:
    """What a complete corpus holds: row count, class count, clips per class, fold numbers."""

    rows: int
    classes: int
    per_class: int | None = None
    folds: tuple[int, ...] = ()


def completeness(clips: Sequence[ManifestRow], expected: Expected) -> list[str]:
    """Problems that make `clips` differ from a complete corpus (empty list: complete)."""
    problems = []
    if len(clips) != expected.rows:
        problems.append(f"{len(clips)} rows listed, expected {expected.rows}")
    counts = Counter(c.label_name for c in clips)
    if len(counts) != expected.classes:
        problems.append(f"{len(counts)} classes listed, expected {expected.classes}")
    if expected.per_class is not None:
        short = sorted(f"{n} ({k})" for n, k in counts.items() if k != expected.per_class)
        if short:
            problems.append(f"classes without {expected.per_class} clips: {listing(short)}")
    if expected.folds:
        absent = sorted(set(expected.folds) - {c.fold for c in clips})
        if absent:
            problems.append(f"folds with no clips: {listing([str(f) for f in absent])}")
    missing = [c.path for c in clips if not Path(c.path).is_file()]
    if missing:
        problems.append(f"{len(missing)} listed files missing: {listing(missing)}")
    return problems


def report(corpus: Path, problems: Sequence[str], *, strict: bool) -> None:
    """Print problems as warnings, or raise AudiocsError naming the corpus when `strict`."""
    if not problems:
        return
    if strict:
        raise AudiocsError(f"{corpus}: corpus check failed: {'; '.join(problems)}")
    for p in problems:
        print(f"warning: {corpus}: {p}", file=sys.stderr)


def report_names(corpus: Path, names: Sequence[str], what: str, *, strict: bool) -> None:
    """Report files that do not fit the layout (``what`` says how), as :func:`report` does."""
    report(corpus, [f"{len(names)} {what}: {listing(names)}"] if names else [], strict=strict)


def _marker(out_dir: Path) -> dict | None:
    """Contents of the completion marker when it and the manifest exist, else None."""
    marker = out_dir / MARKER_NAME
    if not (marker.is_file() and (out_dir / MANIFEST_NAME).is_file()):
        return None
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def prepare_once(
    out_dir: Path, options: dict, clips: list[ManifestRow], *, force: bool = False,
    finish: Callable[[list[ManifestRow]], list[ManifestRow]] | None = None,
) -> Path:
    """Write the manifest of `clips` (passed through `finish`, e.g. cutting segments) into `out_dir`.

    Skipped when the completion marker shows a finished run with the same options over the same
    parsed clips; a changed corpus (a file added, a duration changed) is prepared again.
    """
    out_dir = Path(out_dir)
    if not clips:
        raise AudiocsError(f"{options.get('corpus', out_dir)}: no clips found")
    done = {"options": options, "parsed": rows_digest(clips)}
    marker = None if force else _marker(out_dir)
    if marker is not None and {k: marker.get(k) for k in done} == done:
        print(f"{out_dir / MANIFEST_NAME}: up to date (same options and corpus), kept")
        return out_dir / MANIFEST_NAME
    rows = finish(clips) if finish is not None else clips
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER_NAME).unlink(missing_ok=True)
    manifest = out_dir / MANIFEST_NAME
    write_manifest(rows, manifest)
    with atomic_write(out_dir / MARKER_NAME) as f:
        json.dump({**done, "rows": len(rows)}, f, indent=1)
    print(f"{manifest}: {len(rows)} rows, {len({c.label for c in rows})} classes")
    return manifest
