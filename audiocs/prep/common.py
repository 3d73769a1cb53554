"""Logic shared by every corpus: labels, fold splits, metadata tables, checks, the manifest step.

A corpus module parses its layout into a list of ``ManifestRow`` and hands it to
:func:`prepare_once`, which writes ``manifest.csv`` and a completion marker into the output
folder; a re-run with the same options over an unchanged corpus skips the work.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audiocs.audio import REASONS, AudioError, audio_duration, read_audio, resample
from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_path, atomic_write
from audiocs.manifest import ManifestRow, rows_digest, write_manifest
from audiocs.progress import progress_bar

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


def deal_folds(
    labels: Sequence[str], n_folds: int, *, groups: Sequence[str] | None = None, seed: int = 0
) -> list[int]:
    """Fold 1..n_folds of each item, stratified by label; whole groups share a fold when given.

    ``n_folds=0`` gives every item fold 0 (no folds).

    Groups (each item its own group without `groups`) are dealt largest first, ties in a seeded
    random order, each to the fold that holds the fewest items of the group's labels (weighted
    by the group's label counts), then the smallest fold, then the lowest number. So every class
    is spread as evenly as the groups allow and the folds stay about equal in size.
    """
    if n_folds < 0:
        raise ValueError(f"n_folds must be >= 0, got {n_folds}")
    if n_folds == 0:
        return [0] * len(labels)
    keys = list(groups) if groups is not None else [str(i) for i in range(len(labels))]
    if len(keys) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(keys)} groups")
    classes = index_labels(labels)
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(keys):
        members[g].append(i)
    names = sorted(members, key=natural_key)
    rank = np.random.default_rng(seed).permutation(len(names))
    counts = np.zeros((n_folds, len(classes)), dtype=np.int64)
    fold_of: dict[str, int] = {}

    def order(k: int) -> tuple:
        items = members[names[k]]
        common = Counter(labels[i] for i in items).most_common(1)[0][0]
        return -len(items), classes[common], rank[k]

    for k in sorted(range(len(names)), key=order):
        want = np.bincount([classes[labels[i]] for i in members[names[k]]],
                           minlength=len(classes))
        cost = [(int(counts[f] @ want), int(counts[f].sum()), f) for f in range(n_folds)]
        best = min(cost)[2]
        counts[best] += want
        fold_of[names[k]] = best + 1
    return [fold_of[g] for g in keys]


def fold_summary(rows: Sequence[ManifestRow]) -> tuple[str, list[str]]:
    """A class x fold table of clip counts, and warnings: folds with no clips, and classes
    with fewer clips than folds (those cannot be in every fold)."""
    folds = sorted({r.fold for r in rows})
    n_folds = max(folds, default=0)
    counts = Counter((r.label_name, r.fold) for r in rows)
    per_class = Counter(r.label_name for r in rows)
    classes = sorted(per_class, key=natural_key)
    head = ["class", *(f"fold {f}" if f else "no fold" for f in folds), "total"]
    body = [[c, *(str(counts[c, f]) for f in folds), str(per_class[c])] for c in classes]
    body.append(["total", *(str(sum(counts[c, f] for c in classes)) for f in folds),
                 str(len(rows))])
    widths = [max(len(line[j]) for line in [head, *body]) for j in range(len(head))]
    table = "\n".join(
        "  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                  for j, (cell, w) in enumerate(zip(line, widths)))
        for line in [head, *body])
    warnings = []
    empty = [str(f) for f in range(1, n_folds + 1) if f not in folds]
    if empty:
        warnings.append(f"{len(empty)} folds with no clips: {listing(empty)}")
    few = [f"{c} ({per_class[c]})" for c in classes if 0 < n_folds and per_class[c] < n_folds]
    if few:
        warnings.append(f"{len(few)} classes with fewer clips than the {n_folds} folds "
                        f"(missing from some folds): {listing(few)}")
    return table, warnings


def print_fold_summary(source: Path, rows: Sequence[ManifestRow]) -> None:
    """Print the class x fold table of `rows` and warn (stderr) about what it lacks."""
    table, warnings = fold_summary(rows)
    print(f"{source}: clips per class and fold\n{table}")
    report(source, warnings, strict=False)


def audio_check(path: str | Path) -> tuple[float, str]:
    """(seconds from the header, "") for a usable file, else (0.0, the reason it is not)."""
    try:
        return audio_duration(path), ""
    except AudioError as err:
        return 0.0, f"{err.reason} ({REASONS[err.reason]})"


def probe_duration(path: str | Path) -> float:
    """Seconds of audio from the header; 0.0 when missing or unreadable (the cache rejects it)."""
    return audio_check(path)[0]


def with_durations(rows: list[ManifestRow]) -> list[ManifestRow]:
    """Set each row's duration from its file header (progress bar); returns `rows`."""
    for row in progress_bar(rows, desc="reading headers", unit="file", enabled=len(rows) >= 1000):
        row.duration = probe_duration(row.path)
    return rows


