"""Pieces shared by the training benchmarks: one training step, and a generated cache."""

from __future__ import annotations

from pathlib import Path

import torch

from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.features import FeatureSettings
from audiocs.losses import create_classifier, create_loss
from audiocs.models import create_model
from audiocs.prep.esc50 import prepare_esc50
from audiocs.runner import autocast
from audiocs.synthetic import generate_esc50_like

CPU = torch.device("cpu")


class TrainStep:
    """One SGD step of the model ``name`` + a CS-Softmax head on a batch, on the CPU;
    ``channels_last`` and ``amp`` as `train.channels_last` and `train.amp`."""

    def __init__(self, n_features: int, num_classes: int, *, name: str = "vgg_small",
                 seed: int = 0, channels_last: bool = True, amp: str = "none") -> None:
        torch.manual_seed(seed)
        self.model = create_model(name, n_features=n_features).train()
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.classifier = create_classifier("cs_softmax", self.model.embed_dim, num_classes)
        self.loss = create_loss("cs_softmax")
        params = list(self.model.parameters()) + list(self.classifier.parameters())
        self.optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        self.amp = amp

    def __call__(self, features: torch.Tensor, labels: torch.Tensor) -> int:
        """Train on a batch (B, T, F) with labels (B,); returns B."""
        with autocast(CPU, self.amp):
            scores = self.classifier(self.model(features))
        loss = self.loss(scores, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return len(labels)


def synthetic_cache(work: Path, clips_per_class: int, sample_rate: int = 44100,
                    train_folds: list[int] | None = None) -> FeatureCache:
    """The generated ESC-50-like corpus (10 classes of 5 s clips), its manifest and its
    default log-mel cache, under ``work`` (each step resumes or is skipped when done)."""
    corpus = generate_esc50_like(work / "corpus", clips_per_class=clips_per_class,
                                 sample_rate=sample_rate, workers=2, progress=False)
    manifest = prepare_esc50(corpus, work / "prepared")
    return build_cache(manifest, work / "cache", FeatureSettings(), workers=2,
                       train_folds=train_folds, progress=False)
