"""Use a trained model from Python: ``model = audiocs.load(exp_dir)``; ``model.predict(...)``, ``model.embed(...)``.

Inputs take the paths of the feature cache and of ``audiocs embed`` / ``audiocs evaluate``:
files are featurized by ``audiocs.features.extract_clip`` (decode, downmix, resample, the
checkpoint's log-mel/fbank settings), embeddings come from ``audiocs.embed.embed_clips`` and
class scores from ``audiocs.runner.clip_outputs`` (checkpoint normalization, whole clips
batched by length, or sliding windows). So ``model.embed(path)`` equals what ``audiocs embed``
writes for that file from a cache with the same settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch

from audiocs.audio import check_not_silent, resample
from audiocs.config import EvalConfig
from audiocs.embed import embed_clips
from audiocs.errors import AudiocsError
from audiocs.experiment import BEST
from audiocs.features import FeatureSettings, compute_features, extract_clip
from audiocs.losses.classifiers import CosineClassifier
from audiocs.runner import InferenceBundle, clip_outputs, load_for_inference, resolve_device

# One input: a file path, or a waveform (samples,) or (channels, samples) as numpy or torch.
AudioInput = Union[str, Path, np.ndarray, torch.Tensor]


class ClipFeatures:
    """In-memory clips read like a feature cache by the evaluation path: ``[i]`` -> (T, F), ``lengths`` (N,)."""

    def __init__(self, clips: Sequence[np.ndarray]) -> None:
        self.clips = [np.asarray(c, np.float32) for c in clips]
        self.lengths = np.array([len(c) for c in self.clips], np.int64)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.clips[i]


@dataclass(frozen=True)
class Segment:
    """Scores (C,) of one sliding window ``start``..``end`` seconds of a file, and its top-k classes."""

    start: float
    end: float
    scores: np.ndarray
    top: list[tuple[str, float]]


@dataclass(frozen=True)
class Prediction:
    """Scores (C,) of a whole file (with windows: the mean of the window scores), its top-k
    classes ``(name, score)`` best first, and one :class:`Segment` per window (empty without)."""

    source: str
    duration: float
    scores: np.ndarray
    top: list[tuple[str, float]]
    windows: list[Segment]

    @property
    def label(self) -> str:
        """The best class."""
        return self.top[0][0]


class Model:
    """A trained audiocs model for inference on files and waveforms (built by :func:`load`).

    ``classes`` are the class names (index = label); ``score_kind`` says what the scores are:
    ``"cosine"`` (cosine similarity to each class centre, in [-1, 1]) for the margin losses,
    ``"logit"`` (unnormalized log-probabilities) for the plain ``softmax`` baseline.
    """

    def __init__(self, bundle: InferenceBundle, device: str | torch.device = "cpu") -> None:
        self.bundle = bundle
        self.device = resolve_device(str(device))

    @property
    def classes(self) -> list[str]:
        return list(self.bundle.class_names)

    @property
    def settings(self) -> FeatureSettings:
        """The feature settings the model was trained with."""
        return self.bundle.settings

    @property
    def embed_dim(self) -> int:
        return int(self.bundle.model.embed_dim)

    @property
    def score_kind(self) -> str:
        return "cosine" if isinstance(self.bundle.classifier, CosineClassifier) else "logit"

    @property
    def train_window_seconds(self) -> float | None:
        """Length in seconds of the crops the model was trained on (None without a config)."""
        cfg = self.bundle.config
        return None if cfg is None else cfg.data.crop_frames * self.settings.hop_length / self.settings.sample_rate

    def seconds_to_frames(self, seconds: float) -> int:
        """Feature frames in ``seconds`` (at least 1)."""
        return max(1, round(seconds * self.settings.sample_rate / self.settings.hop_length))

    # --- inputs -> features -------------------------------------------------------------

    def features(self, audio: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """Un-normalized features (T, F) float32 of a file or waveform, as the cache stores them.

        A waveform is (samples,) or (channels, samples) at ``sample_rate`` (default: the
        model's rate); channels are averaged and the audio resampled to the model's rate.
        """
        if isinstance(audio, (str, Path)):
            return extract_clip(str(audio), self.settings)
        wave = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
        shape = wave.shape
        if wave.ndim == 2:
            wave = wave.mean(axis=0)
        if wave.ndim != 1 or wave.size == 0:
            raise AudiocsError(f"waveform: expected (samples,) or (channels, samples), got shape {shape}")
        wave = wave.astype(np.float32)
        if not np.isfinite(wave).all():
            raise AudiocsError("waveform: samples contain NaN or Inf")
        check_not_silent("waveform", wave)
        wave = resample(wave, int(sample_rate or self.settings.sample_rate), self.settings.sample_rate)
        if self.settings.num_frames(wave.size) < 1:
            raise AudiocsError(f"waveform: {wave.size} samples is shorter than one frame")
        return compute_features(torch.from_numpy(wave), self.settings).numpy()

    def _many(self, audio: AudioInput | Sequence[AudioInput]) -> tuple[list[AudioInput], bool]:
        """The inputs as a list, and whether one input (not a list) was given."""
        if isinstance(audio, (list, tuple)):
            return list(audio), False
        return [audio], True

    def window_frames(self, window_seconds: float, hop_seconds: float | None = None) -> tuple[int, int]:
        """(window, hop) in frames; the window is at least the model's minimum, the hop defaults to half of it."""
        win = max(self.seconds_to_frames(window_seconds), self.bundle.model.min_frames)
        return win, self.seconds_to_frames(hop_seconds) if hop_seconds else max(win // 2, 1)

    def duration(self, clip: np.ndarray) -> float:
        """Seconds covered by the frames of a feature clip (T, F)."""
        return len(clip) * self.settings.hop_length / self.settings.sample_rate

    def _eval_config(self, window_seconds: float | None, hop_seconds: float | None,
                     batch_size: int) -> EvalConfig:
        if window_seconds is None:
            return EvalConfig(mode="whole", batch_size=batch_size)
        win, hop = self.window_frames(window_seconds, hop_seconds)
        return EvalConfig(mode="sliding", window_frames=win, hop_frames=hop)

    # --- embeddings ---------------------------------------------------------------------

    def embed_features(self, clips: Sequence[np.ndarray], *, window_seconds: float | None = None,
                       hop_seconds: float | None = None, batch_size: int = 16) -> np.ndarray:
        """L2-normalized embeddings (N, D) float32 of un-normalized feature clips, each (T, F)."""
        cfg = self._eval_config(window_seconds, hop_seconds, batch_size)
        return embed_clips(self.bundle.model, ClipFeatures(clips), np.arange(len(clips)), self.bundle.mean,
                           self.bundle.std, cfg, self.device, progress=False)

    def embed(self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None, *,
              window_seconds: float | None = None, hop_seconds: float | None = None,
              batch_size: int = 16) -> np.ndarray:
        """L2-normalized embedding(s) as numpy float32: (D,) for one input, (N, D) for a list.

        Whole clips by default; with ``window_seconds`` the mean of the sliding-window
        embeddings (hop: half a window), re-normalized, as ``audiocs embed --window``.
        ``torch.from_numpy`` turns the result into a tensor without a copy.
        """
        items, single = self._many(audio)
        vectors = self.embed_features([self.features(a, sample_rate) for a in items],
                                      window_seconds=window_seconds, hop_seconds=hop_seconds,
                                      batch_size=batch_size)
        return vectors[0] if single else vectors

    # --- class scores -------------------------------------------------------------------

    def scores_features(self, clips: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Classifier scores (N, C) float32 of whole un-normalized feature clips, each (T, F)."""
        b = self.bundle
        cfg = EvalConfig(mode="whole", batch_size=batch_size)
        return clip_outputs(b.model, b.classifier, ClipFeatures(clips), np.arange(len(clips)), b.mean, b.std,
                           cfg, self.device).numpy()

    def top(self, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` best ``(class name, score)`` of scores (C,), best first."""
        order = np.argsort(-scores, kind="stable")[:max(k, 1)]
        return [(self.bundle.class_names[i], float(scores[i])) for i in order]

    def predict_features(self, clip: np.ndarray, source: str = "features", top_k: int = 5, *,
                         window_seconds: float | None = None, hop_seconds: float | None = None
                         ) -> Prediction:
        """Prediction for one un-normalized feature clip (T, F).

        With ``window_seconds`` and a clip longer than one window, every window is scored and
        the whole-file scores are their mean (as ``audiocs evaluate`` in sliding mode).
        """
        from audiocs.data import sliding_windows

        frames, duration = len(clip), self.duration(clip)
        win, hop = (frames, 1) if window_seconds is None else self.window_frames(window_seconds, hop_seconds)
        if frames <= win:
            scores = self.scores_features([clip])[0]
            return Prediction(source, duration, scores, self.top(scores, top_k), [])
        # window starts, laid out exactly as sliding_windows cuts the clip
        starts = sliding_windows(torch.arange(frames)[:, None], win, hop)[:, 0, 0].tolist()
        per_window = self.scores_features([clip[a:a + win] for a in starts])
        seconds = self.settings.hop_length / self.settings.sample_rate
        windows = [Segment(a * seconds, min((a + win) * seconds, duration), sc, self.top(sc, top_k))
                   for a, sc in zip(starts, per_window)]
        scores = per_window.mean(axis=0)
        return Prediction(source, duration, scores, self.top(scores, top_k), windows)

    def predict(self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None,
                top_k: int = 5, *, window_seconds: float | None = None,
                hop_seconds: float | None = None) -> Prediction | list[Prediction]:
        """Top-k classes with scores (see ``score_kind``) for one input, or a list for a list."""
        items, single = self._many(audio)
        clips = [self.features(a, sample_rate) for a in items]
        names = [str(a) if isinstance(a, (str, Path)) else f"waveform[{i}]" for i, a in enumerate(items)]
        if window_seconds is None:  # whole clips: one batched pass
            out = [Prediction(name, self.duration(clip), sc, self.top(sc, top_k), [])
                   for name, clip, sc in zip(names, clips, self.scores_features(clips))]
        else:
            out = [self.predict_features(clip, name, top_k, window_seconds=window_seconds, hop_seconds=hop_seconds)
                   for name, clip in zip(names, clips)]
        return out[0] if single else out


def load(exp_dir: str | Path, *, checkpoint: str = BEST, device: str | torch.device = "cpu") -> Model:
    """The model of an experiment folder (best.pt, else last.pt) or of a .pt file, ready for inference."""
    return Model(load_for_inference(exp_dir, prefer=checkpoint, device=device), device)
