"""Bad input to `audiocs train/evaluate/crossval`: one-line errors naming the file or key, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers import write_config

from audiocs.cache import FeatureCache
from audiocs.checkpoint import build_modules, model_meta, save_checkpoint
from audiocs.cli import main
from audiocs.config import config_to_dict, load_config


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_missing_and_corrupt_cache(tmp_path: Path, tone_cache: Path, capsys) -> None:
    missing = tmp_path / "nocache"
    config = write_config(tmp_path / "a.yaml", missing)
    assert f"{missing}: no complete feature cache here (missing)" in _error(
        ["train", "--config", str(config), "--exp-dir", str(tmp_path / "e")], capsys)
    broken = tmp_path / "broken"
    shutil.copytree(tone_cache, broken)
    (broken / "stats.json").write_text("{not json")
    config = write_config(tmp_path / "b.yaml", broken)
    assert f"{broken}: corrupt feature cache" in _error(
        ["train", "--config", str(config), "--exp-dir", str(tmp_path / "e")], capsys)


def test_config_errors_name_the_key(tmp_path: Path, tone_cache: Path, capsys) -> None:
    config = write_config(tmp_path / "a.yaml", tone_cache)
    run = ["train", "--config", str(config), "--exp-dir", str(tmp_path / "e"), "--fold", "1"]
    assert "config key 'train.epochs'" in _error(run + ["--set", "train.epochs=many"], capsys)
    assert "config key 'optim.momentun'" in _error(run + ["--set", "optim.momentun=0.9"], capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  cache_dir: x\n  batch_size: [1, 2]\n")
    assert f"{bad}: config key 'data.batch_size'" in _error(
        ["train", "--config", str(bad)], capsys)
    assert "(model.name / model.kwargs): unknown model 'vgg_tiny'" in _error(
        run + ["--set", "model.name=vgg_tiny"], capsys)
    assert "(loss section): loss 'cs_softmax' has no parameter 'gamma'" in _error(
        run + ["--set", "loss.params.gamma=2"], capsys)
    assert "data.test_folds: folds [7]" in _error(run + ["--fold", "7"], capsys)
    assert not (tmp_path / "e").exists()  # nothing written for a run that cannot start


def _fake_run(exp: Path, config: Path, fold: int | None, **model: object) -> None:
    """An experiment folder whose best.pt holds an untrained model with `model` settings."""
    cfg = load_config(config, [f"data.test_folds=[{fold}]"] if fold else [])
    for key, value in model.items():
        setattr(cfg.model, key, value)
    cache = FeatureCache(cfg.data.cache_dir)
    meta = model_meta(cfg, n_features=cache.num_features, class_names=cache.class_names,
                      settings=cache.settings, mean=cache.mean, std=cache.std)
    net, head, _ = build_modules(meta)
    state = {"meta": meta, "model": net.state_dict(), "classifier": head.state_dict(),
             "epoch": 1, "step": 0, "config": config_to_dict(cfg)}
    save_checkpoint(state, exp / "checkpoints" / "best.pt")


def test_checkpoint_from_another_model_or_class_count(tmp_path: Path, tone_cache: Path,
                                                      capsys) -> None:
    config = write_config(tmp_path / "a.yaml", tone_cache)
    # a checkpoint of another model variant, dropped into a run that resumes
    exp = tmp_path / "exp"
    _fake_run(tmp_path / "other", config, 1, embed_dim=16)
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp),
                 "--set", "train.epochs=1"]) == 0
    capsys.readouterr()
    shutil.copy(tmp_path / "other" / "checkpoints" / "best.pt", exp / "checkpoints" / "last.pt")
    err = _error(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp),
                  "--set", "train.epochs=1", "--resume"], capsys)
    assert f"{exp / 'checkpoints' / 'last.pt'}: checkpoint model args" in err
    # evaluating on a cache with another class list
    three = tmp_path / "three"
    shutil.copytree(tone_cache, three)
    marker = (three / "cache.json").read_text().replace('"clicks"', '"clicks2"')
    (three / "cache.json").write_text(marker)
    assert f"{three}: the cache has classes" in _error(
        ["evaluate", "--exp-dir", str(exp), "--cache-dir", str(three)], capsys)
    assert "experiment folder not found" in _error(
        ["evaluate", "--exp-dir", str(exp), "--fold", "3"], capsys)
    torch.save({"x": 1}, exp / "checkpoints" / "best.pt")
    assert "not an audiocs training checkpoint" in _error(["evaluate", "--exp-dir", str(exp)],
                                                          capsys)


def test_evaluate_without_a_test_fold(tmp_path: Path, tone_cache: Path, capsys) -> None:
    config = write_config(tmp_path / "a.yaml", tone_cache, data={"valid_split": "fraction"})
    _fake_run(tmp_path / "exp", config, None)  # trained without --fold: no test rows
    assert "the test split is empty" in _error(["evaluate", "--exp-dir", str(tmp_path / "exp")],
                                               capsys)


@pytest.mark.parametrize("argv", [["crossval", "--config", "CONF", "--exp-dir", "X",
                                   "--folds", "9"]])
def test_crossval_bad_folds(tmp_path: Path, tone_cache: Path, capsys, argv: list[str]) -> None:
    config = write_config(tmp_path / "a.yaml", tone_cache)
    argv = [str(config) if a == "CONF" else str(tmp_path / "cv") if a == "X" else a for a in argv]
    assert "folds [9] requested" in _error(argv, capsys)
