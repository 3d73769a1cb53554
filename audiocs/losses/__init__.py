"""Classifier heads and margin losses; `create_loss` / `create_classifier` build them by name."""

from __future__ import annotations

import inspect

from torch import nn

from audiocs.losses.base import ClassificationLoss, FixedMarginError
from audiocs.losses.classifiers import CosineClassifier, LinearClassifier
from audiocs.losses.cs_softmax import CircleClassLoss, CSSoftmax, cs_softmax_terms
from audiocs.losses.margins import AAMSoftmax, AMSoftmax, ASoftmax, NormSoftmax, Softmax

LOSSES: dict[str, type[ClassificationLoss]] = {
    "softmax": Softmax,
    "norm_softmax": NormSoftmax,
    "am_softmax": AMSoftmax,
    "aam_softmax": AAMSoftmax,
    "a_softmax": ASoftmax,
    "circle": CircleClassLoss,
    "cs_softmax": CSSoftmax,
}


def _loss_class(name: str) -> type[ClassificationLoss]:
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]


def loss_parameters(name: str) -> dict[str, object]:
    """The keyword parameters of loss `name` and their defaults."""
    sig = inspect.signature(_loss_class(name).__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.name != "self"}


def create_loss(name: str, **params: float) -> ClassificationLoss:
    """Build loss `name` (KeyError lists valid names; ValueError names a bad parameter)."""
    cls = _loss_class(name)
    valid = loss_parameters(name)
    for key in params:
        if key not in valid:
            raise ValueError(f"loss {name!r} has no parameter {key!r}; valid: {', '.join(valid) or 'none'}")
    return cls(**params)


def create_classifier(loss_name: str, embed_dim: int, num_classes: int) -> nn.Module:
    """The head that loss `loss_name` expects: linear for 'softmax', cosine for the rest."""
    cls = LinearClassifier if _loss_class(loss_name) is Softmax else CosineClassifier
    return cls(embed_dim, num_classes)


__all__ = [
    "AAMSoftmax",
    "AMSoftmax",
    "ASoftmax",
    "CSSoftmax",
    "CircleClassLoss",
    "ClassificationLoss",
    "CosineClassifier",
    "FixedMarginError",
    "LOSSES",
    "LinearClassifier",
    "NormSoftmax",
    "Softmax",
    "create_classifier",
    "create_loss",
    "cs_softmax_terms",
    "loss_parameters",
]
