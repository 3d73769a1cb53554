"""ESC-50 (Piczak, 2015): ``audio/*.wav`` + ``meta/esc50.csv``, 2000 clips, 50 classes, 5 folds."""

from __future__ import annotations

from pathlib import Path

from audiocs.manifest import ManifestRow
from audiocs.prep.common import (
    Expected, as_int, completeness, prepare_once, read_table, report, with_durations,
)
from audiocs.prep.download import download_and_extract

ESC50_URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
# A GitHub branch archive is rebuilt on demand and its bytes may change, so no digest is pinned;
# the download prints the digest it got, to pass as --sha256 later.
ESC50_SHA256: str | None = None
META_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def _meta_path(corpus_dir: Path) -> Path:
    return Path(corpus_dir) / "meta" / "esc50.csv"


def is_complete(corpus_dir: Path) -> bool:
    """True when the metadata exists and every file it lists is in ``audio/``."""
    meta = _meta_path(corpus_dir)
    if not meta.is_file():
        return False
    rows = read_table(meta, ("filename",))
    return bool(rows) and all((corpus_dir / "audio" / r["filename"]).is_file() for r in rows)


def download_esc50(
    target_dir: Path, *, name: str = "ESC-50-master", url: str = ESC50_URL,
    sha256: str | None = ESC50_SHA256,
) -> Path:
    """Download and unpack ESC-50 as ``target_dir/name``; returns the corpus folder."""
    return download_and_extract(url, Path(target_dir), name, sha256=sha256, is_complete=is_complete)


def parse_esc50(corpus_dir: Path, *, esc10: bool = False) -> list[ManifestRow]:
    """Clips of ESC-50 (label = official target, or 0..9 for the ESC-10 subset)."""
    corpus_dir = Path(corpus_dir)
    meta = _meta_path(corpus_dir)
    table = read_table(meta, META_COLUMNS)
    if esc10:
        table = [r for r in table if r["esc10"].strip().lower() == "true"]
    targets = [as_int(meta, i + 2, r, "target") for i, r in enumerate(table)]
    dense = {t: i for i, t in enumerate(sorted(set(targets)))}
    clips = []
    for i, (r, target) in enumerate(zip(table, targets)):
        path = (corpus_dir / "audio" / r["filename"]).resolve()
        clips.append(ManifestRow(
            id=Path(r["filename"]).stem, path=str(path),
            label=dense[target] if esc10 else target,
            label_name=r["category"], fold=as_int(meta, i + 2, r, "fold"),
            extra={"src_file": r["src_file"], "take": r["take"]},
        ))
    return with_durations(clips)


def prepare_esc50(
    corpus_dir: Path, out_dir: Path, *, esc10: bool = False, strict: bool = False,
    force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for ESC-50 after a completeness check; returns its path.

    The check (2000 rows, 50 classes of 40 clips, folds 1-5, every file present; ESC-10: 400,
    10, 40) warns, or raises AudiocsError with ``strict``.
    """
    corpus_dir, out_dir = Path(corpus_dir).resolve(), Path(out_dir)
    options = {"corpus": str(corpus_dir), "name": "esc50", "esc10": esc10}
    expected = Expected(400 if esc10 else 2000, 10 if esc10 else 50, 40, (1, 2, 3, 4, 5))
    clips = parse_esc50(corpus_dir, esc10=esc10)
    report(corpus_dir, completeness(clips, expected), strict=strict)
    return prepare_once(out_dir, options, clips, force=force)
