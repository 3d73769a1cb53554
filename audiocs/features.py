"""Log-mel and Kaldi-style fbank front-ends, and the settings dataclass stored beside a cache."""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi
import torch.nn.functional as F
import torchaudio.functional as AF

from audiocs.audio import SILENCE_RMS, AudioError, load_audio
from audiocs.errors import AudiocsError

KINDS = ("logmel", "fbank")


@dataclass(frozen=True)
class FeatureSettings:
    """How clips become (T, n_mels) features; defaults: 16 kHz, 25 ms window, 10 ms hop, 64 mels.

    ``logmel``: |STFT|^power (Hann window, centred frames, zero padding) through a Slaney mel
    filterbank, then ``10*log10(max(x, amin))`` clipped to ``top_db`` below the clip's maximum;
    this equals ``librosa.power_to_db(librosa.feature.melspectrogram(...), top_db=top_db)``.
    ``fbank``: ``torchaudio.compliance.kaldi.fbank`` (Povey window, pre-emphasis 0.97, no dither,
    samples scaled to the 16-bit range as in Kaldi) with frame length/shift from ``win_length`` /
    ``hop_length``; ``n_fft`` and ``top_db`` are unused, ``fmax=None`` means Nyquist.
    ``cmn``: subtract each clip's mean over time per bin (utterance-level mean normalization, as
    in Kaldi's CMN): removes recording gain and channel, for speech and speakers across sessions.
    """

    kind: str = "logmel"
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    top_db: float | None = 80.0
    amin: float = 1e-10
    cmn: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not problems:
            if self.kind == "logmel" and self.win_length > self.n_fft:
                problems.append(f"win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
            nyquist = self.sample_rate / 2
            top = nyquist if self.fmax is None else self.fmax
            if not 0 <= self.fmin < top <= nyquist:
                problems.append(f"need 0 <= fmin ({self.fmin}) < fmax ({top}) <= sample_rate/2 "
                                f"({nyquist})")
        if self.power not in (1.0, 2.0):
            problems.append(f"power must be 1.0 (magnitude) or 2.0 (power), got {self.power!r}")
        if self.top_db is not None and not self.top_db > 0:
            problems.append(f"top_db must be positive or None, got {self.top_db!r}")
        if not self.amin > 0:
            problems.append(f"amin must be positive, got {self.amin!r}")
        if problems:
            raise AudiocsError("feature settings: " + "; ".join(problems))

    @property
    def num_features(self) -> int:
        """Feature dimension F."""
        return self.n_mels

    def num_frames(self, num_samples: int) -> int:
        """Frames T produced for a waveform of ``num_samples`` samples."""
        if self.kind == "logmel":
            return 1 + num_samples // self.hop_length
        return max(0, 1 + (num_samples - self.win_length) // self.hop_length)

    def band_centres(self) -> np.ndarray:
        """Centre frequency in Hz of each of the ``n_mels`` bands (n_mels,), ascending.

        The bands' edges are equally spaced on the mel scale between fmin and fmax (Nyquist when
        None): Slaney's scale for ``logmel`` (linear below 1 kHz, logarithmic above), Kaldi's
        1127 ln(1 + f/700) for ``fbank``; a band's centre is its triangle's peak."""
        top = self.sample_rate / 2 if self.fmax is None else self.fmax
        to_mel, to_hz = (_slaney_mel, _slaney_hz) if self.kind == "logmel" else (_kaldi_mel, _kaldi_hz)
        points = np.linspace(to_mel(self.fmin), to_mel(top), self.n_mels + 2)
        return to_hz(points[1:-1])

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON/YAML."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSettings:
        """Inverse of :meth:`to_dict`; unknown keys raise AudiocsError naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AudiocsError(f"feature settings: unknown keys {unknown}; valid: {sorted(known)}")
        return cls(**data)


_SLANEY_STEP = 200.0 / 3  # Hz per mel below 1 kHz
_SLANEY_LOG = np.log(6.4) / 27  # log-frequency step per mel above 1 kHz


def _slaney_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz < 1000, hz / _SLANEY_STEP,
                    1000 / _SLANEY_STEP + np.log(np.maximum(hz, 1e-9) / 1000) / _SLANEY_LOG)


def _slaney_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    edge = 1000 / _SLANEY_STEP
    return np.where(mel < edge, mel * _SLANEY_STEP, 1000 * np.exp((mel - edge) * _SLANEY_LOG))


def _kaldi_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def _kaldi_hz(mel):
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def _onnx_exporting() -> bool:
    """``torch.onnx.is_in_onnx_export()`` without importing torch.onnx (~20 ms in every cache
    worker) when nothing has: then nothing is being exported."""
    onnx = sys.modules.get("torch.onnx")
    return onnx is not None and onnx.is_in_onnx_export()


class FeatureExtractor(torch.nn.Module):
    """Waveform (samples,) float32 at ``settings.sample_rate`` -> features (T, n_mels) float32.

    ``logmel`` also takes a batch (..., samples) -> (..., T, n_mels), each row clipped at
    ``top_db`` below its own maximum; it is written so that the TorchScript tracer and the ONNX
    exporter (opset 17 STFT) take it as it is (``audiocs export --from-waveform``).
    """

    def __init__(self, settings: FeatureSettings) -> None:
        super().__init__()
        self.settings = settings
        s = settings
        if s.kind == "logmel":
            fmax = s.sample_rate / 2 if s.fmax is None else s.fmax
            mel = AF.melscale_fbanks(s.n_fft // 2 + 1, s.fmin, fmax, s.n_mels, s.sample_rate,
                                     norm="slaney", mel_scale="slaney")
            self.register_buffer("mel", mel, persistent=False)  # (n_fft/2+1, n_mels)
            # the Hann window zero-padded to n_fft, centred (as torch.stft pads a shorter one)
            left = (s.n_fft - s.win_length) // 2
            window = F.pad(torch.hann_window(s.win_length), (left, s.n_fft - s.win_length - left))
            self.register_buffer("window", window, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(samples,) -> (T, n_mels); logmel also (..., samples) -> (..., T, n_mels)."""
        if waveform.dim() != 1 and (self.settings.kind != "logmel" or waveform.dim() == 0):
            raise ValueError(f"expected a mono waveform (samples,), got shape {tuple(waveform.shape)}")
        if self.settings.kind == "logmel":
            features = self._logmel(waveform.float())
        else:
            features = self._fbank(waveform.float())
        if self.settings.cmn:
            features = features - features.mean(dim=-2, keepdim=True)
        return features

    def _logmel(self, wave: torch.Tensor) -> torch.Tensor:
        s = self.settings
        if _onnx_exporting():  # the ONNX STFT symbolic takes no padding and real (.., 2) output
            x = F.pad(wave, (s.n_fft // 2, s.n_fft // 2))
            spec = torch.stft(x, s.n_fft, s.hop_length, s.n_fft, self.window, center=False,
                              return_complex=False)
            power = spec[..., 0].square() + spec[..., 1].square()
        else:  # the same centred, zero-padded frames
            spec = torch.stft(wave, s.n_fft, s.hop_length, s.n_fft, self.window, center=True,
                              pad_mode="constant", return_complex=True)
            power = spec.real.square() + spec.imag.square()  # |X|^2, (..., n_fft/2+1, T)
        if s.power == 1.0:
            power = power.sqrt()
        mel = power.transpose(-1, -2) @ self.mel  # (..., T, n_mels)
        db = 10.0 * torch.log10(mel.clamp_min(s.amin))
        if s.top_db is not None:
            db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - s.top_db)
        return db

    def _fbank(self, wave: torch.Tensor) -> torch.Tensor:
        s = self.settings
        ms = 1000.0 / s.sample_rate
        return kaldi.fbank(wave.unsqueeze(0) * 32768.0, num_mel_bins=s.n_mels,
                           frame_length=s.win_length * ms, frame_shift=s.hop_length * ms,
                           sample_frequency=float(s.sample_rate), low_freq=s.fmin,
                           high_freq=0.0 if s.fmax is None else s.fmax, dither=0.0)


@functools.lru_cache(maxsize=8)
def feature_extractor(settings: FeatureSettings) -> FeatureExtractor:
    """The extractor for ``settings``, built once per process (window and filterbank reused)."""
    return FeatureExtractor(settings)


def compute_features(waveform: torch.Tensor, settings: FeatureSettings) -> torch.Tensor:
    """Waveform (samples,) float32 at ``settings.sample_rate`` -> features (T, n_mels) float32."""
    if waveform.dim() == 1 and waveform.numel() < (1 if settings.kind == "logmel"
                                                   else settings.win_length):
        raise AudiocsError(f"waveform of {waveform.numel()} samples is too short for "
                           f"{settings.kind} features (window {settings.win_length})")
    with torch.no_grad():
        return feature_extractor(settings)(waveform)


def extract_clip(path: str, settings: FeatureSettings, min_rms: float = SILENCE_RMS) -> np.ndarray:
    """Decode, validate and featurize one file -> float32 (T, F); raises AudioError."""
    wave = load_audio(path, settings.sample_rate, min_rms=min_rms)
    if settings.num_frames(wave.size) < 1:
        raise AudioError(path, "empty", f"{wave.size} samples is shorter than one frame")
    return compute_features(torch.from_numpy(wave), settings).numpy()
