"""Checkpoints and configs are untrusted: opening one never runs its code; old or partial
checkpoints give a one-line AudiocsError."""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from audiocs import __version__
from audiocs.checkpoint import CHECKPOINT_FORMAT, build_modules, model_meta, save_checkpoint
from audiocs.config import Config, load_config
from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings
from audiocs.runner import load_for_inference

N_FEATURES = 16


class CreatesFile:
    """Unpickling this object opens `path` for writing, i.e. creates the marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (builtins.open, (str(self.path), "w"))


def _meta() -> dict:
    cfg = Config()
    cfg.model.name, cfg.model.embed_dim, cfg.model.kwargs = "vgg_small", 8, {"width": 4}
    return model_meta(cfg, n_features=N_FEATURES, class_names=["a", "b", "c"],
                      settings=FeatureSettings(n_mels=N_FEATURES), mean=np.zeros(N_FEATURES),
                      std=np.ones(N_FEATURES))


def _state(meta: dict) -> dict:
    model, classifier, _ = build_modules(meta)
    return {"meta": meta, "model": model.state_dict(), "classifier": classifier.state_dict(),
            "epoch": 1}


def test_the_crafted_payload_does_run_code_under_plain_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps({"model": CreatesFile(marker)}))["model"].close()
    assert marker.exists()  # so its absence below means the loader refused it


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_whose_unpickling_runs_code_is_refused(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "marker"
    state = {**_state(_meta()), "model": CreatesFile(marker)}
    ckpt = tmp_path / "exp" / "checkpoints" / "best.pt"
    ckpt.parent.mkdir(parents=True)
    if writer == "torch.save":
        torch.save(state, ckpt)  # zip archive with the payload inside data.pkl
    else:
        with open(ckpt, "wb") as f:
            pickle.dump(state, f, protocol=2)
    with pytest.raises(AudiocsError, match=f"{ckpt}: not a readable checkpoint"):
        load_for_inference(tmp_path / "exp")
    assert not marker.exists()


def test_config_yaml_with_python_tags_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "config.yaml"
    path.write_text(f"data:\n  cache_dir: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    with pytest.raises(AudiocsError, match=f"{path}: not a readable YAML config"):
        load_config(path)
    assert not marker.exists()


def test_meta_records_version_and_format(tmp_path: Path) -> None:
    meta = _meta()
    assert meta["audiocs_version"] == __version__ and meta["format"] == CHECKPOINT_FORMAT
    save_checkpoint(_state(meta), tmp_path / "ok.pt")
    assert load_for_inference(tmp_path / "ok.pt").class_names == ["a", "b", "c"]


def test_checkpoint_of_another_format_is_refused(tmp_path: Path) -> None:
    meta = {**_meta(), "format": CHECKPOINT_FORMAT + 1, "audiocs_version": "9.0.0"}
    save_checkpoint(_state(meta), tmp_path / "new.pt")
    with pytest.raises(AudiocsError, match=rf"new.pt: checkpoint format {CHECKPOINT_FORMAT + 1} "
                                           r"\(written by audiocs 9.0.0\).*reads format"):
        load_for_inference(tmp_path / "new.pt")


@pytest.mark.parametrize("drop", ["feature_settings", "audiocs_version", "mean", "classifier"])
def test_checkpoint_with_missing_fields_is_refused(tmp_path: Path, drop: str) -> None:
    state = _state(_meta())
    if drop in state:
        del state[drop]
    else:
        del state["meta"][drop]
    save_checkpoint(state, tmp_path / "part.pt")
    with pytest.raises(AudiocsError, match=rf"part.pt: checkpoint lacks (meta\.)?{drop} "):
        load_for_inference(tmp_path / "part.pt")


def test_normalization_stats_of_the_wrong_size_are_refused(tmp_path: Path) -> None:
    meta = {**_meta(), "mean": torch.zeros(N_FEATURES + 1)}
    save_checkpoint(_state(meta), tmp_path / "bad.pt")
    with pytest.raises(AudiocsError, match="bad.pt: normalization stats .* do not fit 16 features"):
        load_for_inference(tmp_path / "bad.pt")
