"""Train / validation / test rows of a cache from the `data` section: test folds are never used
to choose anything (checkpoints are picked on the validation rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiocs.config import Config, DataConfig
from audiocs.errors import AudiocsError


@dataclass(frozen=True)
class Splits:
    """Cache positions (int64 arrays) of each split, and one line saying how they were chosen."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    description: str

    def get(self, name: str) -> np.ndarray:
        if name not in ("train", "valid", "test"):
            raise AudiocsError(f"split {name!r}: expected train, valid or test")
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]


def previous_fold(folds: list[int], k: int) -> int:
    """The fold before k among `folds` (sorted), wrapping around: 1 -> the last fold."""
    order = sorted(folds)
    return order[order.index(k) - 1]


def _stratified_fraction(pool: np.ndarray, labels: np.ndarray, fraction: float,
                         seed: int) -> np.ndarray:
    """round(fraction * n_c) rows of each class c of `pool` (at least 1 when n_c >= 2), seeded."""
    rng = np.random.default_rng([seed, 20_231])
    chosen = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        take = int(round(fraction * len(members)))
        take = min(max(take, 1 if len(members) >= 2 else 0), len(members) - 1)
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def resolve_splits(folds: np.ndarray, labels: np.ndarray, data: DataConfig, seed: int,
                   copies: np.ndarray | None = None,
                   origins: np.ndarray | None = None) -> Splits:
    """Split cache rows by `data.test_folds`, `data.valid_split` and `data.train_folds`.

    `copies` marks augmented copies of other rows (speed, noise): they are trained on
    when their fold trains, and never validated or tested on. `origins` gives the row that each
    copy was made from (-1: none in the cache): a copy of a validation or test row is not
    trained on either, so that a row drawn for validation out of the training folds is unseen.
    """
    folds, labels = np.asarray(folds), np.asarray(labels)
    copies = np.zeros(len(folds), bool) if copies is None else np.asarray(copies, bool)
    origins = np.full(len(folds), -1) if origins is None else np.asarray(origins, np.int64)
    present = sorted(int(f) for f in np.unique(folds) if f != 0)
    for key, wanted in (("data.test_folds", data.test_folds), ("data.train_folds", data.train_folds),
                        ("data.valid_folds", data.valid_folds)):
        missing = sorted(set(wanted) - set(present))
        if missing:
            raise AudiocsError(f"{key}: folds {missing} are not in the cache (folds: {present})")
    is_test = np.isin(folds, data.test_folds)
    in_train_folds = np.isin(folds, data.train_folds) if data.train_folds else ~is_test
    if data.valid_split == "folds":
        if set(data.valid_folds) & set(data.test_folds):
            raise AudiocsError(f"data.valid_folds {data.valid_folds} overlap the test folds")
        is_valid = np.isin(folds, data.valid_folds)
        how = f"valid = folds {data.valid_folds}"
    elif data.valid_split == "previous_fold":
        if len(data.test_folds) != 1 or len(present) < 3:
            raise AudiocsError("data.valid_split = previous_fold needs one test fold (--fold k) "
                               f"and at least 3 folds (folds: {present}, test: {data.test_folds})")
        prev = previous_fold(present, data.test_folds[0])
        is_valid = folds == prev
        how = f"valid = fold {prev} (the fold before the test fold)"
    else:
        pool = np.flatnonzero(in_train_folds & ~is_test & ~copies)
        is_valid = np.zeros(len(folds), bool)
        is_valid[_stratified_fraction(pool, labels, data.valid_fraction, seed)] = True
        how = f"valid = {data.valid_fraction:g} of the training rows (stratified)"
    held_out = is_valid | is_test
    of_held_out = (origins >= 0) & held_out[np.maximum(origins, 0)]
    train = np.flatnonzero(in_train_folds & ~held_out & ~of_held_out)
    if train.size == 0:
        raise AudiocsError(f"data: no training rows left ({how}, test folds {data.test_folds})")
    test_how = f"test = folds {data.test_folds}" if data.test_folds else "no test rows"
    valid, test = np.flatnonzero(is_valid & ~copies), np.flatnonzero(is_test & ~copies)
    return Splits(train, valid, test,
                  f"train = {train.size} rows; {how} ({valid.size} rows); {test_how}")


def apply_fold(cfg: Config, fold: int) -> None:
    """`--fold k`: test on fold k, train on the others (validation per `data.valid_split`)."""
    if cfg.data.valid_split == "folds" and fold in cfg.data.valid_folds:
        raise AudiocsError(f"--fold {fold}: it is one of data.valid_folds {cfg.data.valid_folds}")
    cfg.data.test_folds = [fold]
    if fold in cfg.data.train_folds:
        cfg.data.train_folds = [f for f in cfg.data.train_folds if f != fold]
