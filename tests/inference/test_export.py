"""`audiocs export`: ONNX (onnxruntime) and TorchScript embeddings equal `model.embed` on real clips,
from features and from waveforms, for several batch sizes and clip lengths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import audiocs
from audiocs.audio import load_audio
from audiocs.checkpoint import build_modules, model_meta, save_checkpoint
from audiocs.cli import main
from audiocs.config import Config
from audiocs.features import FeatureSettings, compute_features

ort = pytest.importorskip("onnxruntime", reason="the export extra (onnx, onnxruntime) is not installed")


def _clips(real_data: Path) -> list[Path]:
    """Two FSDD digits (8 kHz, different lengths) and two ESC-50 clips (44.1 kHz, 5 s)."""
    fsdd = real_data / "fsdd" / "recordings"
    esc = sorted((real_data / "esc50-sample" / "audio").glob("*.wav"))
    return [fsdd / "0_george_0.wav", fsdd / "7_jackson_12.wav", *esc[:2]]


@pytest.fixture(scope="module")
def real_exp(tmp_path_factory, real_data) -> Path:
    """A 16 kHz log-mel vgg_small checkpoint with normalization stats of the real clips and
    randomized BatchNorm statistics (so no layer is the identity)."""
    settings = FeatureSettings()
    feats = np.concatenate([compute_features(torch.from_numpy(load_audio(p, 16000)), settings).numpy()
                            for p in _clips(real_data)])
    cfg = Config()
    cfg.model.name, cfg.model.embed_dim, cfg.model.kwargs = "vgg_small", 32, {"width": 8}
    meta = model_meta(cfg, n_features=settings.n_mels, class_names=["a", "b", "c"], settings=settings,
                      mean=feats.mean(0), std=feats.std(0))
    torch.manual_seed(0)
    model, classifier, _ = build_modules(meta)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.2)
    exp = tmp_path_factory.mktemp("export") / "exp"
    save_checkpoint({"meta": meta, "model": model.state_dict(), "classifier": classifier.state_dict(),
                     "epoch": 1}, exp / "checkpoints" / "best.pt")
    return exp


def _run(path: Path, fmt: str, x: np.ndarray) -> np.ndarray:
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    return torch.jit.load(str(path))(torch.from_numpy(x)).detach().numpy()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_feature_model_equals_pytorch_on_real_clips(tmp_path, real_exp, real_data, fmt):
    out = tmp_path / f"model.{fmt}"
    assert main(["export", "--exp-dir", str(real_exp), "--format", fmt, "--out", str(out)]) == 0
    model = audiocs.load(real_exp)
    clips = _clips(real_data)
    feats = [model.features(p) for p in clips]
    assert len({len(f) for f in feats}) == 3  # three different T (30, 63 and 501 frames)
    for path, f in zip(clips, feats):
        np.testing.assert_allclose(_run(out, fmt, f[None])[0], model.embed(path), atol=1e-4)
    batch = np.stack([f[:200] for f in feats[2:]])  # batch of two ESC-50 crops of 200 frames
    np.testing.assert_allclose(_run(out, fmt, batch), model.embed_features(list(batch)), atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_waveform_model_equals_pytorch_on_real_clips(tmp_path, real_exp, real_data, fmt):
    from audiocs.export import export_model

    out = export_model(real_exp, tmp_path / f"wave.{fmt}", fmt, from_waveform=True)
    model = audiocs.load(real_exp)
    clips = _clips(real_data)
    waves = [load_audio(p, 16000) for p in clips]  # the model's rate: 8 and 44.1 kHz resampled
    for path, w in zip(clips, waves):
        np.testing.assert_allclose(_run(out, fmt, w[None]), model.embed(path)[None], atol=1e-4)
    n = min(len(w) for w in waves[:2])
    batch = np.stack([w[:n] for w in waves[:2]])  # the two digits cut to the shorter one
    np.testing.assert_allclose(_run(out, fmt, batch), model.embed(list(batch)), atol=1e-4)


def test_waveform_model_with_mean_normalization(tmp_path, real_exp, real_data):
    from audiocs.export import export_model

    state = torch.load(real_exp / "checkpoints" / "best.pt", weights_only=True)
    state["meta"]["feature_settings"] = {**state["meta"]["feature_settings"], "cmn": True}
    save_checkpoint(state, tmp_path / "cmn.pt")
    out = export_model(tmp_path / "cmn.pt", tmp_path / "cmn.onnx", "onnx", from_waveform=True)
    model = audiocs.load(tmp_path / "cmn.pt")
    path = _clips(real_data)[1]
    assert abs(model.features(path).mean(0)).max() < 1e-3
    np.testing.assert_allclose(_run(out, "onnx", load_audio(path, 16000)[None])[0], model.embed(path), atol=1e-4)


def test_onnx_metadata_and_fbank_waveform_refusal(tmp_path, real_exp, capsys):
    import onnx

    from audiocs.export import export_model

    out = export_model(real_exp, tmp_path / "m.onnx", "onnx")
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["class_names"]) == ["a", "b", "c"]
    assert FeatureSettings.from_dict(json.loads(props["feature_settings"])) == FeatureSettings()
    assert props["audiocs_version"] == audiocs.__version__
    assert props["input"].startswith("features (batch, frames, 64)")

    state = torch.load(real_exp / "checkpoints" / "best.pt", weights_only=True)
    state["meta"]["feature_settings"] = {**state["meta"]["feature_settings"], "kind": "fbank"}
    fbank = tmp_path / "fbank.pt"
    save_checkpoint(state, fbank)
    assert main(["export", "--exp-dir", str(fbank), "--format", "onnx", "--from-waveform",
                 "--out", str(tmp_path / "f.onnx")]) == 2
    assert "supports logmel features, the model uses 'fbank'" in capsys.readouterr().err
    assert not (tmp_path / "f.onnx").exists()
