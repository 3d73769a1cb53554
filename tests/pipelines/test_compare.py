"""The loss comparison end to end on tiny generated corpora: tuning on validation only, the
chosen setting's other seeds, the test of each run, resuming, sharding and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from helpers import SETTINGS, SR, tone_clip

import audiocs.train.loop as loop
from audiocs.cache_build import build_cache
from audiocs.compare import load_plan, main, read_units, run
from audiocs.config import load_config
from audiocs.errors import AudiocsError
from audiocs.manifest import ManifestRow

PNG = b"\x89PNG\r\n\x1a\n"


def _write(path: Path, x: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(x, -1, 1), SR, subtype="PCM_16")
    return str(path)


def _classes_cache(root: Path) -> Path:
    """3 folds x 3 tone classes x 3 clips."""
    rng = np.random.default_rng(0)
    rows = [ManifestRow(id=f"c{label}_{fold}_{j}", label=label, label_name=f"class{label}",
                        fold=fold, duration=0.5,
                        path=_write(root / f"c{label}_{fold}_{j}.wav", tone_clip(label, rng)))
            for fold in (1, 2, 3) for label in range(3) for j in range(3)]
    build_cache(rows, root / "cache", SETTINGS, workers=1, progress=False)
    return root / "cache"


def _speakers_cache(root: Path) -> Path:
    """6 'speakers' (a pitch each), 2 per fold, 4 clips each: whole speakers in folds 1-3."""
    rng = np.random.default_rng(1)
    t = np.arange(SR // 2) / SR
    rows = []
    for spk in range(6):
        for j in range(4):
            x = 0.3 * np.sin(2 * np.pi * (300 + 350 * spk) * rng.uniform(0.97, 1.03) * t)
            x += 0.02 * rng.standard_normal(t.size)
            rows.append(ManifestRow(id=f"s{spk}_{j}", label=spk, label_name=f"spk{spk}",
                                    fold=1 + spk // 2, speaker=f"spk{spk}", duration=0.5,
                                    path=_write(root / f"s{spk}_{j}.wav", x)))
    build_cache(rows, root / "cache", SETTINGS, workers=1, progress=False)
    return root / "cache"


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    config = {"data": {"crop_frames": 16, "batch_size": 4, "valid_split": "fraction",
                       "valid_fraction": 0.25},
              "model": {"name": "vgg_small", "embed_dim": 16, "kwargs": {"width": 4}},
              "optim": {"name": "adamw", "lr": 0.01},
              "train": {"epochs": 1, "progress": False, "checkpoint_every_steps": 0}}
    (root / "train.yaml").write_text(yaml.safe_dump(config))
    plan = {"losses": {"softmax": [], "cs_softmax": ["loss.margin=0.25,0.4"]},
            "seeds": [0, 1],
            "tasks": {"digits": {"kind": "classification", "config": "train.yaml",
                                 "cache": str(_classes_cache(root / "cls")), "folds": [1, 2, 3]},
                      "voices": {"kind": "verification", "config": "train.yaml",
                                 "cache": str(_speakers_cache(root / "spk")),
                                 "folds": [1, 2, 3]}}}
    (root / "plan.yaml").write_text(yaml.safe_dump(plan))
    return root / "plan.yaml"


@pytest.mark.slow
def test_comparison_end_to_end(plan_path: Path, tmp_path: Path, monkeypatch) -> None:
    plan = load_plan(plan_path)
    exp = tmp_path / "exp"
    # two shards share the units without overlap
    shards = [plan.units()[i::2] for i in range(2)]
    assert sorted(map(str, shards[0] + shards[1])) == sorted(map(str, plan.units()))
    assert run(plan, exp, (0, 2), log=lambda _: None) == len(shards[0])
    assert len(read_units(plan, exp)) == len(shards[0])
    run(plan, exp, (1, 2), log=lambda _: None)
    units = read_units(plan, exp)
    assert len(units) == 2 * 3 * 2

    for u in units:
        tuning = u["tuning"]
        assert len(tuning) == (2 if u["loss"] == "cs_softmax" else 1)
        metric = "valid_acc" if u["kind"] == "classification" else "eer"
        best = (max if metric == "valid_acc" else min)(r[metric] for r in tuning)
        assert u["runs"][0][metric] == best and u["chosen"] == u["runs"][0]["setting"]
        assert [r["seed"] for r in u["runs"]] == [0, 1]
        assert all(r["setting"] == u["chosen"] for r in u["runs"])
        k = u["fold"]
        prev = {1: 3, 2: 1, 3: 2}[k]
        for r in tuning + u["runs"]:
            cfg = load_config(exp / u["task"] / f"fold{k}" / u["loss"] / r["run"] / "config.yaml")
            assert cfg.data.test_folds == [k]
            if u["kind"] == "classification":  # validation = the fold before k
                assert cfg.data.valid_split == "previous_fold"
            else:  # trained on the third fold only; validated (EER) on the fold before k
                assert cfg.data.train_folds == [f for f in (1, 2, 3) if f not in (k, prev)]
        for t in u["tests"]:
            if u["kind"] == "classification":
                assert t["clips"] == 9 and 0 <= t["accuracy"] <= 1
            else:  # all pairs of the 8 clips of the test fold's 2 speakers
                assert t["trials"] == 28 and t["targets"] == 12
                assert 0 <= t["eer"] <= 100 and 0 <= t["eer_asnorm"] <= 100

    # a re-run trains nothing
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(loop, "train", no_training)
    run(plan, exp, (0, 1), log=lambda _: None)

    assert main(["report", "--plan", str(plan_path), "--exp", str(exp)]) == 0
    result = json.loads((exp / "results.json").read_text())
    for name in ("digits", "voices"):
        task = result["tasks"][name]
        assert task["finished_units"] == task["expected_units"] == 6
        assert set(task["losses"]) == {"softmax", "cs_softmax"}
        acc = task["losses"]["softmax"]["accuracy" if name == "digits" else "eer"]
        low, high = acc["ci95"]
        assert low <= acc["mean"] <= high
        assert task["paired"]["softmax"][
            "accuracy" if name == "digits" else "eer"]["pairs"] == 6
        for fig in ("margins", "cosines"):
            assert (exp / "figures" / f"{name}_{fig}.png").read_bytes()[:8] == PNG
    text = (exp / "results.md").read_text()
    assert "| cs_softmax |" in text and "Wilcoxon" in text and "Incomplete" not in text
    # every distinct run once: 3 folds x (softmax 2 seeds + cs_softmax 2 settings + 1 seed)
    assert text.count("15 training runs, ") == 2


def test_plans_must_give_every_loss_the_same_budget(tmp_path: Path) -> None:
    bad = {"losses": {"am_softmax": ["loss.margin=0.1,0.2"], "cs_softmax": ["loss.margin=0.1"]},
           "seeds": [0], "tasks": {}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(AudiocsError, match="same tuning budget"):
        load_plan(tmp_path / "plan.yaml")
    (tmp_path / "plan.yaml").write_text("losses: [1, 2]\n")
    with pytest.raises(AudiocsError, match="not a comparison plan"):
        load_plan(tmp_path / "plan.yaml")
    with pytest.raises(AudiocsError, match="expected i/n"):
        (tmp_path / "ok.yaml").write_text(yaml.safe_dump({**bad, "losses": {"softmax": []}}))
        main(["run", "--plan", str(tmp_path / "ok.yaml"), "--exp", str(tmp_path), "--shard", "1"])
