"""The `audiocs score` and `audiocs trials` jobs: files in, scores / metrics / plots out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.scoring.cosine import cosine_scores, subtract_mean
from audiocs.scoring.fewshot import few_shot_accuracy
from audiocs.scoring.io import EmbeddingSet, read_embeddings
from audiocs.scoring.metrics import retrieval_metrics, verification_metrics
from audiocs.scoring.norm import class_means, snorm_scores
from audiocs.scoring.trials import Trials, generate_trials, read_key_values, read_trials, resolve_trials, write_trials
from audiocs.scoring.wccn import Wccn, fit_wccn

NORMS = ("none", "snorm", "asnorm")


@dataclass(frozen=True)
class ScoredTrials:
    """Scores (K,) of the kept trials, their positions in the trial list (K,), and how many were skipped."""

    trials: Trials
    kept: np.ndarray
    scores: np.ndarray
    skipped: int

    @property
    def labels(self) -> np.ndarray:
        """Labels (K,) of the kept trials (1, 0 or -1 unknown)."""
        return self.trials.labels[self.kept]


def score_trials(es: EmbeddingSet, trials: Trials, *, cohort: EmbeddingSet | None = None, norm: str = "none",
                 top_k: int = 300, mean: np.ndarray | None = None, wccn: Wccn | None = None,
                 cohort_by: str | None = None, skip_missing: bool = False) -> ScoredTrials:
    """Cosine-score `trials` over `es`; optional mean subtraction (mean (D,)) or WCCN (`wccn`, applied
    to `es` and the cohort alike), then S-norm / AS-norm against `cohort`: its embeddings, or with
    `cohort_by` ('speaker' or 'label') the mean embedding of each of its classes."""
    if norm not in NORMS:
        raise AudiocsError(f"unknown score normalization {norm!r}: expected one of {', '.join(NORMS)}")
    if norm != "none" and cohort is None:
        raise AudiocsError(f"--norm {norm} needs a cohort (--cohort DIR)")
    if norm == "asnorm" and top_k < 1:
        raise AudiocsError(f"--top-k must be >= 1, got {top_k}")
    dim = es.vectors.shape[1]
    if cohort is not None and cohort.vectors.shape[1] != dim:
        raise AudiocsError(f"{cohort.source}: dimension {cohort.vectors.shape[1]} differs from {es.source} ({dim})")
    if mean is not None and np.shape(mean) != (dim,):
        raise AudiocsError(f"the mean to subtract has shape {np.shape(mean)}, the embeddings of {es.source} "
                           f"have dimension {dim}")
    if mean is not None and wccn is not None:
        raise AudiocsError("a mean to subtract and WCCN were both given: WCCN centres on its own mean")

    def prepare(vectors: np.ndarray) -> np.ndarray:
        if wccn is not None:
            return wccn.apply(vectors)
        return vectors if mean is None else subtract_mean(vectors, mean)

    e, t, kept = resolve_trials(trials, es.row_of(), skip_missing=skip_missing, where=es.source)
    x = prepare(es.vectors)
    scores = cosine_scores(x, e, t)
    if norm != "none":
        c = prepare(cohort.vectors)
        c = class_means(c, cohort.keys(cohort_by)) if cohort_by is not None else c
        scores = snorm_scores(scores, x, e, t, c, top_k if norm == "asnorm" else None)
    return ScoredTrials(trials, kept, scores.astype(np.float32), len(trials) - len(kept))


def write_scores(scored: ScoredTrials, path: str | Path) -> Path:
    """Write 'enroll test score [target|nontarget]' lines atomically."""
    tr = scored.trials
    words = np.array(["nontarget", "target", ""], dtype=object)[scored.labels]  # -1 -> ""
    with atomic_write(path, encoding="utf-8") as f:
        for k, s, w in zip(scored.kept.tolist(), scored.scores.tolist(), words.tolist()):
            f.write(f"{tr.enroll[k]} {tr.test[k]} {s:.6f} {w}".rstrip() + "\n")
    return Path(path)


def run_score(embeddings: str | Path, trials_path: str | Path, out_dir: str | Path, *,
              cohort: str | Path | None = None, norm: str = "none", top_k: int = 300,
              mean_from: str | Path | None = None, wccn_from: str | Path | None = None,
              wccn_by: str = "speaker", wccn_shrink: float | None = None,
              cohort_by: str | None = None, skip_missing: bool = False,
              by: str | None = None, few_shot: int | None = None, episodes: int = 10, seed: int = 0,
              plots: bool = True) -> dict:
    """Score a trial list and write scores.txt, metrics.json, det.png and score_hist.png to `out_dir`.

    `wccn_from`: an embeddings folder whose classes (`wccn_by`) fit WCCN with `wccn_shrink` (None: the default);
    `cohort_by`: the cohort's members are its classes' mean embeddings. With
    `by` ('speaker' or 'label'), also retrieval metrics, and few-shot accuracy when `few_shot` = k.
    """
    es = read_embeddings(embeddings)
    trials = read_trials(trials_path)
    co = read_embeddings(cohort) if cohort is not None else None
    mean = read_embeddings(mean_from).vectors.mean(axis=0) if mean_from is not None else None
    wccn = None
    if wccn_from is not None:
        fit = read_embeddings(wccn_from)
        wccn = fit_wccn(fit.vectors, fit.keys(wccn_by), shrink=wccn_shrink, where=fit.source)
    scored = score_trials(es, trials, cohort=co, norm=norm, top_k=top_k, mean=mean, wccn=wccn,
                          cohort_by=cohort_by, skip_missing=skip_missing)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_scores(scored, out / "scores.txt")
    metrics: dict = {"embeddings": str(embeddings), "trials_file": str(trials_path), "norm": norm,
                     "top_k": top_k if norm == "asnorm" else None,
                     "cohort_by": cohort_by if norm != "none" else None,
                     "wccn": None if wccn is None else {"from": str(wccn_from), "by": wccn_by, "shrink": wccn.shrink},
                     "skipped_missing": scored.skipped,
                     "scored": int(len(scored.scores))}
    labels = scored.labels
    if (labels >= 0).all():
        metrics.update(verification_metrics(scored.scores, labels))
        if plots:
            from audiocs.scoring.plots import plot_det, plot_score_histograms

            plot_det(scored.scores, labels, out / "det.png")
            plot_score_histograms(scored.scores, labels, out / "score_hist.png", metrics["eer_threshold"])
    if by is not None:
        _, groups = np.unique(np.asarray(es.keys(by), dtype=object), return_inverse=True)
        metrics["retrieval"] = {"by": by, **retrieval_metrics(es.vectors, groups)}
        if few_shot is not None:
            result = few_shot_accuracy(es.vectors, groups, shots=few_shot, episodes=episodes, seed=seed)
            metrics["few_shot"] = {"by": by, **result.to_dict()}
    with atomic_write(out / "metrics.json", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def run_trials(embeddings: str | Path, out_path: str | Path, *, by: str = "speaker", num_trials: int | None = None,
               seed: int = 0, include: list[str] | None = None, exclude_from: str | Path | None = None) -> Trials:
    """Generate a trial list from an embeddings folder (only keys in `include`, none seen in `exclude_from`)."""
    es = read_embeddings(embeddings)
    exclude = read_key_values(exclude_from, by) if exclude_from is not None else None
    trials = generate_trials(es, by=by, num_trials=num_trials, seed=seed, include=include, exclude=exclude)
    write_trials(trials, out_path)
    return trials
