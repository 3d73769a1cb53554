"""audio.py (decode, mono, resample, validation) and features.py (log-mel, fbank, settings)."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audiocs.audio import AudioError, audio_duration, load_audio, read_audio
from audiocs.errors import AudiocsError
from audiocs.features import FeatureExtractor, FeatureSettings, compute_features


def _sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- log-mel against librosa ----------------------------------------------------------------

LOGMEL_CASES = [
    FeatureSettings(),
    FeatureSettings(sample_rate=22050, n_fft=1024, win_length=1024, hop_length=512, n_mels=128,
                    fmin=50.0, fmax=10000.0),
    FeatureSettings(sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=40,
                    top_db=None),
]


@pytest.mark.parametrize("settings", LOGMEL_CASES, ids=["default", "esc-style", "8k-no-topdb"])
def test_logmel_equals_librosa(settings: FeatureSettings) -> None:
    rng = np.random.default_rng(1)
    sr = settings.sample_rate
    y = _sine(440.0, sr, 1.3) + 0.05 * rng.standard_normal(int(sr * 1.3)).astype(np.float32)
    ours = compute_features(torch.from_numpy(y), settings)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=y, sr=sr, n_fft=settings.n_fft, hop_length=settings.hop_length,
            win_length=settings.win_length, window="hann", center=True, pad_mode="constant",
            power=settings.power, n_mels=settings.n_mels, fmin=settings.fmin, fmax=settings.fmax),
        ref=1.0, amin=settings.amin, top_db=settings.top_db).T
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == ref.shape == (settings.num_frames(len(y)), settings.n_mels)
    np.testing.assert_allclose(ours.numpy(), ref, atol=2e-3, rtol=0)


@pytest.mark.parametrize("cmn", [False, True])
def test_logmel_batch_equals_each_row(cmn: bool) -> None:
    settings = FeatureSettings(cmn=cmn)
    rows = torch.stack([torch.from_numpy(_sine(440.0, 16000, 0.5)),
                        torch.from_numpy(_sine(3000.0, 16000, 0.5, amp=1e-3))])  # other maxima
    batch = FeatureExtractor(settings)(rows)
    assert batch.shape == (2, 51, 64)
    for i in range(2):
        torch.testing.assert_close(batch[i], compute_features(rows[i], settings), rtol=1e-5,
                                   atol=1e-4)


def test_logmel_top_db_floor_is_relative_to_clip_max() -> None:
    s = FeatureSettings(top_db=50.0)
    y = np.concatenate([_sine(1000.0, 16000, 0.5), np.zeros(8000, np.float32)])
    x = compute_features(torch.from_numpy(y), s)
    assert float(x.max() - x.min()) == pytest.approx(50.0, abs=1e-4)


def _kaldi_mel(f: float) -> float:
    return 1127.0 * math.log(1.0 + f / 700.0)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_fbank_shape_and_peak_bin(freq: float) -> None:
    s = FeatureSettings(kind="fbank", n_mels=40, fmin=20.0)
    y = _sine(freq, 16000, 1.0)
    x = compute_features(torch.from_numpy(y), s)
    assert tuple(x.shape) == (s.num_frames(len(y)), 40) == (98, 40)
    # Kaldi's triangular bins are equally spaced on the mel scale between fmin and Nyquist.
    lo, hi = _kaldi_mel(20.0), _kaldi_mel(8000.0)
    centres = [lo + (k + 1) * (hi - lo) / 41 for k in range(40)]
    expected = int(np.argmin([abs(c - _kaldi_mel(freq)) for c in centres]))
    assert abs(int(x.mean(0).argmax()) - expected) <= 1


def test_fbank_is_deterministic_and_scale_invariant_up_to_a_constant() -> None:
    s = FeatureSettings(kind="fbank")
    y = torch.from_numpy(_sine(500.0, 16000, 0.5) + 0.01)
    a, b = compute_features(y, s), compute_features(y, s)
    assert torch.equal(a, b)
    # Log energies: halving the waveform subtracts 2*ln(2) from every bin.
    torch.testing.assert_close(compute_features(y / 2, s), a - 2 * math.log(2), atol=1e-3, rtol=0)


def test_settings_round_trip_and_validation() -> None:
    s = FeatureSettings(kind="fbank", n_mels=80, fmax=7600.0)
    assert FeatureSettings.from_dict(s.to_dict()) == s
    assert s.num_features == 80
    bad = [dict(kind="mfcc"), dict(n_mels=0), dict(hop_length=-1), dict(fmax=9000.0),
           dict(fmin=5000.0, fmax=4000.0), dict(win_length=1024, n_fft=512), dict(top_db=0.0),
           dict(sample_rate=16000.5), dict(power=3.0)]
    words = ["kind", "n_mels", "hop_length", "fmax", "fmin", "win_length", "top_db",
             "sample_rate", "power"]
    for kw, word in zip(bad, words):
        with pytest.raises(AudiocsError, match=word):
            FeatureSettings(**kw)
    with pytest.raises(AudiocsError, match="unknown keys.*nmels"):
        FeatureSettings.from_dict({"kind": "logmel", "nmels": 64})


def test_too_short_waveform_is_a_clear_error() -> None:
    with pytest.raises(AudiocsError, match="too short"):
        compute_features(torch.zeros(100), FeatureSettings(kind="fbank"))


# --- decoding, mono, resampling ---------------------------------------------------------


def test_load_downmixes_and_resamples(tmp_path) -> None:
    left, right = _sine(1000.0, 44100, 1.0), _sine(1000.0, 44100, 1.0, amp=0.1)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], 1), 44100, subtype="FLOAT")
    wave, rate = read_audio(path)
    assert rate == 44100 and wave.dtype == np.float32
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-7)
    out = load_audio(path, 16000)
    assert out.dtype == np.float32 and out.shape == (16000,)
    # A 1 kHz sine stays a 1 kHz sine of amplitude 0.3 (away from the edges).
    ref = _sine(1000.0, 16000, 1.0, amp=0.3)
    np.testing.assert_allclose(out[500:-500], ref[500:-500], atol=2e-3)
    assert audio_duration(path) == pytest.approx(1.0)


def test_load_reads_pcm16_and_flac(tmp_path) -> None:
    y = _sine(440.0, 16000, 0.5)
    for name, subtype in (("a.wav", "PCM_16"), ("a.flac", "PCM_16")):
        sf.write(tmp_path / name, y, 16000, subtype=subtype)
        np.testing.assert_allclose(load_audio(tmp_path / name, 16000), y, atol=1 / 32768)


def _libsndfile_mono(path) -> np.ndarray:
    """The reference: libsndfile's own float32 conversion, then the channel mean."""
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "PCM_U8"])
@pytest.mark.parametrize("channels", [1, 2])
def test_read_audio_equals_libsndfile_float_conversion_exactly(tmp_path, subtype, channels):
    rng = np.random.default_rng(channels)
    y = np.clip(rng.standard_normal((4000, channels)) * 0.3, -1, 1).astype(np.float32)
    y[:3] = [[-1.0] * channels, [1.0 - 2**-15] * channels, [2**-20] * channels]  # extremes
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, y, 8000, subtype=subtype)
    wave, rate = read_audio(path)
    assert rate == 8000 and wave.dtype == np.float32 and wave.flags.c_contiguous
    assert np.array_equal(wave, _libsndfile_mono(path))  # bit for bit, not just close


