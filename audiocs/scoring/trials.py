"""Verification trial lists: read/write VoxCeleb-style files, generate them from labeled embeddings."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.scoring.io import EmbeddingSet

_WORDS = {"target": 1, "nontarget": 0}
_FORMS = "'1|0 enroll test', 'enroll test target|nontarget' or 'enroll test'"


@dataclass(frozen=True)
class Trials:
    """Trial pairs: enroll/test ids, labels (T,) int8 (1 target, 0 non-target, -1 unknown), source lines (T,)."""

    enroll: list[str]
    test: list[str]
    labels: np.ndarray
    lines: np.ndarray
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.enroll)

    @property
    def labeled(self) -> bool:
        """True when every trial has a target/non-target label."""
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


def _parse_line(parts: list[str]) -> tuple[str, str, int] | None:
    """(enroll, test, label) of one split line, or None when it matches no known form."""
    if len(parts) == 3 and parts[0] in ("0", "1"):
        return parts[1], parts[2], int(parts[0])
    if len(parts) == 3 and parts[2] in _WORDS:
        return parts[0], parts[1], _WORDS[parts[2]]
    if len(parts) == 2:
        return parts[0], parts[1], -1
    return None


def read_trials(path: str | Path) -> Trials:
    """Read a trial list; blank lines and '#' comments are skipped; malformed lines are named."""
    path = Path(path)
    if not path.is_file():
        raise AudiocsError(f"{path}: trial list not found")
    enroll, test, labels, lines, bad = [], [], [], [], []
    with open(path, encoding="utf-8") as f:
        for n, text in enumerate(f, start=1):
            parts = text.split()
            if not parts or parts[0].startswith("#"):
                continue
            parsed = _parse_line(parts)
            if parsed is None:
                bad.append(n)
                continue
            enroll.append(parsed[0])
            test.append(parsed[1])
            labels.append(parsed[2])
            lines.append(n)
    if bad:
        raise AudiocsError(f"{path}: {len(bad)} malformed line(s), at line {_first(bad)}; expected {_FORMS}")
    if not enroll:
        raise AudiocsError(f"{path}: no trials in file")
    return Trials(enroll, test, np.asarray(labels, np.int8), np.asarray(lines, np.int64), str(path))


def _first(items: list, k: int = 5) -> str:
    """'a, b, c' for the first k items, '... and N more' after."""
    head = ", ".join(str(x) for x in items[:k])
    return head + (f" ... and {len(items) - k} more" if len(items) > k else "")


def write_trials(trials: Trials, path: str | Path) -> Path:
    """Write `trials` atomically: '1|0 enroll test' lines, or 'enroll test' when unlabeled."""
    with atomic_write(path, encoding="utf-8") as f:
        if trials.labeled:
            f.writelines(f"{lab} {e} {t}\n" for lab, e, t in zip(trials.labels.tolist(), trials.enroll, trials.test))
        else:
            f.writelines(f"{e} {t}\n" for e, t in zip(trials.enroll, trials.test))
    return Path(path)


def resolve_trials(trials: Trials, row_of: dict[str, int], *, skip_missing: bool = False,
                   where: str = "the embeddings") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of enroll and test ids (K,) int64 and the kept trial positions (K,); missing ids raise or are skipped."""
    try:  # the common case, all ids present: C-level lookups
        e = np.array(list(map(row_of.__getitem__, trials.enroll)), np.int64)
        t = np.array(list(map(row_of.__getitem__, trials.test)), np.int64)
        return e, t, np.arange(len(trials))
    except KeyError:
        e = np.array([row_of.get(x, -1) for x in trials.enroll], np.int64)
        t = np.array([row_of.get(x, -1) for x in trials.test], np.int64)
    ok = (e >= 0) & (t >= 0)
    keep = np.flatnonzero(ok)
    if len(keep) < len(trials) and not skip_missing:
        bad = np.flatnonzero(~ok)[:5].tolist()
        named = [f"line {trials.lines[i]} ({(trials.enroll[i] if e[i] < 0 else trials.test[i])!r})" for i in bad]
        raise AudiocsError(f"{trials.source}: {len(trials) - len(keep)} trial(s) name ids missing from {where}: "
                           f"{_first(named)}; pass --skip-missing to score the rest")
    if not len(keep):
        raise AudiocsError(f"{trials.source}: no trial has both ids in {where}")
    return e[keep], t[keep], keep


