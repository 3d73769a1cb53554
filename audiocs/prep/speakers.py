"""Speaker corpora: ``root/<speaker>/**/*.wav|flac`` (VoxCeleb) or LibriSpeech file names.

``layout="librispeech"`` takes the speaker from ``{speaker}-{chapter}-{utt}.flac`` wherever the
file lies; ``layout="folders"`` from the first folder under the root; ``"auto"`` picks
librispeech when every file is named that way. Label = speaker index in natural order.

Optional chopping (``segment`` seconds): each utterance longer than one segment is cut into
segments of ``segment`` s every ``hop`` s (default: no overlap), written as audio files under
``out_dir/segments/`` so that the feature cache holds the features of segments; a final piece
shorter than ``min_segment`` (default half a segment) is dropped, and an utterance shorter than
one segment is kept whole. Segment rows carry ``source``, ``start`` and ``end`` (seconds).

Optional speed perturbation (``speed`` factors, e.g. 0.9 and 1.1, for the speakers of
``perturb_folds``; see :func:`audiocs.prep.common.perturb_speed`): each copy is a new speaker
``sp<factor>-<speaker>`` with a label after the original ones, cut like any utterance.

Optional extra training speakers (``extra_speakers``: another corpus, any layout above or a
Speech Commands corpus, ``<word>/<speaker>_nohash_<n>.wav``): speakers ``extra-<speaker>``
with labels after the corpus's own, in fold 0, which is no fold: every fold trains on them and
none validates or tests on them. They are cut and speed-perturbed like the training speakers.

Optional noise (``noise``, an SNR range in dB): one noisy copy of each segment (each utterance
when not chopped) of the speakers of ``perturb_folds``, not of their speed-perturbed copies, with
the same speaker (:func:`audiocs.prep.common.add_noise`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_path
from audiocs.manifest import ManifestRow
from audiocs.prep.common import (
    add_noise, fresh_dir, group_folds, index_labels, perturb_speed, prepare_once, report_names,
    with_durations,
)
from audiocs.prep.speech_commands import FILE_NAME as COMMANDS_FILE, parse_speech_commands
from audiocs.progress import progress_bar

AUDIO_SUFFIXES = (".wav", ".flac")
LAYOUTS = ("auto", "folders", "librispeech")
_LIBRI = re.compile(r"^(\d+)-(\d+)-(\d+)$")
EXTRA = "extra"


def _find_audio(root: Path) -> list[Path]:
    """The audio files under `root`, through linked folders too (each real folder once), in
    path order."""
    found, seen = [], set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or a second link to one folder
            subfolders.clear()
            continue
        seen.add(real)
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in AUDIO_SUFFIXES]
    return sorted((p for p in found if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def parse_speakers(
    corpus_dir: Path, *, layout: str = "auto", n_folds: int = 0
) -> tuple[list[ManifestRow], list[str]]:
    """Whole-utterance clips (label = speaker index) and the files whose speaker is unknown.

    ``n_folds > 0`` puts whole speakers into folds 1..n_folds (speaker-disjoint); 0 = no fold.
    """
    if layout not in LAYOUTS:
        raise AudiocsError(f"unknown layout {layout!r} (choose from {', '.join(LAYOUTS)})")
    root = Path(corpus_dir).resolve()
    if not root.is_dir():
        raise AudiocsError(f"{root}: corpus folder not found")
    files = _find_audio(root)
    if layout == "auto":
        libri = files and all(_LIBRI.match(p.stem) for p in files)
        layout = "librispeech" if libri else "folders"
    found, unknown = [], []
    for p in files:
        rel = p.relative_to(root)
        if layout == "librispeech":
            m = _LIBRI.match(p.stem)
            speaker, uid = (m[1], p.stem) if m else ("", "")
        else:
            speaker = rel.parts[0] if len(rel.parts) > 1 else ""
            uid = rel.with_suffix("").as_posix()
        if speaker:
            found.append((p, speaker, uid))
        else:
            unknown.append(rel.as_posix())
    labels = index_labels(s for _, s, _ in found)
    folds = group_folds(labels, n_folds) if n_folds > 0 else {}
    clips = [
        ManifestRow(id=uid, path=str(p), label=labels[s], label_name=s, fold=folds.get(s, 0),
                    speaker=s)
        for p, s, uid in found
    ]
    return with_durations(clips), unknown


def parse_extra_speakers(corpus_dir: Path, first_label: int) -> list[ManifestRow]:
    """The speakers of another corpus as fold-0 training rows: speaker and label name
    ``extra-<speaker>``, labels from `first_label` on, ids ``extra/<id>``.

    A corpus whose audio files are all ``<word>/<hash>_nohash_<n>.wav`` is read as Speech
    Commands (the speaker is the hash), any other with :func:`parse_speakers`; files whose
    speaker is unknown are left out. Raises when the corpus has no speaker.
    """
    root = Path(corpus_dir).resolve()
    files = _find_audio(root) if root.is_dir() else []
    if files and all(COMMANDS_FILE.match(p.name) and p.parent.parent == root for p in files):
        clips, _ = parse_speech_commands(root, task="speakers")
    else:
        clips, _ = parse_speakers(root)
    if not clips:
        raise AudiocsError(f"{root}: no speaker's audio found for --extra-speakers (expected "
                           "speaker folders, LibriSpeech names or a Speech Commands corpus)")
    return [dataclasses.replace(c, id=f"{EXTRA}/{c.id}", label=first_label + c.label,
                                label_name=f"{EXTRA}-{c.label_name}", fold=0,
                                speaker=f"{EXTRA}-{c.speaker}")
            for c in clips]


def segment_bounds(
    frames: int, rate: int, segment: float, hop: float, min_segment: float
) -> list[tuple[int, int]]:
    """Sample ranges [start, end) of the segments of an utterance of `frames` samples."""
    seg, step, least = round(segment * rate), max(1, round(hop * rate)), round(min_segment * rate)
    if frames <= seg:
        return [(0, frames)]
    bounds = []
    for start in range(0, frames, step):
        end = min(start + seg, frames)
        if end - start >= least and (not bounds or end > bounds[-1][1]):
            bounds.append((start, end))
        if end == frames:
            break
    return bounds


def chop(
    clips: list[ManifestRow], out_dir: Path, segment: float, hop: float, min_segment: float
) -> list[ManifestRow]:
    """Cut each clip into segment files under ``out_dir/segments``; an unreadable one stays whole.

    Segments keep the source's rate, channels, sample format and container (FLAC or WAV), so
    their samples equal the source's. Files already written by an interrupted run with the same
    segment settings are kept (each is written atomically); other settings start afresh.
    """
    fresh_dir(out_dir / "segments", {"segment": segment, "hop": hop, "min_segment": min_segment})
    out = []
    for c in progress_bar(clips, desc="cutting segments", unit="utt"):
        try:
            segments = _cut(c, out_dir, segment, hop, min_segment)
        except Exception:  # noqa: BLE001 - undecodable: the cache names the reason when it rejects it
            segments = [c]
        out.extend(segments)
    return out


def _cut(c: ManifestRow, out_dir: Path, segment: float, hop: float,
         min_segment: float) -> list[ManifestRow]:
    source = out_dir / c.path  # a speed-perturbed copy lies under out_dir
    info = sf.info(source)
    fmt = info.format if sf.check_format(info.format, info.subtype) else "WAV"
    subtype = info.subtype if sf.check_format(fmt, info.subtype) else "FLOAT"
    dtype = "float64" if info.subtype in ("PCM_32", "DOUBLE") else "float32"
    rate, data, rows = info.samplerate, None, []
    for k, (a, b) in enumerate(segment_bounds(info.frames, rate, segment, hop, min_segment)):
        rel = Path("segments") / f"{c.id}-seg{k:04d}{'.flac' if fmt == 'FLAC' else '.wav'}"
        if not (out_dir / rel).is_file():
            if data is None:
                data, _ = sf.read(source, dtype=dtype, always_2d=True)
            with atomic_path(out_dir / rel) as tmp:
                sf.write(tmp, data[a:b], rate, subtype=subtype, format=fmt)
        rows.append(ManifestRow(
            id=f"{c.id}-seg{k:04d}", path=rel.as_posix(), label=c.label, label_name=c.label_name,
            fold=c.fold, speaker=c.speaker, duration=(b - a) / rate,
            extra={**c.extra, "source": str(source), "start": f"{a / rate:.6f}", "end": f"{b / rate:.6f}"},
        ))
    return rows


def prepare_speakers(
    corpus_dir: Path, out_dir: Path, *, layout: str = "auto", n_folds: int = 0,
    segment: float | None = None, hop: float | None = None, min_segment: float | None = None,
    speed: list[float] | None = None, perturb_folds: list[int] | None = None,
    extra_speakers: Path | None = None, noise: Sequence[float] | None = None,
    strict: bool = False, force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for a speaker corpus, with speed-perturbed copies of the
    speakers of `perturb_folds` (None: all) when `speed` is given, chopped when `segment` is,
    a noisy copy of each of their segments when `noise` is, and the speakers of
    `extra_speakers` as fold-0 training speakers (perturbed with them)."""
    corpus_dir, out_dir = Path(corpus_dir).resolve(), Path(out_dir)
    if segment is not None and segment <= 0:
        raise AudiocsError(f"segment length must be > 0 seconds, got {segment}")
    hop = hop if hop is not None else segment
    min_segment = min_segment if min_segment is not None else (segment or 0) / 2
    options = {"corpus": str(corpus_dir), "name": "speakers", "layout": layout,
               "n_folds": n_folds, "segment": segment, "hop": hop, "min_segment": min_segment}
    speed = sorted(set(speed or []))
    if speed or noise:
        options.update(speed=speed, perturb_folds=perturb_folds)
    if noise:
        options["noise"] = [float(x) for x in noise]
    clips, unknown = parse_speakers(corpus_dir, layout=layout, n_folds=n_folds)
    report_names(corpus_dir, unknown, "files outside a speaker folder", strict=strict)
    if extra_speakers is not None:
        options["extra_speakers"] = str(Path(extra_speakers).resolve())
        clips = clips + parse_extra_speakers(extra_speakers, 1 + max((c.label for c in clips),
                                                                     default=-1))
        if perturb_folds is not None:
            perturb_folds = sorted(set(perturb_folds) | {0})

    def finish(rows: list[ManifestRow]) -> list[ManifestRow]:
        rows = perturb_speed(rows, out_dir, speed, perturb_folds, new_speakers=True) if speed \
            else rows
        rows = chop(rows, out_dir, segment, hop, min_segment) if segment else rows
        if not noise:
            return rows
        originals = [r for r in rows if not r.extra.get("speed")]
        return rows + add_noise(originals, out_dir, noise, perturb_folds)[len(originals):]

    return prepare_once(out_dir, options, clips, force=force, finish=finish)
