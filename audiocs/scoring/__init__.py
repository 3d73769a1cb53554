"""Embeddings and cosine scoring: trials, scores, score normalization, verification/retrieval metrics."""

from audiocs.scoring.cosine import cosine_scores, subtract_mean
from audiocs.scoring.fewshot import FewShotResult, few_shot_accuracy
from audiocs.scoring.io import EmbeddingSet, fuse_embeddings, read_embeddings, write_embeddings
from audiocs.scoring.metrics import equal_error_rate, min_dcf, min_dcf_point, retrieval_metrics
from audiocs.scoring.norm import cohort_stats, snorm_scores
from audiocs.scoring.trials import Trials, generate_trials, read_trials, write_trials

__all__ = [
    "EmbeddingSet", "FewShotResult", "Trials", "cohort_stats", "cosine_scores", "equal_error_rate",
    "few_shot_accuracy", "fuse_embeddings", "generate_trials", "min_dcf", "min_dcf_point",
    "read_embeddings", "read_trials",
    "retrieval_metrics", "snorm_scores", "subtract_mean", "write_embeddings", "write_trials",
]
