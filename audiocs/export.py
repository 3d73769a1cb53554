"""`audiocs export`: a trained embedding model as ONNX or TorchScript, with dynamic batch and time axes.

The exported function is the one of ``model.embed`` (``audiocs.inference``): features (B, T, F)
as the cache stores them (un-normalized: the checkpoint's mean/std are folded in) ->
L2-normalized embeddings (B, D). With ``from_waveform`` the log-mel front-end is folded in too:
mono waveforms (B, samples) at the model's sample rate -> embeddings; it uses ``torch.stft``,
which the TorchScript tracer and the ONNX exporter (opset 17 STFT) both support. ONNX uses the
TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs ``onnxscript``.
The file carries the class names, feature settings and audiocs version as metadata.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiocs import __version__
from audiocs.errors import AudiocsError
from audiocs.experiment import BEST
from audiocs.features import FeatureExtractor
from audiocs.fileio import atomic_path
from audiocs.runner import InferenceBundle, load_for_inference

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17  # the first opset with an STFT operator


class FeatureEmbedder(nn.Module):
    """Un-normalized features (B, T, F) -> L2-normalized embeddings (B, D); needs T >= model.min_frames."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", std.float().clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        emb = self.model((features - self.mean) / self.std)
        return emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)


class WaveformEmbedder(nn.Module):
    """Mono waveforms (B, samples) at the model's rate -> L2-normalized embeddings (B, D)."""

    def __init__(self, front_end: FeatureExtractor, embedder: FeatureEmbedder) -> None:
        super().__init__()
        self.front_end = front_end
        self.embedder = embedder

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.embedder(self.front_end(waveform))


def export_module(bundle: InferenceBundle, from_waveform: bool = False) -> nn.Module:
    """The module that gets exported, on CPU in eval mode."""
    embedder = FeatureEmbedder(bundle.model.cpu(), torch.from_numpy(bundle.mean), torch.from_numpy(bundle.std))
    if from_waveform and bundle.settings.kind != "logmel":
        raise AudiocsError(f"export --from-waveform supports logmel features, the model uses "
                           f"{bundle.settings.kind!r} (export from features instead)")
    module = WaveformEmbedder(FeatureExtractor(bundle.settings), embedder) if from_waveform \
        else embedder
    return module.eval()


def export_metadata(bundle: InferenceBundle, from_waveform: bool) -> dict[str, str]:
    """What the exported file's user must know, as strings (ONNX metadata_props, TorchScript extra file)."""
    s = bundle.settings
    if from_waveform:
        expects = f"waveform (batch, samples) float32, mono at {s.sample_rate} Hz"
    else:
        expects = f"features (batch, frames, {s.n_mels}) float32 {s.kind}, un-normalized"
    return {"audiocs_version": __version__, "input": expects,
            "output": f"embedding (batch, {bundle.model.embed_dim}) L2-normalized",
            "min_frames": str(bundle.model.min_frames), "class_names": json.dumps(bundle.class_names),
            "feature_settings": json.dumps(s.to_dict()), "loss_name": bundle.loss_name,
            "checkpoint": str(bundle.checkpoint)}


def example_input(bundle: InferenceBundle, from_waveform: bool) -> torch.Tensor:
    """A tracing input: 2 clips of 4x the model's minimum frames (waveform: the matching samples)."""
    s = bundle.settings
    frames = 4 * max(bundle.model.min_frames, 16)
    if from_waveform:
        return torch.randn(2, frames * s.hop_length, generator=torch.Generator().manual_seed(0)) * 0.1
    return torch.randn(2, frames, s.n_mels, generator=torch.Generator().manual_seed(0))


def _save_onnx(module: nn.Module, example: torch.Tensor, path: Path, name: str, meta: dict[str, Any]) -> None:
    try:
        import onnx
    except ImportError:
        raise AudiocsError("ONNX export needs the onnx package: pip install 'audiocs[export]'") from None

    axes = {name: {0: "batch", 1: "samples" if name == "waveform" else "frames"}, "embedding": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the input checks and the STFT
        torch.onnx.export(module, (example,), str(path), input_names=[name], output_names=["embedding"],
                          dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False)
    proto = onnx.load(str(path))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _save_torchscript(module: nn.Module, example: torch.Tensor, path: Path, meta: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, (example,), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"audiocs.json": json.dumps(meta)})


def export_model(exp_dir: str | Path, out: str | Path, fmt: str = "onnx", *, from_waveform: bool = False,
                 checkpoint: str = BEST) -> Path:
    """Write the embedding model of an experiment (or .pt file) to `out` (atomic) as `fmt`."""
    if fmt not in FORMATS:
        raise AudiocsError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    bundle = load_for_inference(exp_dir, prefer=checkpoint)
    module = export_module(bundle, from_waveform)
    example = example_input(bundle, from_waveform)
    meta = export_metadata(bundle, from_waveform)
    out = Path(out)
    with atomic_path(out) as tmp, torch.no_grad():
        if fmt == "onnx":
            _save_onnx(module, example, tmp, "waveform" if from_waveform else "features", meta)
        else:
            _save_torchscript(module, example, tmp, meta)
    return out
