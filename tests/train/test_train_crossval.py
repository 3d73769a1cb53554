"""`audiocs crossval`: each fold in exp/fold<k>, tested on fold k, a mean +- std table; re-runs
skip finished folds and resume unfinished ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_config

from audiocs.cli import main
from audiocs.config import load_config


@pytest.mark.slow
def test_crossval_runs_folds_and_resumes(tmp_path: Path, tone_cache: Path, capsys) -> None:
    config = write_config(tmp_path / "conf.yaml", tone_cache, train={"epochs": 2})
    exp = tmp_path / "cv"
    argv = ["crossval", "--config", str(config), "--exp-dir", str(exp), "--folds", "1", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = json.loads((exp / "crossval.json").read_text())
    accs = [json.loads((exp / f"fold{k}" / "eval" / "test" / "metrics.json").read_text())[
        "accuracy"] for k in (1, 2)]
    assert [f["fold"] for f in summary["folds"]] == [1, 2]
    assert summary["accuracy_mean"] == pytest.approx(np.mean(accs))
    assert summary["accuracy_std"] == pytest.approx(np.std(accs))
    assert (exp / "crossval.md").read_text() in out
    for k in (1, 2):  # fold k is the test fold, and validation is the fold before it
        cfg = load_config(exp / f"fold{k}" / "config.yaml")
        assert cfg.data.test_folds == [k] and cfg.data.valid_split == "previous_fold"
        assert f"valid = fold {5 if k == 1 else 1}" in out

    (exp / "fold2" / "eval" / "test" / "metrics.json").unlink()  # as if killed before testing
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fold 1: finished earlier" in out
    assert "resuming at epoch 3, batch 0" in out  # fold 2 is not trained again
    assert json.loads((exp / "crossval.json").read_text()) == summary