def test_read_audio_equals_libsndfile_on_real_wav_and_flac(real_data) -> None:
    paths = [*sorted((real_data / "esc50-sample" / "audio").glob("*.wav"))[:2],
             *sorted((real_data / "fsdd" / "recordings").glob("*.wav"))[:2],
             *sorted((real_data / "librispeech-mini").rglob("*.flac"))[:2],
             *sorted((real_data / "speech-commands-mini").rglob("*.wav"))[:2]]
    assert len(paths) == 8
    for path in paths:
        assert np.array_equal(read_audio(path)[0], _libsndfile_mono(path)), path


def _write_bad(tmp_path, case: str):
    path = tmp_path / f"{case}.wav"
    good = _sine(440.0, 16000, 0.2)
    if case == "missing":
        return path
    if case == "empty_file":
        path.write_bytes(b"")
    elif case == "zero_frames":
        sf.write(path, np.zeros(0, np.float32), 16000)
    elif case == "nan":
        sf.write(path, np.where(np.arange(good.size) == 7, np.nan, good), 16000, subtype="FLOAT")
    elif case == "inf":
        sf.write(path, np.where(np.arange(good.size) == 9, np.inf, good), 16000, subtype="FLOAT")
    elif case == "text":
        path.write_text("this is a text file, not audio\n" * 20)
    elif case == "truncated_header":
        sf.write(path, good, 16000)
        path.write_bytes(path.read_bytes()[:30])
    elif case == "corrupt_header":
        sf.write(path, good, 16000)
        data = bytearray(path.read_bytes())
        data[20:36] = b"\xff" * 16  # format chunk: codec, channels, rate, ... all garbage
        path.write_bytes(bytes(data))
    elif case == "zeros":
        sf.write(path, np.zeros_like(good), 16000)
    elif case == "near_silent":
        sf.write(path, good * 1e-6, 16000, subtype="FLOAT")
    return path


BAD_CASES = {"missing": "missing", "empty_file": "empty", "zero_frames": "empty",
             "nan": "nonfinite", "inf": "nonfinite", "text": "not_audio",
             "truncated_header": "unreadable", "corrupt_header": "unreadable",
             "zeros": "silent", "near_silent": "silent"}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_raises_audio_error_with_path_and_reason(tmp_path, case: str) -> None:
    path = _write_bad(tmp_path, case)
    with pytest.raises(AudioError) as info:
        load_audio(path, 16000)
    assert info.value.reason == BAD_CASES[case]
    assert str(path) in str(info.value) and BAD_CASES[case] in str(info.value)
    assert isinstance(info.value, AudiocsError)


def test_random_bytes_never_decode(tmp_path) -> None:
    rng = np.random.default_rng(5)
    for i in range(30):
        path = tmp_path / f"r{i}.wav"
        path.write_bytes(rng.bytes(int(rng.integers(1, 4000))))
        with pytest.raises(AudioError) as info:
            load_audio(path, 16000)
        assert info.value.reason in ("not_audio", "unreadable")


# --- real audio ----------------------------------------------------------------------------


def test_real_esc50_and_fsdd_clips(real_data) -> None:
    esc = sorted((real_data / "esc50-sample" / "audio").glob("*.wav"))
    assert len(esc) == 5
    for path in esc:
        wave = load_audio(path, 16000)
        assert wave.shape == (80000,) and np.isfinite(wave).all()
        feats = compute_features(torch.from_numpy(wave), FeatureSettings())
        assert tuple(feats.shape) == (501, 64) and torch.isfinite(feats).all()
    fsdd = sorted((real_data / "fsdd" / "recordings").glob("*_theo_*.wav"))[:10]
    assert len(fsdd) == 10
    for path in fsdd:
        raw, rate = read_audio(path)
        assert rate == 8000
        wave = load_audio(path, 16000)
        assert abs(wave.size - 2 * raw.size) <= 1
        assert audio_duration(path) == pytest.approx(raw.size / 8000)
        feats = compute_features(torch.from_numpy(wave), FeatureSettings(kind="fbank", n_mels=80))
        assert feats.shape[1] == 80 and torch.isfinite(feats).all()
