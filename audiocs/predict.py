"""`audiocs predict`: top-k classes of audio files with a trained model, printed and written as CSV.

Folders are searched recursively for .wav/.flac files. A file that cannot be used is reported
with its reason and skipped; the others are still scored. Files longer than one window get a
row per sliding window and a whole-file row (the mean of the window scores).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.inference import Model, Prediction, load
from audiocs.progress import progress_bar

AUDIO_SUFFIXES = (".wav", ".flac")
CSV_COLUMNS = ("file", "segment", "start", "end", "rank", "class", "score", "score_kind")
MAX_PRINTED_WINDOWS = 10  # per file on the terminal; the CSV has every window


def find_audio(inputs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to score (folders expanded, sorted), and (input, message) for folders without audio."""
    files, failed = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not found:
                failed.append((str(item), f"{item}: folder holds no {'/'.join(AUDIO_SUFFIXES)} files"))
            files.extend(found)
        else:
            files.append(item)  # a missing or bad file is reported when it is decoded
    return files, failed


@dataclass
class PredictRun:
    """Predictions of the files that could be scored, and (file, message naming it and the reason) of the rest."""

    predictions: list[Prediction] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def predict_files(model: Model, inputs: Sequence[str | Path], *, top_k: int = 5,
                  window_seconds: float | None = None, hop_seconds: float | None = None,
                  progress: bool = True) -> PredictRun:
    """Score every file of `inputs` (files or folders); failures are collected, not raised."""
    files, failed = find_audio(inputs)
    run = PredictRun(failed=failed)
    for path in progress_bar(files, desc="predict", unit="file",
                             enabled=progress and len(files) > 1):
        try:
            clip = model.features(path)
        except AudiocsError as err:
            run.failed.append((str(path), str(err)))
            continue
        run.predictions.append(model.predict_features(clip, str(path), top_k, window_seconds=window_seconds,
                                                      hop_seconds=hop_seconds))
    return run


def csv_rows(pred: Prediction, score_kind: str) -> list[list[str]]:
    """CSV rows of one prediction: the whole file ('file'), then each window ('window'), rank 1..k."""
    segments = [("file", 0.0, pred.duration, pred.top)] + [("window", w.start, w.end, w.top) for w in pred.windows]
    return [[pred.source, kind, f"{start:.3f}", f"{end:.3f}", str(rank), name, f"{score:.6f}", score_kind]
            for kind, start, end, top in segments for rank, (name, score) in enumerate(top, 1)]


def write_predictions_csv(path: str | Path, predictions: Sequence[Prediction], score_kind: str) -> None:
    """All rows of `predictions` to `path` (atomic), columns :data:`CSV_COLUMNS`."""
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for pred in predictions:
            writer.writerows(csv_rows(pred, score_kind))


def _format_top(top: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {score:.4f}" for name, score in top)


def predict_command(exp_dir: str, inputs: Sequence[str], *, top_k: int = 5, out: str | None = None,
                    window_seconds: float | None = None, hop_seconds: float | None = None,
                    checkpoint: str = "best.pt", device: str = "cpu") -> int:
    """`audiocs predict`: print (and with `out` write) the predictions; 1 when any input failed.

    ``window_seconds`` None: the model's training crop length; 0: whole files only.
    """
    if top_k < 1:
        raise AudiocsError(f"--top-k {top_k}: must be at least 1")
    model = load(exp_dir, checkpoint=checkpoint, device=device)
    if window_seconds is None:
        window_seconds = model.train_window_seconds
    run = predict_files(model, inputs, top_k=top_k, window_seconds=window_seconds or None, hop_seconds=hop_seconds)
    kind = "cosine similarity" if model.score_kind == "cosine" else "logits (softmax baseline)"
    print(f"scores: {kind}; model {model.bundle.checkpoint}")
    for pred in run.predictions:
        print(f"{pred.source} ({pred.duration:.2f} s): {_format_top(pred.top)}")
        for w in pred.windows[:MAX_PRINTED_WINDOWS]:
            print(f"  {w.start:7.2f}-{w.end:7.2f} s: {_format_top(w.top)}")
        if len(pred.windows) > MAX_PRINTED_WINDOWS:
            more = len(pred.windows) - MAX_PRINTED_WINDOWS
            print(f"  ... {more} more windows" + (f" (all in {out})" if out else " (--out FILE writes all)"))
    if out is not None:
        write_predictions_csv(out, run.predictions, model.score_kind)
        print(f"{len(run.predictions)} file(s) written to {out}")
    for _, reason in run.failed:
        print(f"audiocs predict: skipped {reason}", file=sys.stderr)
    if run.failed:
        print(f"audiocs predict: {len(run.failed)} input(s) failed, {len(run.predictions)} scored", file=sys.stderr)
    return 1 if run.failed else 0
