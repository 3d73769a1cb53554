"""The built-in generated corpus: ten environmental-sound classes laid out exactly like ESC-50.

``generate_esc50_like(out_dir)`` writes ``audio/{fold}-{src_id}-{take}-{target}.wav`` (16-bit PCM
mono) and ``meta/esc50.csv`` with ESC-50's columns ``filename,fold,target,category,esc10,
src_file,take``. Every clip is drawn from ``numpy.random.default_rng([seed, class, j])`` so the
corpus is identical byte for byte for a seed, and clips can be made in any order or in parallel.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_path, atomic_write, remove_temp_files
from audiocs.progress import progress_bar

ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
NUM_FOLDS = 5
SETTINGS_FILE = ".synthetic.json"  # written first: the settings the folder is being made with
COMPLETE_FILE = ".synthetic.complete"  # written last: the corpus is finished
_ESC10 = {"dog", "rain", "clock_tick"}  # categories of ours that ESC-10 also has
DISTRACTOR_P = 0.3  # share of clips that also hold a quieter sound of another class

Rng = np.random.Generator


# --- building blocks: (rng, n samples, sample rate) -> float64 (n,) --------------------------


def _shaped_noise(rng: Rng, n: int, sr: int, exponent: float = 0.0, lo: float = 0.0,
                  hi: float | None = None) -> np.ndarray:
    """Unit-RMS noise with power ~ 1/f**exponent, band-limited to [lo, hi] Hz with soft edges."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    gain = np.maximum(f, 10.0) ** (-exponent / 2)
    gain /= 1.0 + (lo / np.maximum(f, 1e-3)) ** 4  # 4th-order-like high-pass
    if hi is not None:
        gain /= 1.0 + (f / hi) ** 4
    x = np.fft.irfft(spec * gain, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _sweep(freq: np.ndarray, sr: int) -> np.ndarray:
    """Sine whose instantaneous frequency (Hz, per sample) is ``freq``."""
    return np.sin(2 * np.pi * np.cumsum(freq) / sr)


def _decay(n: int, sr: int, tau: float, attack: float = 0.002) -> np.ndarray:
    """Envelope (n,): linear attack of ``attack`` s, then exp(-t/tau)."""
    t = np.arange(n) / sr
    return np.minimum(t / attack, 1.0) * np.exp(-np.maximum(t - attack, 0) / tau)


def _add(out: np.ndarray, start: int, burst: np.ndarray) -> None:
    """Add ``burst`` into ``out`` at sample ``start``, cut at the clip's end."""
    end = min(len(out), start + len(burst))
    if 0 <= start < end:
        out[start:end] += burst[: end - start]


def _onsets(rng: Rng, n: int, sr: int, count: int, min_gap: float) -> np.ndarray:
    """``count`` sorted random onsets (samples) at least ``min_gap`` s apart within the clip."""
    gap = int(min_gap * sr)
    free = max(n - count * gap, 1)
    return np.sort(rng.integers(0, free, count)) + np.arange(count) * gap


# --- the classes ----------------------------------------------------------------------------


def _siren(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Wail (slow) or yelp (fast) sinusoidal frequency sweep with two harmonics."""
    t = np.arange(n) / sr
    rate = rng.uniform(0.2, 0.6) if rng.random() < 0.5 else rng.uniform(2.5, 7.0)
    lo = rng.uniform(450, 1000)
    hi = lo * rng.uniform(1.3, 2.2)
    freq = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * rate * t + rng.uniform(0, 6.3)))
    return _sweep(freq, sr) + 0.4 * _sweep(2 * freq, sr) + 0.15 * _sweep(3 * freq, sr)


def _engine(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Low harmonic drone (f0 30-140 Hz, slow drift) with amplitude modulation and rumble."""
    t = np.arange(n) / sr
    f0 = rng.uniform(30, 140) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t))
    tilt = rng.uniform(0.6, 1.5)
    drone = sum(_sweep(k * f0, sr) / k**tilt for k in range(1, 13))
    am = 1 + rng.uniform(0.2, 0.7) * np.sin(2 * np.pi * rng.uniform(3, 18) * t)
    return drone * am + rng.uniform(0.5, 2.0) * _shaped_noise(rng, n, sr, 2.0, 20, 600)


