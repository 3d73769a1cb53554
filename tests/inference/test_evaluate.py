"""Evaluation metrics and tables against hand-computed values; figures are written as PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiocs.evaluate import classification_metrics
from audiocs.plots import plot_confusion, plot_training_curves
from audiocs.train.crossval import FoldResult, crossval_table


def test_classification_metrics_by_hand() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 0, 0])
    m = classification_metrics(labels, predicted, num_classes=4)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["confusion"].tolist() == [[2, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert m["per_class_accuracy"][:3] == pytest.approx([2 / 3, 1 / 2, 0.0])
    assert np.isnan(m["per_class_accuracy"][3])  # no clip of class 3
    # F1: class 0 P=2/4 R=2/3 -> 4/7; class 1 P=1/2 R=1/2 -> 1/2; classes 2 and 3: 0
    assert m["macro_f1"] == pytest.approx((4 / 7 + 1 / 2) / 4)


def test_crossval_table_mean_and_std() -> None:
    results = [FoldResult(1, 0.8, 0.7, 10), FoldResult(2, 0.6, 0.5, 10), FoldResult(3, 1.0, 0.9, 5)]
    table, summary = crossval_table(results)
    assert summary["accuracy_mean"] == pytest.approx(0.8)
    assert summary["accuracy_std"] == pytest.approx(np.sqrt((0.04 + 0.04) / 3))
    assert summary["macro_f1_mean"] == pytest.approx(0.7)
    assert "| mean +- std | 25 | 0.8000 +- 0.1633 | 0.7000 +- 0.1633 |" in table
    assert json.loads(json.dumps(summary))["folds"][2]["fold"] == 3


def test_figures_are_png(tmp_path: Path) -> None:
    plot_confusion(np.array([[3, 1], [0, 4]]), ["dog", "rain"], tmp_path / "c.png")
    history = [{"epoch": 1, "train_loss": 2.0, "train_acc": 0.4, "valid_acc": 0.5},
               {"epoch": 2, "train_loss": 1.0, "train_acc": 0.8, "valid_acc": 0.75}]
    plot_training_curves(history, tmp_path / "curves.png")
    for name in ("c.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "curves.png"]
