"""audiocs: audio classification and embedding learning with cosine-similarity margin losses."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the import of audiocs itself stays light: torch loads on the first `load`
    from pathlib import Path

    from audiocs.inference import Model

try:  # written once, in pyproject.toml
    __version__ = version("audiocs")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"


def load(exp_dir: str | Path, *, checkpoint: str = "best.pt", device: str = "cpu") -> Model:
    """The trained model (`audiocs.inference.Model`) of an experiment folder or a .pt file."""
    from audiocs.inference import load as _load

    return _load(exp_dir, checkpoint=checkpoint, device=device)