def _rain(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Broadband hiss plus random drops (short bright clicks at 10-80 per second)."""
    hiss = _shaped_noise(rng, n, sr, rng.uniform(0, 1), rng.uniform(300, 1500))
    drops = np.zeros(n)
    count = int(rng.uniform(10, 80) * n / sr)
    where = rng.integers(0, n, count)
    np.add.at(drops, where, rng.uniform(-1, 1, count) * rng.exponential(1.0, count))
    kernel = _decay(int(0.006 * sr), sr, 0.0015, attack=1 / sr) * _shaped_noise(
        rng, int(0.006 * sr), sr, 0, 1500)
    drops = np.convolve(drops, kernel)[:n]
    drops /= np.sqrt(np.mean(drops**2)) + 1e-12
    return hiss * rng.uniform(0.3, 1.0) + drops


def _clock_tick(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Periodic ticks (period 0.4-1.1 s, tick-tock pitch alternation) of band-passed clicks."""
    period = rng.uniform(0.4, 1.1) * sr
    centre = rng.uniform(800, 5000)
    out = np.zeros(n)
    for i, start in enumerate(np.arange(rng.uniform(0, period), n, period).astype(int)):
        m = int(rng.uniform(0.008, 0.025) * sr)
        f = centre * (1.0 if i % 2 == 0 else rng.uniform(0.75, 0.95))
        click = _sweep(np.full(m, f), sr) + 0.5 * rng.standard_normal(m)
        _add(out, start + int(rng.normal(0, 0.004 * sr)), click * _decay(m, sr, 0.003))
    return out


def _chirping_birds(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Phrases of short fast-FM chirps (1.5-6 kHz), random counts and directions."""
    out = np.zeros(n)
    for start in _onsets(rng, n, sr, int(rng.integers(2, 9)), 0.3):
        base = rng.uniform(1500, 6000)
        for _ in range(int(rng.integers(1, 6))):
            m = int(rng.uniform(0.03, 0.15) * sr)
            k = np.linspace(0, 1, m)
            freq = base * (1 + rng.uniform(-0.5, 0.5) * k) + rng.uniform(100, 800) * np.sin(
                2 * np.pi * rng.uniform(20, 60) * k * m / sr)
            _add(out, start, _sweep(freq, sr) * np.hanning(m))
            start += m + int(rng.uniform(0.01, 0.08) * sr)
    return out


def _door_wood_knock(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Groups of 2-5 decaying low thumps (80-350 Hz) with a click on the attack."""
    out = np.zeros(n)
    for start in _onsets(rng, n, sr, int(rng.integers(1, 4)), 1.0):
        f = rng.uniform(80, 350)
        for _ in range(int(rng.integers(2, 6))):
            m = int(0.15 * sr)
            thump = _sweep(np.full(m, f * rng.uniform(0.95, 1.05)), sr)
            thump += 0.3 * _shaped_noise(rng, m, sr, 0, 800) * _decay(m, sr, 0.004)
            _add(out, start, thump * _decay(m, sr, rng.uniform(0.015, 0.05)))
            start += int(rng.uniform(0.12, 0.3) * sr)
    return out


def _phone_ring(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Dual tone (two partials 350-1100 Hz) with 15-25 Hz warble and an on/off cadence."""
    t = np.arange(n) / sr
    f1 = rng.uniform(350, 900)
    f2 = f1 * rng.uniform(1.1, 1.4)
    tone = np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t)
    tone *= 1 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(15, 25) * t))
    on, off = rng.uniform(0.3, 2.0), rng.uniform(0.2, 3.0)
    phase = (t + rng.uniform(0, on + off)) % (on + off)
    gate = (phase < on).astype(float)
    ramp = int(0.01 * sr)
    return tone * np.convolve(gate, np.ones(ramp) / ramp, mode="same")


def _wind(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Low-passed brown-ish noise with slow gusts (0.05-0.5 Hz) and a wandering whistle band."""
    t = np.arange(n) / sr
    gust = 1 + rng.uniform(0.4, 0.9) * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t
                                               + rng.uniform(0, 6.3))
    body = _shaped_noise(rng, n, sr, rng.uniform(1.0, 2.0), 30, rng.uniform(300, 1200))
    whistle = _shaped_noise(rng, n, sr, 0, 400, 900) * rng.uniform(0.0, 0.4)
    return (body + whistle) * gust**2


def _dog(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Barks: 80-250 ms harmonic bursts (f0 250-700 Hz, falling) weighted by two formants."""
    out = np.zeros(n)
    formants = (rng.uniform(500, 1000), rng.uniform(1200, 2200))
    for start in _onsets(rng, n, sr, int(rng.integers(1, 7)), 0.35):
        m = int(rng.uniform(0.08, 0.25) * sr)
        f0 = rng.uniform(250, 700) * np.linspace(1.1, rng.uniform(0.7, 0.95), m)
        bark = np.zeros(m)
        for k in range(1, 12):
            w = sum(np.exp(-0.5 * ((k * f0.mean() - fm) / 250) ** 2) for fm in formants)
            bark += (w + 0.05) * _sweep(k * f0, sr)
        bark += 0.3 * rng.standard_normal(m)
        _add(out, start, bark * _decay(m, sr, m / sr / 3, attack=0.01))
    return out


def _water_drops(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Irregular drips: 10-40 ms sinusoids sweeping upward (bubble resonance 400-3500 Hz)."""
    out = np.zeros(n)
    count = int(rng.uniform(0.8, 4.0) * n / sr)
    for start in _onsets(rng, n, sr, count, 0.1):
        m = int(rng.uniform(0.01, 0.04) * sr)
        f = rng.uniform(400, 3500) * np.linspace(1, rng.uniform(1.2, 2.5), m)
        _add(out, start, rng.uniform(0.3, 1) * _sweep(f, sr) * _decay(m, sr, m / sr / 3))
    return out


ClassFn = Callable[[Rng, int, int], np.ndarray]
CLASSES: dict[str, ClassFn] = {
    "siren": _siren,
    "engine": _engine,
    "rain": _rain,
    "clock_tick": _clock_tick,
    "chirping_birds": _chirping_birds,
    "door_wood_knock": _door_wood_knock,
    "phone_ring": _phone_ring,
    "wind": _wind,
    "dog": _dog,
    "water_drops": _water_drops,
}
CLASS_NAMES: tuple[str, ...] = tuple(CLASSES)


# --- one clip -------------------------------------------------------------------------------


def _event(rng: Rng, category: str, n: int, sr: int, min_part: float) -> np.ndarray:
    """Unit-RMS (n,) clip holding one class's sound over a random part (>= min_part) of it."""
    m = max(int(n * rng.uniform(min_part, 1.0)), 1)
    out = np.zeros(n)
    _add(out, int(rng.integers(0, n - m + 1)), CLASSES[category](rng, m, sr))
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def synth_clip(category: str, rng: Rng, sample_rate: int, duration: float) -> np.ndarray:
    """One clip (samples,) float32 in [-1, 1]: the class's sound at a random offset, gain and
    level over pink/brown background noise at a random SNR (-10 to 25 dB), sometimes with a
    quieter sound of another class mixed in."""
    n = int(round(duration * sample_rate))
    sound = _event(rng, category, n, sample_rate, 0.5)
    if rng.random() < DISTRACTOR_P:  # a quieter sound of another class, as in real recordings
        other = str(rng.choice([c for c in CLASS_NAMES if c != category]))
        sound += _event(rng, other, n, sample_rate, 0.2) * 10 ** (rng.uniform(-15, -5) / 20)
    snr_db = rng.uniform(-10, 25)
    noise = _shaped_noise(rng, n, sample_rate, rng.choice([1.0, 2.0]), 20)
    clip = sound + noise * 10 ** (-snr_db / 20)
    peak = np.max(np.abs(clip)) + 1e-12
    return (clip * 10 ** (rng.uniform(-24, -1) / 20) / peak).astype(np.float32)


# --- the corpus -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthSettings:
    """What a generated corpus depends on; stored in the folder to refuse mixing two corpora."""

    clips_per_class: int
    seed: int
    sample_rate: int
    duration: float
    classes: list[str]


def corpus_rows(settings: SynthSettings) -> list[dict[str, str]]:
    """The ``meta/esc50.csv`` rows: per class, clips dealt round-robin over 5 folds, each fold's
    clips grouped into sources of 1-3 takes (A, B, C) that share a fold, as in ESC-50."""
    rows = []
    layout = np.random.default_rng([settings.seed, 1_000_003])
    src_ids = layout.choice(np.arange(10_000, 300_000), size=settings.clips_per_class * len(
        settings.classes), replace=False)
    s = 0
    for target, name in enumerate(settings.classes):
        for fold in range(1, NUM_FOLDS + 1):
            count = len(range(fold - 1, settings.clips_per_class, NUM_FOLDS))
            while count > 0:
                takes = min(count, int(layout.choice([1, 2, 3], p=[0.7, 0.2, 0.1])))
                for take in "ABC"[:takes]:
                    rows.append({
                        "filename": f"{fold}-{src_ids[s]}-{take}-{target}.wav",
                        "fold": str(fold), "target": str(target), "category": name,
                        "esc10": str(name in _ESC10), "src_file": str(src_ids[s]), "take": take,
                    })
                s += 1
                count -= takes
    return rows


def _clip_seed(settings: SynthSettings, category: str, j: int) -> list[int]:
    """Seed of the j-th clip of a class; independent of which other classes are generated."""
    return [settings.seed, CLASS_NAMES.index(category), j]


def _write_clip(job: tuple[Path, str, list[int], int, float]) -> None:
    """Generate one clip and write it atomically as 16-bit PCM wav."""
    path, category, seed, sample_rate, duration = job
    clip = synth_clip(category, np.random.default_rng(seed), sample_rate, duration)
    with atomic_path(path) as tmp:
        sf.write(tmp, clip, sample_rate, subtype="PCM_16", format="WAV")


def _check_folder(out: Path, settings: SynthSettings) -> bool:
    """True when ``out`` already holds this finished corpus; raise if it holds anything else."""
    stored = out / SETTINGS_FILE
    if stored.exists():
        try:
            previous = json.loads(stored.read_text())
        except (OSError, ValueError) as err:
            raise AudiocsError(f"{stored}: unreadable settings of a generated corpus ({err})")
        if previous != asdict(settings):
            raise AudiocsError(
                f"{out}: holds a corpus generated with other settings ({previous}); "
                "choose another --out folder")
        return (out / COMPLETE_FILE).exists()
    if out.exists() and any(out.iterdir()):
        raise AudiocsError(f"{out}: folder is not empty and was not made by audiocs synth")
    return False


def generate_esc50_like(out_dir: str | Path, *, clips_per_class: int = 40, seed: int = 0,
                        sample_rate: int = 16000, duration: float = 5.0,
                        classes: Sequence[str] | None = None, workers: int = 1,
                        progress: bool = True) -> Path:
    """Write the generated corpus (ESC-50 layout) into ``out_dir``; resumes, returns the path."""
    names = list(CLASS_NAMES if classes is None else classes)
    unknown = [c for c in names if c not in CLASSES]
    if unknown or not names or len(set(names)) != len(names):
        raise AudiocsError(f"classes {names}: each must be one of {list(CLASS_NAMES)}, once")
    if clips_per_class < 1 or sample_rate < 1000 or duration <= 0.05:
        raise AudiocsError(f"synth settings: need clips_per_class >= 1, sample_rate >= 1000, "
                           f"duration > 0.05 s (got {clips_per_class}, {sample_rate}, {duration})")
    settings = SynthSettings(clips_per_class, seed, sample_rate, float(duration), names)
    out = Path(out_dir)
    if _check_folder(out, settings):
        return out
    audio = out / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / SETTINGS_FILE) as f:
        json.dump(asdict(settings), f)
    remove_temp_files(audio)

    rows = corpus_rows(settings)
    seen: dict[str, int] = {}
    jobs = []
    for row in rows:
        j = seen[row["category"]] = seen.get(row["category"], -1) + 1
        path = audio / row["filename"]
        if not path.exists():  # written atomically, so an existing file is complete
            jobs.append((path, row["category"], _clip_seed(settings, row["category"], j),
                         sample_rate, float(duration)))
    bar = progress_bar(total=len(rows), initial=len(rows) - len(jobs), unit="clip",
                       desc="synth", enabled=progress)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_write_clip, jobs, chunksize=8):
                bar.update()
    else:
        for job in jobs:
            _write_clip(job)
            bar.update()
    bar.close()

    with atomic_write(out / "meta" / "esc50.csv", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ESC50_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["filename"]))
    with atomic_write(out / COMPLETE_FILE) as f:
        f.write(f"{len(rows)} clips\n")
    return out
