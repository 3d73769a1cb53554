"""Your own corpus as class folders: ``root/<class>/**/*.wav|flac|ogg|mp3``, one folder a class.

id = the path below root without its suffix, label = class index in natural order. Folds come
from a fold file (``path,fold`` with the path relative to root), or are dealt: clips into
``n_folds`` stratified folds, or whole groups when ``group_regex`` takes a group (a speaker, a
session, a source recording) from the relative path, which also fills the ``speaker`` column.
Files outside a class folder, unreadable audio, paths the regex does not match and files the
fold file does not list are reported and skipped (an error with ``strict``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.manifest import ManifestRow
from audiocs.prep.common import (
    audio_check, deal_folds, index_labels, natural_key, prepare_once, print_fold_summary,
    read_lines, report_lines, report_names,
)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
DEFAULT_FOLDS = 5
SPLIT_FOLDS = {"train": 1, "valid": 2, "validation": 2, "dev": 2, "test": 3}


def compile_group_regex(pattern: str | None) -> re.Pattern | None:
    """The compiled ``--group-regex``: one capture group, or a group named ``group``."""
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except re.error as err:
        raise AudiocsError(f"--group-regex {pattern!r}: not a regular expression ({err})") from None
    if rx.groups != 1 and "group" not in rx.groupindex:
        raise AudiocsError(f"--group-regex {pattern!r}: needs one capture group or a group "
                           f"named 'group', found {rx.groups} groups")
    return rx


def group_of(rx: re.Pattern, text: str) -> str:
    """The group that `rx` finds in `text` ("" when it does not match)."""
    m = rx.search(text)
    if m is None:
        return ""
    return (m["group"] if "group" in rx.groupindex else m[1]) or ""


def parse_fold(text: str, n_folds: int | None = None) -> tuple[int, str]:
    """(fold, split name or "") of a fold cell: a number >= 1 (at most `n_folds` when given)
    or a split name (train 1, valid/validation/dev 2, test 3); fold 0 when it is neither."""
    text = text.strip()
    if text.lower() in SPLIT_FOLDS:
        return SPLIT_FOLDS[text.lower()], text.lower()
    fold = int(text) if text.isdigit() else 0
    return (fold, "") if 1 <= fold <= (n_folds or fold) else (0, "")


def fold_error(text: str, n_folds: int | None) -> str:
    """Why a fold cell is refused."""
    allowed = f"1..{n_folds}" if n_folds else "a number >= 1"
    return f"unknown fold {text.strip()!r} (expected {allowed} or train/valid/test)"


def read_fold_file(
    path: Path, known: set[str], *, n_folds: int | None = None, strict: bool = False
) -> dict[str, tuple[int, str]]:
    """(fold, split) of each relative path listed in a ``path,fold`` CSV/TSV.

    Lines with an unknown fold, a path listed twice or a path not among `known` are reported
    with their line number (an error with `strict`) and left out.
    """
    path = Path(path)
    folds: dict[str, tuple[int, str]] = {}
    first: dict[str, int] = {}
    bad = []
    for line, row in read_lines(path, ("path", "fold")):
        rel = row["path"].strip().replace("\\", "/").removeprefix("./")
        fold = parse_fold(row["fold"], n_folds)
        if rel in first:
            bad.append((line, f"duplicate path {rel} (first on line {first[rel]})"))
        elif rel not in known:
            bad.append((line, f"{rel or 'empty path'}: not an audio file of the corpus"))
        elif not fold[0]:
            bad.append((line, f"{rel}: {fold_error(row['fold'], n_folds)}"))
        else:
            folds[rel] = fold
        first.setdefault(rel, line)
    report_lines(path, bad, strict=strict)
    return folds


def find_audio(root: Path) -> list[Path]:
    """Audio files below `root` (hidden names skipped), sorted by relative path."""
    return sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
         and not any(part.startswith(".") for part in p.relative_to(root).parts)),
        key=lambda p: natural_key(p.relative_to(root).as_posix()),
    )


def parse_folders(
    corpus_dir: Path, *, n_folds: int | None = None, group_regex: str | None = None,
    fold_file: Path | None = None, seed: int = 0, strict: bool = False,
) -> list[ManifestRow]:
    """Clips of a class-folder corpus with their folds (see the module docstring)."""
    root = Path(corpus_dir).resolve()
    if not root.is_dir():
        raise AudiocsError(f"{root}: corpus folder not found")
    rx = compile_group_regex(group_regex)
    found, stray, unreadable, unmatched = [], [], [], []
    for p in find_audio(root):
        rel = p.relative_to(root).as_posix()
        if "/" not in rel:
            stray.append(rel)
            continue
        duration, why = audio_check(p)
        group = group_of(rx, rel) if rx else ""
        if why:
            unreadable.append(f"{rel}: {why}")
        elif rx and not group:
            unmatched.append(rel)
        else:
            found.append(ManifestRow(id=rel, path=str(p), label=0, label_name=rel.split("/")[0],
                                     speaker=group, duration=duration))
    report_names(root, stray, "files outside a class folder", strict=strict)
    report_names(root, unreadable, "unreadable audio files", strict=strict)
    report_names(root, unmatched, f"files whose path --group-regex {group_regex} does not match",
                 strict=strict)
    if fold_file is not None:
        given = read_fold_file(fold_file, {c.id for c in found}, n_folds=n_folds, strict=strict)
        report_names(root, [c.id for c in found if c.id not in given],
                     f"files not listed in {fold_file}", strict=strict)
        found = [c for c in found if c.id in given]
        for c in found:
            c.fold, split = given[c.id]
            c.extra.update({"split": split} if split else {})
    return finish_clips(found, deal=fold_file is None, n_folds=n_folds, grouped=rx is not None,
                        seed=seed)


def finish_clips(
    clips: list[ManifestRow], *, deal: bool, n_folds: int | None, grouped: bool, seed: int
) -> list[ManifestRow]:
    """Set label (class index in natural order), id (the relative path in ``id`` without its
    suffix) and, when `deal`, the fold (by clip, or by ``speaker`` when `grouped`)."""
    if deal:
        folds = deal_folds([c.label_name for c in clips],
                           DEFAULT_FOLDS if n_folds is None else n_folds,
                           groups=[c.speaker for c in clips] if grouped else None, seed=seed)
        for c, fold in zip(clips, folds):
            c.fold = fold
    labels = index_labels(c.label_name for c in clips)
    for c, uid in zip(clips, clip_ids([c.id for c in clips])):
        c.label, c.id = labels[c.label_name], uid
    return clips


def clip_ids(paths: list[str]) -> list[str]:
    """Each path without its suffix, or with it where two paths would give the same id."""
    stems = [p.rsplit(".", 1)[0] if "." in p.rsplit("/", 1)[-1] else p for p in paths]
    taken = Counter(stems)
    return [s if taken[s] == 1 else p for s, p in zip(stems, paths)]


def prepare_folders(
    corpus_dir: Path, out_dir: Path, *, n_folds: int | None = None,
    group_regex: str | None = None, fold_file: Path | None = None, seed: int = 0,
    strict: bool = False, force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for a class-folder corpus; prints the clips per fold."""
    corpus_dir = Path(corpus_dir).resolve()
    fold_file = Path(fold_file).resolve() if fold_file is not None else None
    options = {"corpus": str(corpus_dir), "name": "folders", "n_folds": n_folds,
               "group_regex": group_regex, "fold_file": str(fold_file) if fold_file else None,
               "seed": seed}
    clips = parse_folders(corpus_dir, n_folds=n_folds, group_regex=group_regex,
                          fold_file=fold_file, seed=seed, strict=strict)
    if clips:
        print_fold_summary(corpus_dir, clips)
    return prepare_once(out_dir, options, clips, force=force)
