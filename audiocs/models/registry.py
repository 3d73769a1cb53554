"""Model registry: variants are factories registered by name (``@register_model``)."""

from __future__ import annotations

from typing import Callable, TypeVar

from torch import nn

_Factory = TypeVar("_Factory", bound=Callable[..., nn.Module])

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}


def register_model(factory: _Factory) -> _Factory:
    """Register ``factory`` under its function name; a second factory with that name is an error."""
    name = factory.__name__
    if name in _FACTORIES:
        raise ValueError(f"model {name!r} is registered twice")
    _FACTORIES[name] = factory
    return factory


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_FACTORIES)


def create_model(name: str, *, n_features: int, **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` for inputs (B, T, n_features); KeyError lists valid names."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(list_models())}") from None
    return factory(n_features=n_features, **kwargs)
