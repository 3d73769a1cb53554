"""Backbones: ``create_model(name, n_features=..., **kw)`` returns a model with
``forward_features(x (B, T, F), lengths=None) -> (B, embed_dim)``, ``.embed_dim`` and
``.min_frames`` (shorter input is a ValueError); the classifier comes from ``audiocs.losses``.
With ``lengths`` (B,) of a zero-padded batch, each embedding equals that of the clip alone.

Registered families: VGG-style CNNs (``vgg_small``, ``vgg_large``; ``width``, ``dropout``),
thin ResNets with statistics pooling (``resnet18_thin``, ``resnet34_thin``; ``width``) and
ECAPA-TDNN (``ecapa_tdnn``, ``ecapa_tdnn_small``; ``channels``, ``scale``, ``se_channels``,
``attention_channels``).
"""

from audiocs.models import ecapa, resnet, vgg  # noqa: F401  (registers the variants)
from audiocs.models.base import EmbeddingModel
from audiocs.models.ecapa import ECAPATDNN
from audiocs.models.registry import create_model, list_models, register_model
from audiocs.models.resnet import ThinResNet
from audiocs.models.vgg import VGGNet

__all__ = ["ECAPATDNN", "EmbeddingModel", "ThinResNet", "VGGNet", "create_model", "list_models",
           "register_model"]
