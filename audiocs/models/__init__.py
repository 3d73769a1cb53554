"""Backbones: ``create_model(name, n_features=..., **kw)`` returns a model with
``forward_features(x (B, T, F)) -> (B, embed_dim)``; the classifier comes from ``audiocs.losses``.

Registered families: VGG-style CNNs (``vgg_small``, ``vgg_large``) and thin ResNets with
statistics pooling (``resnet18_thin``, ``resnet34_thin``).
"""

from audiocs.models import resnet, vgg  # noqa: F401  (registers the variants)
from audiocs.models.base import EmbeddingModel
from audiocs.models.registry import create_model, list_models, register_model
from audiocs.models.resnet import ThinResNet
from audiocs.models.vgg import VGGNet

__all__ = ["EmbeddingModel", "ThinResNet", "VGGNet", "create_model", "list_models",
           "register_model"]
