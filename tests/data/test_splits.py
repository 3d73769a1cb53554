"""Train / validation / test rows: folds, previous fold, stratified fraction, augmented copies."""

from __future__ import annotations

import numpy as np
import pytest

from audiocs.config import DataConfig
from audiocs.errors import AudiocsError
from audiocs.splits import resolve_splits

# 12 rows: folds 1-3, four rows each; rows 8-11 are speed copies (two of fold 1, two of fold 3)
FOLDS = np.array([1, 1, 2, 2, 3, 3, 1, 2, 1, 1, 3, 3])
LABELS = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
COPIES = np.arange(12) >= 8


def test_copies_train_with_their_fold_and_are_never_tested_or_validated():
    s = resolve_splits(FOLDS, LABELS, DataConfig(test_folds=[1], valid_split="folds", valid_folds=[2]),
                       0, COPIES)
    assert s.test.tolist() == [0, 1, 6]  # not the fold-1 copies 8 and 9, nor trained on
    assert s.valid.tolist() == [2, 3, 7]
    assert s.train.tolist() == [4, 5, 10, 11]
    prev = resolve_splits(FOLDS, LABELS, DataConfig(test_folds=[3], valid_split="previous_fold"),
                          0, COPIES)
    assert (prev.test.tolist(), prev.valid.tolist(), prev.train.tolist()) == (
        [4, 5], [2, 3, 7], [0, 1, 6, 8, 9])


def test_fraction_validation_draws_originals_only():
    data = DataConfig(test_folds=[2], valid_split="fraction", valid_fraction=0.34)
    s = resolve_splits(FOLDS, LABELS, data, 0, COPIES)
    assert len(s.valid) == 2 and not COPIES[s.valid].any()  # one row of each class, no copy
    assert sorted(s.train.tolist() + s.valid.tolist()) == [0, 1, 4, 5, 6, 8, 9, 10, 11]
    assert s.test.tolist() == [2, 3, 7]
    without = resolve_splits(FOLDS, LABELS, data, 0)  # no copies marked: all rows are originals
    assert without.test.tolist() == [2, 3, 7] and len(without.train) + len(without.valid) == 9


def test_missing_fold_is_named():
    with pytest.raises(AudiocsError, match=r"data.test_folds: folds \[4\]"):
        resolve_splits(FOLDS, LABELS, DataConfig(test_folds=[4]), 0, COPIES)


def test_a_copy_of_a_held_out_row_is_not_trained_on():
    # rows 8-11 are copies of rows 0, 1, 4 and 5 (same fold and label); -1: not a copy
    origins = np.array([-1] * 8 + [0, 1, 4, 5])
    data = DataConfig(test_folds=[2], valid_split="fraction", valid_fraction=0.34)
    base = resolve_splits(FOLDS, LABELS, data, 0, COPIES)
    s = resolve_splits(FOLDS, LABELS, data, 0, COPIES, origins)
    assert (s.valid.tolist(), s.test.tolist()) == (base.valid.tolist(), base.test.tolist())
    held_out = set(s.valid.tolist()) | set(s.test.tolist())
    dropped = {i for i in range(8, 12) if origins[i] in held_out}
    assert dropped and set(s.train.tolist()) == set(base.train.tolist()) - dropped
    assert not any(origins[i] in held_out for i in s.train)
    # a copy lies in its source's fold: with whole folds held out, origins change nothing
    folds = resolve_splits(FOLDS, LABELS, DataConfig(test_folds=[1], valid_split="folds",
                                                     valid_folds=[2]), 0, COPIES, origins)
    assert folds.train.tolist() == [4, 5, 10, 11]