def read_key_values(path: str | Path, by: str) -> set[str]:
    """The set of speaker (by='speaker') or label_name (by='label') values in a CSV (a manifest or index.csv)."""
    col = "speaker" if by == "speaker" else "label_name"
    path = Path(path)
    if not path.is_file():
        raise AudiocsError(f"{path}: not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if col not in (reader.fieldnames or []):
            raise AudiocsError(f"{path}: no {col!r} column (have {reader.fieldnames})")
        return {row[col] for row in reader if row[col]}


def _pair_from_flat(m: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode flat indices m of the pairs (i < j) of n items, row-major, into (i, j) (vectorized)."""
    m = m.astype(np.int64)
    n = np.broadcast_to(np.asarray(n, np.int64), m.shape)
    b = 2 * n - 1
    i = np.floor((b - np.sqrt(np.maximum(b.astype(np.float64) ** 2 - 8 * m, 0))) / 2).astype(np.int64)

    def start(k: np.ndarray) -> np.ndarray:  # number of pairs whose first item is < k
        return k * n - k * (k + 1) // 2

    for _ in range(2):  # fix float rounding at the edges
        i = np.where(start(i) > m, i - 1, i)
        i = np.where(start(i + 1) <= m, i + 1, i)
    return i, m - start(i) + i + 1


def _target_pairs(groups: list[np.ndarray], count: int | None, rng: np.random.Generator) -> np.ndarray:
    """(K, 2) item pairs within groups: all, or `count` drawn uniformly without replacement."""
    sizes = np.array([len(g) for g in groups], np.int64)
    per = sizes * (sizes - 1) // 2
    total = int(per.sum())
    flat = np.arange(total) if count is None or count >= total else np.sort(rng.choice(total, count, replace=False))
    offsets = np.concatenate([[0], np.cumsum(per)])
    g = np.searchsorted(offsets, flat, side="right") - 1
    i, j = _pair_from_flat(flat - offsets[g], sizes[g])
    members = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    first = np.concatenate([[0], np.cumsum(sizes)])[:-1]
    return np.stack([members[first[g] + i], members[first[g] + j]], axis=1)


def _nontarget_pairs(key: np.ndarray, count: int, rng: np.random.Generator, max_rounds: int = 200) -> np.ndarray:
    """(count, 2) distinct pairs i < j with key[i] != key[j], drawn uniformly by rejection."""
    n = len(key)
    total = n * (n - 1) // 2
    found = np.zeros(0, np.int64)
    for _ in range(max_rounds):
        flat = rng.integers(0, total, size=max(2 * (count - len(found)), 1024))
        i, j = _pair_from_flat(flat, n)
        flat = flat[key[i] != key[j]]
        found = np.concatenate([found, flat])
        _, first = np.unique(found, return_index=True)
        found = found[np.sort(first)]
        if len(found) >= count:
            return np.stack(_pair_from_flat(found[:count], n), axis=1)
    raise AudiocsError(f"could not draw {count} distinct non-target pairs; ask for fewer trials")


def generate_trials(es: EmbeddingSet, *, by: str = "speaker", num_trials: int | None = None, seed: int = 0,
                    include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                    max_all_pairs: int = 20_000_000) -> Trials:
    """Trials among the rows of `es` whose key (speaker or label) is in `include` and not in `exclude`.

    num_trials=None: all pairs i < j; else a seeded balanced sample (half target, half non-target).
    """
    keys = np.asarray(es.keys(by), dtype=object)
    keep = np.ones(len(es), bool)
    if include is not None:
        keep &= np.isin(keys, list(set(include)))
    if exclude is not None:
        keep &= ~np.isin(keys, list(set(exclude)))
    rows = np.flatnonzero(keep)
    _, key = np.unique(keys[rows], return_inverse=True) if len(rows) else (None, np.zeros(0, np.int64))
    if len(rows) < 2 or key.max() < 1:
        raise AudiocsError(f"{es.source}: need at least 2 {by}s with kept embeddings to make trials "
                           f"(kept {len(rows)} rows)")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(key == k) for k in range(int(key.max()) + 1)]
    if num_trials is None:
        n = len(rows)
        if n * (n - 1) // 2 > max_all_pairs:
            raise AudiocsError(f"{n} embeddings make {n * (n - 1) // 2} pairs (> {max_all_pairs}); "
                               "pass a number of trials for a balanced sample")
        i, j = np.triu_indices(n, k=1)
        pairs = np.stack([i, j], axis=1)
    else:
        if num_trials < 2:
            raise AudiocsError(f"number of trials must be >= 2, got {num_trials}")
        tgt = _target_pairs(groups, num_trials // 2, rng)
        if not len(tgt):
            raise AudiocsError(f"{es.source}: no {by} has two kept embeddings, so there are no target trials")
        non = _nontarget_pairs(key, num_trials - len(tgt), rng)
        pairs = np.concatenate([tgt, non])
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    labels = (key[pairs[:, 0]] == key[pairs[:, 1]]).astype(np.int8)
    a, b = rows[pairs[:, 0]].tolist(), rows[pairs[:, 1]].tolist()
    return Trials([es.ids[x] for x in a], [es.ids[x] for x in b], labels,
                  np.arange(1, len(labels) + 1, dtype=np.int64), source=f"trials from {es.source}")
