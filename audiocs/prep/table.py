"""Your own corpus as a table: a CSV or TSV with a path and a label column, one row a clip.

The delimiter is a tab for ``.tsv``, else sniffed from the header. Relative paths are resolved
against ``root`` (default: the table's folder); id = the path as written, without its suffix.
Optional columns: the fold (a number >= 1 or train/valid/test) and a group (e.g. the speaker,
kept in the ``speaker`` column). Without a fold column the folds are dealt as for class
folders: clips into ``n_folds`` stratified folds, or whole groups (the group column, or
``group_regex`` on the path as written). Other columns are kept in the manifest. Bad rows
(empty path or label, missing or unreadable file, path listed twice, unknown fold, no group)
are reported with their line number and skipped, or raise with ``strict``.
"""

from __future__ import annotations

import os
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.manifest import COLUMNS, ManifestRow
from audiocs.prep.common import (
    audio_check, prepare_once, print_fold_summary, read_lines, report_lines,
)
from audiocs.prep.folders import (
    compile_group_regex, finish_clips, fold_error, group_of, parse_fold,
)


def parse_table(
    table: Path, *, root: Path | None = None, path_column: str = "path",
    label_column: str = "label", fold_column: str | None = None,
    group_column: str | None = None, n_folds: int | None = None,
    group_regex: str | None = None, seed: int = 0, strict: bool = False,
) -> list[ManifestRow]:
    """Clips listed in `table` with their folds (see the module docstring)."""
    table = Path(table).absolute()
    root = Path(root).absolute() if root is not None else table.parent
    if group_column and group_regex:
        raise AudiocsError("give --group-column or --group-regex, not both")
    rx = compile_group_regex(group_regex)
    grouped = bool(group_column or rx)
    own = [c for c in (path_column, label_column, fold_column, group_column) if c]
    good, bad, first = [], [], {}
    for line, row in read_lines(table, own):
        text = row[path_column].strip().removeprefix("./")
        label = row[label_column].strip()
        path = Path(os.path.normpath(root / text))
        fold, split = parse_fold(row[fold_column], n_folds) if fold_column else (0, "")
        group = row[group_column].strip() if group_column else group_of(rx, text) if rx else ""
        duration, why = audio_check(path) if text else (0.0, "")
        seen = first.setdefault(str(path), line) if text else line
        if not text:
            bad.append((line, "empty path"))
        elif seen != line:
            bad.append((line, f"duplicate path {text} (first on line {seen})"))
        elif not label:
            bad.append((line, f"{text}: empty label"))
        elif fold_column and not fold:
            bad.append((line, f"{text}: {fold_error(row[fold_column], n_folds)}"))
        elif grouped and not fold_column and not group:
            how = f"empty {group_column}" if group_column else f"{group_regex} does not match"
            bad.append((line, f"{text}: no group ({how})"))
        elif why:
            bad.append((line, f"{text}: {why}"))
        else:
            extra = {k: v for k, v in row.items() if k not in own and k not in COLUMNS}
            good.append(ManifestRow(id=text, path=str(path), label=0, label_name=label,
                                    fold=fold, speaker=group, duration=duration,
                                    extra={**extra, "split": split} if split else extra))
    report_lines(table, bad, strict=strict)
    return finish_clips(good, deal=not fold_column, n_folds=n_folds, grouped=grouped, seed=seed)


def prepare_table(
    table: Path, out_dir: Path, *, root: Path | None = None, path_column: str = "path",
    label_column: str = "label", fold_column: str | None = None,
    group_column: str | None = None, n_folds: int | None = None,
    group_regex: str | None = None, seed: int = 0, strict: bool = False, force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for the clips of a table; prints the clips per fold."""
    table = Path(table).absolute()
    root = Path(root).absolute() if root is not None else table.parent
    columns = {"path_column": path_column, "label_column": label_column,
               "fold_column": fold_column, "group_column": group_column}
    options = {"corpus": str(table), "name": "table", "root": str(root), **columns,
               "n_folds": n_folds, "group_regex": group_regex, "seed": seed}
    clips = parse_table(table, root=root, **columns, n_folds=n_folds, group_regex=group_regex,
                        seed=seed, strict=strict)
    if clips:
        print_fold_summary(table, clips)
    return prepare_once(out_dir, options, clips, force=force)
