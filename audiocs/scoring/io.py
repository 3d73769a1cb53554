"""Embedding sets on disk: `embeddings.npy` (N, D float32, L2-normalized) + `index.csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write

EMBEDDINGS_FILE = "embeddings.npy"
INDEX_FILE = "index.csv"
INDEX_COLUMNS = ("id", "label", "label_name", "speaker")


@dataclass(frozen=True)
class EmbeddingSet:
    """Embeddings (N, D) float32 with per-row id, integer label, label name and speaker."""

    ids: list[str]
    vectors: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    speakers: list[str]
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self) -> dict[str, int]:
        """Map id -> row."""
        return {x: i for i, x in enumerate(self.ids)}

    def keys(self, by: str) -> list[str]:
        """Per-row grouping key: the speaker (by='speaker') or the label name (by='label')."""
        if by == "speaker":
            missing = [i for i, s in enumerate(self.speakers) if not s]
            if missing:
                lines = ", ".join(str(i + 2) for i in missing[:5])
                raise AudiocsError(f"{self.source}: empty speaker at index.csv line(s) {lines}; "
                                   "use --by label or fill the speaker column")
            return list(self.speakers)
        if by == "label":
            return [n if n else str(lab) for n, lab in zip(self.label_names, self.labels.tolist())]
        raise AudiocsError(f"unknown grouping {by!r}: expected 'speaker' or 'label'")

    def subset(self, rows: np.ndarray) -> EmbeddingSet:
        """The rows `rows` (K,) of this set, in that order."""
        r = rows.tolist()
        return EmbeddingSet([self.ids[i] for i in r], self.vectors[rows], self.labels[rows],
                            [self.label_names[i] for i in r], [self.speakers[i] for i in r], self.source)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of `x` (N, D) scaled to unit L2 norm (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _bad_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with NaN/inf values, and rows of zero norm."""
    finite = np.isfinite(vectors).all(axis=1)
    zero = finite & (np.abs(vectors).max(axis=1, initial=0.0) == 0)
    return np.flatnonzero(~finite), np.flatnonzero(zero)


def validate_embeddings(es: EmbeddingSet) -> None:
    """Raise AudiocsError for duplicate ids, NaN/inf or all-zero rows (naming index.csv lines)."""
    seen: dict[str, int] = {}
    dups = []
    for i, x in enumerate(es.ids):
        if x in seen:
            dups.append(f"lines {seen[x] + 2} and {i + 2} ({x!r})")
        else:
            seen[x] = i
    if dups:
        raise AudiocsError(f"{es.source}: duplicate id in {INDEX_FILE}: " + "; ".join(dups[:5])
                           + (f" and {len(dups) - 5} more" if len(dups) > 5 else ""))
    nonfinite, zero = _bad_rows(es.vectors)
    for rows, what in ((nonfinite, "NaN/inf values"), (zero, "an all-zero vector")):
        if len(rows):
            where = ", ".join(f"{r + 2} ({es.ids[r]!r})" for r in rows[:5].tolist())
            raise AudiocsError(f"{es.source}: {len(rows)} embedding(s) with {what}, "
                               f"{INDEX_FILE} line(s) {where}")


