"""Training config: YAML + dotted overrides into typed dataclasses; bad keys/types name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ROOT
from audiocs.config import Config, config_from_dict, config_to_dict, config_to_yaml, load_config
from audiocs.errors import AudiocsError

EXAMPLE = ROOT / "recipes" / "conf_examples" / "train_small.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides_merge_with_types(tmp_path: Path) -> None:
    path = _write(tmp_path, "data: {cache_dir: /c, batch_size: 8}\noptim: {name: adamw, lr: 0.001}\n")
    cfg = load_config(path, ["train.epochs=3", "data.test_folds=[2]", "model.kwargs.width=8"])
    assert isinstance(cfg, Config)
    assert (cfg.data.cache_dir, cfg.data.batch_size, cfg.optim.name) == ("/c", 8, "adamw")
    assert cfg.optim.lr == pytest.approx(0.001)
    assert cfg.train.epochs == 3 and cfg.data.test_folds == [2]
    assert cfg.model.kwargs == {"width": 8}
    assert cfg.schedule.decay == "cosine"  # a default kept


def test_round_trip_through_yaml_and_dict(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "data: {cache_dir: /c}\nloss: {name: am_softmax, margin: 0.3}\n"))
    again = load_config(_write(tmp_path, config_to_yaml(cfg)))
    assert again == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("text, key", [
    ("data: {cache_dir: /c, batch_sise: 8}\n", "data.batch_sise"),
    ("data: {cache_dir: /c}\ntrainer: {epochs: 3}\n", "trainer"),
    ("data: {cache_dir: /c}\ntrain: {epochs: ten}\n", "train.epochs"),
    ("data: {cache_dir: /c, test_folds: [1, x]}\n", "data.test_folds[1]"),
])
def test_unknown_key_or_wrong_type_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(AudiocsError, match=re.escape(f"{path}: config key '{key}'")):
        load_config(path)


@pytest.mark.parametrize("override, key", [
    ("optim.name=adam", "optim.name"),
    ("train.amp=fp8", "train.amp"),
    ("data.batch_size=0", "data.batch_size"),
    ("eval.mode=chunks", "eval.mode"),
])
def test_bad_values_name_the_key(tmp_path: Path, override: str, key: str) -> None:
    with pytest.raises(AudiocsError, match=key):
        load_config(_write(tmp_path, "data: {cache_dir: /c}\n"), [override])


def test_override_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, "data: {cache_dir: /c}\n")
    with pytest.raises(AudiocsError, match="key=value"):
        load_config(path, ["train.epochs"])
    with pytest.raises(AudiocsError, match="train.epoch"):
        load_config(path, ["train.epoch=3"])
    with pytest.raises(AudiocsError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(AudiocsError, match="data.cache_dir is not set"):
        load_config(_write(tmp_path, "train: {epochs: 2}\n"))


def test_example_config_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.model.name == "vgg_small" and cfg.train.checkpoint_every_steps > 0


def test_example_config_lists_every_key() -> None:
    """recipes/conf_examples/train_small.yaml shows every key of every section."""
    import dataclasses

    import yaml

    from audiocs.config import Config

    example = yaml.safe_load(EXAMPLE.read_text())
    missing = [f"{section.name}.{key.name}" for section in dataclasses.fields(Config)
               for key in dataclasses.fields(section.default_factory())
               if key.name not in (example.get(section.name) or {})]
    assert missing == []