def read_table(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Read a metadata CSV; raises AudiocsError naming the file when it or a column is missing."""
    return [row for _, row in read_lines(path, columns, delimiter=",")]


def read_lines(
    path: Path, columns: Sequence[str], *, delimiter: str | None = None
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV or TSV with a header; raises AudiocsError naming the file
    when it or a column is missing. Delimiter: tab for ``.tsv``, else sniffed (``,;|`` or tab)."""
    if not path.is_file():
        raise AudiocsError(f"{path}: metadata file not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        if delimiter is None:
            delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else _sniff(f.read(8192))
            f.seek(0)
        reader = csv.DictReader(f, delimiter=delimiter)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise AudiocsError(f"{path}: missing column(s) {', '.join(missing)}")
        return [(reader.line_num, {k: v or "" for k, v in row.items() if k is not None})
                for row in reader]


def _sniff(head: str) -> str:
    try:
        return csv.Sniffer().sniff(head.splitlines()[0] if head else "", ",;\t|").delimiter
    except csv.Error:
        return ","


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


def report_lines(table: Path, bad: Sequence[tuple[int, str]], *, strict: bool) -> None:
    """Report bad lines of a table, (line, why) each: one warning a line (the row is skipped),
    or with `strict` one AudiocsError naming the table and the first few lines."""
    if not bad:
        return
    if strict:
        shown = "; ".join(f"line {n}: {why}" for n, why in bad[:_SHOW])
        more = f"; ... and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
        raise AudiocsError(f"{table}: {len(bad)} bad rows: {shown}{more}")
    report(table, [f"line {n}: {why} (row skipped)" for n, why in bad], strict=False)


def _marker(out_dir: Path) -> dict | None:
    """Contents of the completion marker when it and the manifest exist, else None."""
    marker = out_dir / MARKER_NAME
    if not (marker.is_file() and (out_dir / MANIFEST_NAME).is_file()):
        return None
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def fresh_dir(folder: Path, params: dict) -> None:
    """Keep `folder`'s files when they were made with `params`, else empty it; stamp it."""
    text, stamp = json.dumps(params), folder / ".params.json"
    if stamp.is_file() and stamp.read_text() != text:  # made another way: start afresh
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(stamp) as f:
        f.write(text)


def write_copy_once(out_dir: Path, rel: Path, source: str | Path,
                    transform: Callable[[np.ndarray, int], np.ndarray]) -> bool:
    """Write ``transform(wave, rate)`` of `source` (relative paths lie under `out_dir`) as
    ``out_dir/rel``, float WAV at the source's rate, atomically and only if it is not there yet.
    False when the source cannot be read: the cache names the reason when it rejects it."""
    if (out_dir / rel).is_file():
        return True
    try:
        wave, rate = read_audio(out_dir / source)
    except AudioError:
        return False
    with atomic_path(out_dir / rel) as tmp:
        sf.write(tmp, transform(wave, rate), rate, subtype="FLOAT", format="WAV")
    return True


def perturb_speed(clips: list[ManifestRow], out_dir: Path, factors: list[float],
                  folds: list[int] | None, *, new_speakers: bool) -> list[ManifestRow]:
    """`clips` followed by a copy of each clip of `folds` (None: all) at each speed factor.

    A copy is the source resampled from ``rate * factor`` to ``rate``, as if played that much
    faster (tempo and pitch both change, as sox ``speed`` and Kaldi's recipes do), written once
    (atomically) as ``out_dir/speed/<id>-sp<factor>.wav`` (none of an unreadable source). It keeps
    its source's fold and carries ``speed`` (the factor), which makes it a training row only
    (`audiocs.splits`), and ``copy_of`` (its source's id), which keeps it out of training when
    its source is drawn for validation. With `new_speakers` its label is a new speaker ``sp<factor>-<label name>``
    after the original labels (the Kaldi convention for speaker recognition); otherwise it keeps
    its source's label (a digit is the same digit at another speed).
    """
    bad = [f for f in factors if not (0.5 <= f <= 2.0) or f == 1.0]
    if bad:
        raise AudiocsError(f"speed factors must lie in [0.5, 2] and differ from 1, got {bad}")
    chosen = [c for c in clips if folds is None or c.fold in folds]
    if not factors or not chosen:
        return clips
    fresh_dir(out_dir / "speed", {"factors": factors})
    next_label = max(c.label for c in clips) + 1
    copies = []
    for factor in factors:
        tag = f"sp{factor:g}"
        speakers = index_labels(f"{tag}-{c.label_name}" for c in chosen) if new_speakers else {}
        for c in progress_bar(chosen, desc=f"speed {factor:g}", unit="utt"):
            rel = Path("speed") / f"{c.id}-{tag}.wav"
            if not write_copy_once(out_dir, rel, c.path,
                                   lambda wave, rate: resample(wave, round(rate * factor), rate)):
                continue
            name = f"{tag}-{c.label_name}" if new_speakers else c.label_name
            copies.append(ManifestRow(
                id=f"{c.id}-{tag}", path=rel.as_posix(),
                label=next_label + speakers[name] if new_speakers else c.label, label_name=name,
                fold=c.fold, speaker=f"{tag}-{c.speaker}" if new_speakers else c.speaker,
                duration=c.duration / factor,
                extra={**c.extra, "source": c.path, "speed": f"{factor:g}", "copy_of": c.id},
            ))
        next_label += len(speakers)
    return clips + copies


NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f**exponent


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-power noise whose power spectrum falls as 1/f**k (white k = 0,
    pink 1, brown 2), shaped from white Gaussian noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = f[1] if f.size > 1 else 1.0  # no infinite gain at DC
    noise = np.fft.irfft(spectrum * f ** (-NOISE_COLOURS[colour] / 2.0), n)
    return noise / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12)


def add_noise(clips: list[ManifestRow], out_dir: Path, snr_range: Sequence[float],
              folds: list[int] | None, *, seed: int = 0) -> list[ManifestRow]:
    """`clips` followed by one noisy copy of each clip of `folds` (None: all).

    A copy is its source plus white, pink or brown noise (one drawn at random) at a signal-to-
    noise ratio drawn uniformly from `snr_range` (low, high) in dB, against the power of the
    whole clip; the draws depend only on `seed` and the clip's id. Written once (atomically) as
    ``out_dir/noise/<id>-noise.wav`` (none of an unreadable source); it keeps its source's
    label and fold and carries ``noise`` (``colour:snr``), which makes it a training row only
    (`audiocs.splits`), as a speed-perturbed copy is, and ``copy_of`` (its source's id), which
    keeps it out of training when its source is drawn for validation.
    """
    low, high = (float(x) for x in snr_range)
    if not low <= high:
        raise AudiocsError(f"noise SNR range must be LOW HIGH with LOW <= HIGH, got {low} {high}")
    chosen = [c for c in clips if folds is None or c.fold in folds]
    if not chosen:
        return clips
    fresh_dir(out_dir / "noise", {"snr": [low, high], "seed": seed})
    colours = sorted(NOISE_COLOURS)
    copies = []
    for c in progress_bar(chosen, desc="noise", unit="clip"):
        rng = np.random.default_rng([seed, *c.id.encode()])
        colour, snr = colours[int(rng.integers(len(colours)))], float(rng.uniform(low, high))
        rel = Path("noise") / f"{c.id}-noise.wav"

        def noisy(wave: np.ndarray, rate: int) -> np.ndarray:
            power = float(np.mean(np.square(wave, dtype=np.float64)))
            noise = coloured_noise(wave.size, colour, rng) * np.sqrt(power / 10.0 ** (snr / 10.0))
            return (wave + noise).astype(np.float32)

        if not write_copy_once(out_dir, rel, c.path, noisy):
            continue
        copies.append(dataclasses.replace(
            c, id=f"{c.id}-noise", path=rel.as_posix(),
            extra={**c.extra, "source": c.path, "noise": f"{colour}:{snr:.1f}", "copy_of": c.id}))
    return clips + copies


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