def read_embeddings(directory: str | Path) -> EmbeddingSet:
    """Read and validate `embeddings.npy` + `index.csv` from `directory`."""
    d = Path(directory)
    npy, idx = d / EMBEDDINGS_FILE, d / INDEX_FILE
    for p in (npy, idx):
        if not p.is_file():
            raise AudiocsError(f"{p}: not found (an embeddings folder holds {EMBEDDINGS_FILE} and {INDEX_FILE})")
    try:
        vectors = np.load(npy, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise AudiocsError(f"{npy}: not a readable .npy array ({err})") from None
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise AudiocsError(f"{npy}: expected a 2-D float array, got shape {vectors.shape} {vectors.dtype}")
    ids, labels, names, speakers = [], [], [], []
    with open(idx, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("id", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise AudiocsError(f"{idx}: missing column(s) {', '.join(missing)} (have {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            try:
                labels.append(int(row["label"]))
            except (TypeError, ValueError):
                raise AudiocsError(f"{idx} line {line}: label {row['label']!r} is not an integer") from None
            if not row["id"]:
                raise AudiocsError(f"{idx} line {line}: empty id")
            ids.append(row["id"])
            names.append(row.get("label_name") or "")
            speakers.append(row.get("speaker") or "")
    if len(ids) != len(vectors):
        raise AudiocsError(f"{d}: {INDEX_FILE} has {len(ids)} rows but {EMBEDDINGS_FILE} has {len(vectors)}")
    es = EmbeddingSet(ids, np.ascontiguousarray(vectors, dtype=np.float32),
                      np.asarray(labels, dtype=np.int64), names, speakers, source=str(d))
    validate_embeddings(es)
    return es


def fuse_embeddings(sets: Sequence[EmbeddingSet]) -> EmbeddingSet:
    """One embedding per id from several models' sets of the same clips (embedding-level fusion).

    Each member's rows are scaled to unit length and concatenated, then divided by sqrt(M), so
    each fused row has unit length and its cosine with another is the mean of the M members'
    cosines. Every set must hold the same ids with the same label and speaker; rows follow the
    first set's order.
    """
    if not sets:
        raise AudiocsError("no embedding sets to fuse")
    first = sets[0]
    parts = []
    for es in sets:
        rows = es.row_of()
        missing = [x for x in first.ids if x not in rows]
        extra = len(es) - (len(first) - len(missing))
        if missing or extra:
            detail = f"{len(missing)} id(s) of {first.source} missing (e.g. {missing[0]!r})" if missing \
                else f"{extra} id(s) not in {first.source}"
            raise AudiocsError(f"{es.source}: cannot fuse with {first.source}: {detail}")
        order = np.asarray([rows[x] for x in first.ids], dtype=np.int64)
        other = es.subset(order)
        for name, a, b in (("label", first.labels.tolist(), other.labels.tolist()),
                           ("speaker", first.speakers, other.speakers)):
            bad = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
            if bad is not None:
                raise AudiocsError(f"{es.source}: id {first.ids[bad]!r} has {name} {b[bad]!r}, "
                                   f"{first.source} has {a[bad]!r}")
        parts.append(l2_normalize(other.vectors))
    vectors = np.concatenate(parts, axis=1) / np.float32(np.sqrt(len(sets)))
    return EmbeddingSet(list(first.ids), vectors, first.labels.copy(), list(first.label_names),
                        list(first.speakers), source="+".join(es.source for es in sets))


def write_embeddings(directory: str | Path, es: EmbeddingSet, *, ark: bool = False) -> Path:
    """Write `es` (rows L2-normalized) atomically to `directory`; `ark=True` adds Kaldi embeddings.ark/.scp."""
    validate_embeddings(es)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    vectors = l2_normalize(es.vectors)
    with atomic_write(d / EMBEDDINGS_FILE, "wb") as f:
        np.save(f, vectors)
    if ark:
        write_kaldi(d, es.ids, vectors)
    # index.csv last: a reader checks its rows against embeddings.npy
    with atomic_write(d / INDEX_FILE, newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INDEX_COLUMNS)
        w.writerows(zip(es.ids, es.labels.tolist(), es.label_names, es.speakers))
    return d


def write_kaldi(directory: Path, ids: list[str], vectors: np.ndarray) -> None:
    """Write `embeddings.ark` + `embeddings.scp` (Kaldi float vectors keyed by id) atomically."""
    import kaldiio

    bad = [x for x in ids if not x or any(c.isspace() for c in x)]
    if bad:
        raise AudiocsError(f"Kaldi ark keys cannot contain whitespace: {bad[:3]}")
    ark = directory / "embeddings.ark"
    scp = io.StringIO()
    with atomic_write(ark, "wb") as f:
        kaldiio.save_ark(f, dict(zip(ids, vectors)), scp=scp)
    with atomic_write(directory / "embeddings.scp", encoding="utf-8") as f:
        for line in scp.getvalue().splitlines():
            key, where = line.split(" ", 1)
            f.write(f"{key} {ark}:{where.rsplit(':', 1)[1]}\n")
