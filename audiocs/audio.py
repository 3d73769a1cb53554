"""Decode one audio file (soundfile), downmix to mono, resample (soxr) and validate it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiocs.errors import AudiocsError

# A clip whose RMS is below this (about -100 dBFS) is treated as silent.
SILENCE_RMS = 1e-5

# Leading bytes of containers that soundfile can decode: a file that starts with one of these
# but fails to decode is "unreadable" (corrupt); anything else is "not_audio".
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b".snd", b"ID3", b"\xff\xfb",
          b"\xff\xf3", b"\xff\xf2", b"caff", b"wvpk", b"MThd")

REASONS = {
    "missing": "file does not exist",
    "empty": "file or audio stream has zero length",
    "not_audio": "not an audio file (unknown format)",
    "unreadable": "audio file is corrupt or cannot be decoded",
    "nonfinite": "samples contain NaN or Inf",
    "silent": "clip is all zeros or below the silence threshold",
}


class AudioError(AudiocsError):
    """A file that cannot be used as audio; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        text = REASONS[reason] + (f": {detail}" if detail else "")
        super().__init__(f"{self.path}: {reason} ({text})")


def _sniff_reason(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:  # e.g. no permission: it is there but cannot be read
        return "unreadable"
    return "unreadable" if head.startswith(_MAGIC) else "not_audio"


# Integer PCM is decoded as integers and scaled here: libsndfile's own int -> float conversion
# costs about 5x the decoding. Scaling by a power of two is exact, so the values are the same
# float32 numbers that ``sf.read(dtype="float32")`` returns (checked in the tests).
_INTEGER_PCM = {"PCM_16": ("int16", 2.0**-15), "PCM_24": ("int32", 2.0**-31),
                "PCM_32": ("int32", 2.0**-31)}


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 ``(samples,)`` at its own rate; raises AudioError."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty", "0 bytes")
    try:
        with sf.SoundFile(path) as f:
            dtype, scale = _INTEGER_PCM.get(f.subtype, ("float32", None))
            data, rate = f.read(dtype=dtype, always_2d=True), f.samplerate
    except Exception as err:  # noqa: BLE001 - any decoder failure on untrusted bytes
        raise AudioError(path, _sniff_reason(path), str(err).strip()) from None
    if data.shape[0] == 0:
        raise AudioError(path, "empty", "0 samples")
    if data.shape[1] > 1:
        mono = data.mean(axis=1, dtype=np.float32)
    else:
        mono = np.ascontiguousarray(data[:, 0], dtype=np.float32)  # new array unless float32
    if scale is not None:
        mono *= np.float32(scale)
    elif not np.isfinite(mono).all():  # only float formats can hold NaN or Inf
        raise AudioError(path, "nonfinite", f"{int((~np.isfinite(mono)).sum())} bad samples")
    return mono, int(rate)


def check_not_silent(path: str | Path, wave: np.ndarray, min_rms: float = SILENCE_RMS) -> None:
    """Raise AudioError('silent') when the RMS of ``wave`` (samples,) is below ``min_rms``."""
    rms = float(np.sqrt(np.dot(wave, wave) / max(wave.size, 1)))
    if rms < min_rms:
        raise AudioError(path, "silent", f"RMS {rms:.3g} < {min_rms:g}")


def resample(wave: np.ndarray, orig_rate: int, sample_rate: int) -> np.ndarray:
    """Resample mono float32 ``(samples,)`` from ``orig_rate`` to ``sample_rate`` (soxr HQ)."""
    if orig_rate == sample_rate:
        return wave
    out = soxr.resample(wave, orig_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def speech_span(wave: np.ndarray, rate: int, *, top_db: float = 30.0, pad: float = 0.05,
                frame: float = 0.01) -> tuple[int, int]:
    """Sample range [start, stop) of ``wave`` (samples,) from its first to its last 10 ms frame
    whose RMS is within `top_db` of the loudest frame's, widened by `pad` seconds each side."""
    n = max(int(round(frame * rate)), 1)
    frames = max(wave.size // n, 1)
    rms = np.sqrt(np.mean(np.square(wave[:frames * n].reshape(frames, -1), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (-top_db / 20.0))
    margin = int(round(pad * rate))
    return max(int(loud[0]) * n - margin, 0), min((int(loud[-1]) + 1) * n + margin, wave.size)


def load_audio(path: str | Path, sample_rate: int, *, min_rms: float = SILENCE_RMS) -> np.ndarray:
    """Decode, downmix, validate and resample ``path`` -> float32 ``(samples,)`` at ``sample_rate``.

    Raises :class:`AudioError` (reason ``missing``, ``empty``, ``not_audio``, ``unreadable``,
    ``nonfinite`` or ``silent``) naming the file.
    """
    wave, rate = read_audio(path)
    check_not_silent(path, wave, min_rms)
    out = resample(wave, rate, sample_rate)
    if out.size == 0:
        raise AudioError(path, "empty", f"{wave.size} samples at {rate} Hz is under one sample")
    return out


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the file header (no decoding); raises AudioError."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing")
    try:
        info = sf.info(path)
    except Exception as err:  # noqa: BLE001 - any decoder failure on untrusted bytes
        reason = "empty" if path.stat().st_size == 0 else _sniff_reason(path)
        raise AudioError(path, reason, str(err).strip()) from None
    return info.frames / info.samplerate if info.samplerate else 0.0
